#include "domain/rate_limit.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

namespace gh::domain {

bool TokenBucket::take(const BucketSpec& spec, double now, double& retry_after) {
  double rate = spec.per_minute / 60.0;
  if (tokens < 0) tokens = spec.burst;
  else tokens = std::min(spec.burst, tokens + std::max(0.0, now - updated) * rate);
  updated = now;
  if (tokens >= 1) {
    tokens -= 1;
    retry_after = 0;
    return true;
  }
  retry_after = rate > 0 ? (1 - tokens) / rate : 3600;
  return false;
}

double TokenBucket::seconds_to_full(const BucketSpec& spec, double now) const {
  if (tokens < 0) return 0;
  double rate = spec.per_minute / 60.0;
  double have = std::min(spec.burst, tokens + std::max(0.0, now - updated) * rate);
  return rate > 0 ? (spec.burst - have) / rate : 0;
}

RateLimiter::RateLimiter(std::size_t max_keys) : per_shard_(std::max<std::size_t>(1, max_keys / 64)) {}

void RateLimiter::make_room(Shard& s, double now) {
  for (auto it = s.buckets.begin(); it != s.buckets.end();)
    it = it->second.first.seconds_to_full(it->second.second, now) <= 0 ? s.buckets.erase(it) : std::next(it);
  if (s.buckets.size() < per_shard_) return;
  std::vector<double> times;
  times.reserve(s.buckets.size());
  for (auto& [k, v] : s.buckets) times.push_back(v.first.updated);
  auto mid = times.begin() + times.size() / 2;
  std::nth_element(times.begin(), mid, times.end());
  double cutoff = *mid;
  for (auto it = s.buckets.begin(); it != s.buckets.end();)
    it = it->second.first.updated <= cutoff ? s.buckets.erase(it) : std::next(it);
}

RateDecision RateLimiter::take(const std::string& key, const BucketSpec& spec, double now) {
  auto& s = shards_[std::hash<std::string>{}(key) % shards_.size()];
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.buckets.find(key);
  if (it == s.buckets.end()) {
    if (s.buckets.size() >= per_shard_) make_room(s, now);
    it = s.buckets.emplace(key, std::make_pair(TokenBucket{}, spec)).first;
  }
  it->second.second = spec;
  double retry = 0;
  RateDecision d;
  auto& bucket = it->second.first;
  d.allowed = bucket.take(spec, now, retry);
  d.first_refusal = !d.allowed && !bucket.refusing;
  bucket.refusing = !d.allowed;
  d.limit = static_cast<int>(spec.burst);
  d.remaining = static_cast<int>(std::floor(std::max(0.0, it->second.first.tokens)));
  d.reset_s = static_cast<int>(std::ceil(it->second.first.seconds_to_full(spec, now)));
  d.retry_after_s = static_cast<int>(std::ceil(retry));
  return d;
}

std::size_t RateLimiter::size() const {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace gh::domain
