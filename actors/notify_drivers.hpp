// Notification drivers: how a rendered message leaves the server. Each
// deliver() blocks (disk, network) and is called only from the notifier
// actor's own thread. A driver never throws; it returns false with a reason.
#pragma once

#include "domain/mail.hpp"
#include "config/config.hpp"

#include <memory>
#include <string>

namespace gh {

class Driver {
 public:
  virtual ~Driver() = default;
  virtual bool deliver(const domain::Notification& n, std::string& error) = 0;
};

/// The driver config.notify.driver names, or null with `why`.
std::unique_ptr<Driver> make_driver(const config::Config& cfg, std::string& why);

/// HMAC-SHA256 of `body` under `secret`, lowercase hex: the webhook signature.
std::string webhook_signature(const std::string& secret, const std::string& body);

/// POSTs `body` (JSON) with X-Gatehouse-Signature: sha256=<webhook_signature>.
/// True on a 2xx answer; otherwise false with `error`. Blocks (10 s at most).
bool post_signed_json(const std::string& url, const std::string& secret, const std::string& body,
                      std::string& error);

}  // namespace gh
