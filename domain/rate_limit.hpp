// Token-bucket rate limiting (pure arithmetic, injected time) and a sharded,
// bounded table of buckets.
//
// A bucket holds up to `burst` tokens and refills at `per_minute / 60` tokens
// a second; each request takes one. The table is split into 64 shards, each
// behind its own mutex, so one hot key never serialises the others. Memory is
// bounded: a shard that reaches its share of `max_keys` first drops buckets
// idle long enough to be full again (they carry no state), then, if still
// full, its oldest half — a dropped bucket restarts full, which errs toward
// letting a request through, never toward blocking one wrongly.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace gh::domain {

struct BucketSpec {
  double per_minute = 60;  ///< sustained rate
  double burst = 60;       ///< capacity
};

struct TokenBucket {
  double tokens = -1;  ///< < 0: new (full)
  double updated = 0;  ///< seconds
  bool refusing = false;  ///< the last take() was refused

  /// Refills to `now`, then takes one token if there is one. `retry_after`
  /// gets the seconds until the next token when refused.
  bool take(const BucketSpec& spec, double now, double& retry_after);
  /// Seconds until the bucket is full again (then it carries no state).
  double seconds_to_full(const BucketSpec& spec, double now) const;
};

struct RateDecision {
  bool allowed = true;
  int limit = 0;        ///< RateLimit-Limit: the burst
  int remaining = 0;    ///< RateLimit-Remaining
  int reset_s = 0;      ///< RateLimit-Reset: seconds until full
  int retry_after_s = 0;
  bool first_refusal = false;  ///< refused, and the previous request was not: worth an audit record
};

class RateLimiter {
 public:
  explicit RateLimiter(std::size_t max_keys);

  RateDecision take(const std::string& key, const BucketSpec& spec, double now);
  std::size_t size() const;

 private:
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::pair<TokenBucket, BucketSpec>> buckets;
  };
  void make_room(Shard& s, double now);

  std::size_t per_shard_;
  std::array<Shard, 64> shards_;
};

}  // namespace gh::domain
