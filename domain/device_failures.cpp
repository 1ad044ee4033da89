#include "domain/device_failures.hpp"

#include <algorithm>

namespace gh::domain {

DeviceFailures::DeviceFailures(Backoff backoff, std::size_t max_keys)
    : backoff_(backoff), max_keys_(std::max<std::size_t>(max_keys, 1)) {}

bool DeviceFailures::throttled(const std::string& key, std::int64_t now) const {
  auto it = keys_.find(key);
  return it != keys_.end() && backoff_.throttled(it->second.count, it->second.last_failed, now);
}

int DeviceFailures::count(const std::string& key, std::int64_t now) const {
  auto it = keys_.find(key);
  return it == keys_.end() ? 0 : backoff_.live_count(it->second.count, it->second.last_failed, now);
}

void DeviceFailures::failed(const std::string& key, std::int64_t now) {
  if (keys_.size() >= max_keys_ && !keys_.count(key)) make_room(now);
  auto& f = keys_[key];
  f.count = backoff_.live_count(f.count, f.last_failed, now) + 1;
  f.last_failed = now;
}

void DeviceFailures::succeeded(const std::string& key) { keys_.erase(key); }

void DeviceFailures::make_room(std::int64_t now) {
  auto oldest = keys_.end();
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (!backoff_.live_count(it->second.count, it->second.last_failed, now)) {
      it = keys_.erase(it);
      continue;
    }
    if (oldest == keys_.end() || it->second.last_failed < oldest->second.last_failed) oldest = it;
    ++it;
  }
  if (keys_.size() >= max_keys_) keys_.erase(oldest);
}

}  // namespace gh::domain
