// A bounded cache of access tokens whose signature already verified, keyed by
// a hash of the token, so a token checked again skips Ed25519 (46 µs).
//
// Only the signature result is cached: expiry, issuer and audience are still
// checked on every use, and so is the session (revocation is immediate).
// Threading: safe from any thread; 16 shards, each behind its own mutex.
// Memory: at most `capacity` entries; each shard keeps two generations and
// drops the older one when the newer fills (an approximate LRU).
#pragma once

#include "domain/jwt.hpp"

#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace gh::domain {

class TokenCache {
 public:
  explicit TokenCache(std::size_t capacity);

  std::optional<AccessClaims> find(std::string_view token);
  void insert(std::string_view token, const AccessClaims& claims);
  std::size_t size() const;

 private:
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, AccessClaims> young, old;
  };
  static std::string key_of(std::string_view token);
  Shard& shard_of(const std::string& key);

  std::size_t per_shard_;
  std::array<Shard, 16> shards_;
};

}  // namespace gh::domain
