// The per-account login back-off, as pure arithmetic on a user's failure
// counter. After `after` consecutive failures, the account must wait
// 2^(n - after) seconds (capped) after its last failure before a password is
// checked again. Failures older than `window` are forgotten. Attempts made
// while waiting are not counted, so an attacker cannot extend the wait: the
// owner can always log in once it has passed.
#pragma once

#include <algorithm>
#include <cstdint>

namespace gh::domain {

struct Backoff {
  int after = 5;
  int max_s = 900;
  int window_s = 3600;

  /// The failure count that still applies at `now`.
  int live_count(int count, std::int64_t last_failed, std::int64_t now) const {
    return now - last_failed > window_s ? 0 : count;
  }
  /// Seconds to wait after the last failure (0: none).
  std::int64_t delay_s(int count) const {
    if (count < after) return 0;
    int exp = std::min(count - after, 30);
    return std::min<std::int64_t>(std::int64_t{1} << exp, max_s);
  }
  bool throttled(int count, std::int64_t last_failed, std::int64_t now) const {
    int n = live_count(count, last_failed, now);
    return n >= after && now < last_failed + delay_s(n);
  }
};

}  // namespace gh::domain
