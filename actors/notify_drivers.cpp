#include "actors/notify_drivers.hpp"

#include "domain/base64url.hpp"
#include "domain/clock.hpp"
#include "telemetry/http_client.hpp"
#include "telemetry/log.hpp"

#include <curl/curl.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <unistd.h>
#include <fstream>

namespace gh {
namespace {

// Prints the link in the log, its token redacted unless notify.log_secrets:
// development only (start-up warns).
class LogDriver : public Driver {
 public:
  explicit LogDriver(bool secrets) : secrets_(secrets) {}
  bool deliver(const domain::Notification& n, std::string&) override {
    telemetry::log_info("notification (log driver)",
                        {{"kind", n.kind}, {"to", n.to}, {"link", secrets_ ? n.link : domain::redact_link(n.link)},
                         {"request_id", n.request_id}});
    return true;
  }

 private:
  bool secrets_;
};

// Base of the drivers that send whole emails.
class MailDriver : public Driver {
 public:
  MailDriver(domain::Templates t, std::string from) : templates_(std::move(t)), from_(std::move(from)) {}

 protected:
  std::string message(const domain::Notification& n) const {
    auto now = now_s();
    auto domain = from_.substr(from_.find('@') + 1);
    if (auto gt = domain.find('>'); gt != std::string::npos) domain.erase(gt);
    return domain::rfc5322(from_, n, templates_.render(n, now), now, domain::random_id() + "@" + domain);
  }
  // The bare address inside "Name <addr>".
  std::string from_address() const {
    auto lt = from_.find('<'), gt = from_.find('>');
    return lt != std::string::npos && gt > lt ? from_.substr(lt + 1, gt - lt - 1) : from_;
  }

  domain::Templates templates_;
  std::string from_;
};

// An outbox folder: each message is written to a temporary file, synced and
// renamed, so a reader never sees half a message.
class FileDriver : public MailDriver {
 public:
  FileDriver(domain::Templates t, std::string from, std::string dir)
      : MailDriver(std::move(t), std::move(from)), dir_(std::move(dir)) {}

  bool deliver(const domain::Notification& n, std::string& error) override {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    auto name = std::to_string(now_s()) + "-" + domain::random_id() + ".eml";
    auto tmp = dir_ + "/." + name + ".tmp";
    auto body = message(n);
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) {
      error = "cannot write " + tmp + ": " + std::strerror(errno);
      return false;
    }
    bool ok = std::fwrite(body.data(), 1, body.size(), f) == body.size() && std::fflush(f) == 0 &&
              ::fsync(fileno(f)) == 0;
    ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), (dir_ + "/" + name).c_str()) != 0) {
      error = "cannot write outbox message: " + std::string(std::strerror(errno));
      std::remove(tmp.c_str());
      return false;
    }
    return true;
  }

 private:
  std::string dir_;
};

struct Upload {
  const std::string* data;
  std::size_t pos = 0;
};

std::size_t read_upload(char* buf, std::size_t size, std::size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  std::size_t len = std::min(size * n, u->data->size() - u->pos);
  std::memcpy(buf, u->data->data() + u->pos, len);
  u->pos += len;
  return len;
}


class SmtpDriver : public MailDriver {
 public:
  SmtpDriver(domain::Templates t, std::string from, std::string url, bool starttls)
      : MailDriver(std::move(t), std::move(from)), url_(std::move(url)), starttls_(starttls) {}

  bool deliver(const domain::Notification& n, std::string& error) override {
    CURL* curl = curl_easy_init();
    if (!curl) return (error = "curl init failed", false);
    auto body = message(n);
    Upload up{&body};
    auto from = "<" + from_address() + ">";
    curl_slist* rcpt = curl_slist_append(nullptr, ("<" + n.to + ">").c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_upload);
    curl_easy_setopt(curl, CURLOPT_READDATA, &up);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (starttls_) curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    const char* user = std::getenv("GATEHOUSE_NOTIFY_SMTP_USER");
    const char* pass = std::getenv("GATEHOUSE_NOTIFY_SMTP_PASSWORD");
    if (user && pass) {
      curl_easy_setopt(curl, CURLOPT_USERNAME, user);
      curl_easy_setopt(curl, CURLOPT_PASSWORD, pass);
    }
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) error = std::string("smtp: ") + curl_easy_strerror(rc);
    return rc == CURLE_OK;
  }

 private:
  std::string url_;
  bool starttls_;
};

class WebhookDriver : public Driver {
 public:
  WebhookDriver(std::string url, std::string secret) : url_(std::move(url)), secret_(std::move(secret)) {}

  bool deliver(const domain::Notification& n, std::string& error) override {
    auto body = nlohmann::json{{"kind", n.kind}, {"to", n.to}, {"link", n.link},
                               {"expires_at", n.expires_at}, {"request_id", n.request_id}}
                    .dump();
    return post_signed_json(url_, secret_, body, error);
  }

 private:
  std::string url_, secret_;
};

}  // namespace

std::string webhook_signature(const std::string& secret, const std::string& body) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return domain::hex(std::string_view(reinterpret_cast<char*>(mac), sizeof mac));
}

bool post_signed_json(const std::string& url, const std::string& secret, const std::string& body,
                      std::string& error) {
  auto r = telemetry::post_json(url, body, {"X-Gatehouse-Signature: sha256=" + webhook_signature(secret, body)});
  if (!r.ok) error = "webhook: " + r.error;
  return r.ok;
}

std::unique_ptr<Driver> make_driver(const config::Config& cfg, std::string& why) {
  const auto& n = cfg.notify;
  if (n.driver == "log") return std::make_unique<LogDriver>(n.log_secrets);
  if (n.driver == "webhook") return std::make_unique<WebhookDriver>(n.webhook_url, n.webhook_secret);
  domain::Templates t;
  if (!t.load(cfg.resolve(n.templates), why)) return nullptr;
  if (n.driver == "file") return std::make_unique<FileDriver>(std::move(t), n.from, n.file_dir);
  return std::make_unique<SmtpDriver>(std::move(t), n.from, n.smtp_url, n.smtp_starttls);
}

}  // namespace gh
