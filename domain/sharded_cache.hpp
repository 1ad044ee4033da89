// A bounded map shared by threads: 16 shards, each behind its own mutex,
// each keeping two generations and dropping the older one when the newer
// fills (an approximate LRU). At most `capacity` entries in all; 0 keeps
// nothing. Used for the verified-token cache and the principal cache.
#pragma once

#include <array>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace gh::domain {

template <class V>
class ShardedCache {
 public:
  explicit ShardedCache(std::size_t capacity) : per_shard_(capacity / kShards / 2) {}

  std::optional<V> find(const std::string& key) const {
    if (per_shard_ == 0) return std::nullopt;
    auto& s = shard_of(key);
    std::lock_guard<std::mutex> lock(s.mu);
    if (auto it = s.young.find(key); it != s.young.end()) return it->second;
    if (auto it = s.old.find(key); it != s.old.end()) return it->second;
    return std::nullopt;
  }

  /// Adds or replaces the entry of `key`.
  void insert(const std::string& key, V value) {
    if (per_shard_ == 0) return;
    auto& s = shard_of(key);
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.young.size() >= per_shard_) {
      s.old = std::move(s.young);
      s.young.clear();
    }
    s.young.insert_or_assign(key, std::move(value));
  }

  std::size_t size() const {
    std::size_t n = 0;
    for (auto& s : shards_) {
      std::lock_guard<std::mutex> lock(s.mu);
      n += s.young.size() + s.old.size();
    }
    return n;
  }

 private:
  static constexpr std::size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, V> young, old;
  };
  Shard& shard_of(const std::string& key) const { return shards_[std::hash<std::string>{}(key) % kShards]; }

  std::size_t per_shard_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace gh::domain
