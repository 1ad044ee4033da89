// Live audit records for subscribers (the Server-Sent Events answers): the
// audit actor pushes each committed batch here, and an empty batch every
// second as a heartbeat; subscribers are callbacks that return false once
// they are done, and are then dropped.
// Threading: safe from any thread; callbacks run on the audit actor's thread
// and must not block.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace gh {

class AuditFeed {
 public:
  /// Each line is one record as JSON ({seq, hash, type, …}); empty: a heartbeat.
  using Subscriber = std::function<bool(const std::vector<std::string>& lines)>;

  /// Adds `s`; `catch_up` runs first under the same lock, so no batch is
  /// published between the two (a record may still arrive twice: once from
  /// the catch-up and once live; subscribers skip sequence numbers seen).
  void subscribe(Subscriber s, const std::function<void()>& catch_up = {}) {
    std::lock_guard<std::mutex> lock(mu_);
    if (catch_up) catch_up();
    subs_.push_back(std::move(s));
  }

  void publish(const std::vector<std::string>& lines) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = subs_.begin(); it != subs_.end();) it = (*it)(lines) ? std::next(it) : subs_.erase(it);
  }

  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return subs_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<Subscriber> subs_;
};

}  // namespace gh
