// Failed password attempts per client key, in memory, bounded: the login
// back-off of one device (domain/device.hpp) and of one session on
// /auth/password/change. Each key backs off alone by the same arithmetic
// as the account (domain/backoff.hpp), so failures under other keys (other
// clients, anyone guessing the account) never hold it back. A restart
// forgets everything.
//
// At most `max_keys` keys are kept. A failure under a new key when full
// first drops the keys whose failures are past the back-off window, then,
// if none was, the key that failed longest ago: it restarts at zero, the
// cheapest loss (its back-off is the one most nearly over).
#pragma once

#include "domain/backoff.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace gh::domain {

class DeviceFailures {
 public:
  explicit DeviceFailures(Backoff backoff = {}, std::size_t max_keys = 100'000);

  /// Must `key` wait at `now` before its next password is checked?
  bool throttled(const std::string& key, std::int64_t now) const;
  /// Counts a failure of `key` at `now` (the caller skips those made while
  /// throttled, as for the account, so waiting cannot be extended).
  void failed(const std::string& key, std::int64_t now);
  /// A success: forgets `key`'s failures.
  void succeeded(const std::string& key);
  /// The failures of `key` that still count at `now`.
  int count(const std::string& key, std::int64_t now) const;
  std::size_t size() const { return keys_.size(); }

 private:
  struct Failures {
    int count = 0;
    std::int64_t last_failed = 0;
  };
  void make_room(std::int64_t now);

  Backoff backoff_;
  std::size_t max_keys_;
  std::unordered_map<std::string, Failures> keys_;
};

}  // namespace gh::domain
