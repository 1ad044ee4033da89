#include "domain/token_cache.hpp"

#include <sodium.h>

namespace gh::domain {

TokenCache::TokenCache(std::size_t capacity) : per_shard_(capacity / 16 / 2) {}

std::string TokenCache::key_of(std::string_view token) {
  std::string out(16, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr, 0);
  return out;
}

TokenCache::Shard& TokenCache::shard_of(const std::string& key) {
  return shards_[static_cast<unsigned char>(key[0]) % shards_.size()];
}

std::optional<AccessClaims> TokenCache::find(std::string_view token) {
  if (per_shard_ == 0) return std::nullopt;
  auto key = key_of(token);
  auto& s = shard_of(key);
  std::lock_guard<std::mutex> lock(s.mu);
  if (auto it = s.young.find(key); it != s.young.end()) return it->second;
  if (auto it = s.old.find(key); it != s.old.end()) return it->second;
  return std::nullopt;
}

void TokenCache::insert(std::string_view token, const AccessClaims& claims) {
  if (per_shard_ == 0) return;
  auto key = key_of(token);
  auto& s = shard_of(key);
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.young.size() >= per_shard_) {
    s.old = std::move(s.young);
    s.young.clear();
  }
  s.young.emplace(std::move(key), claims);
}

std::size_t TokenCache::size() const {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.young.size() + s.old.size();
  }
  return n;
}

}  // namespace gh::domain
