// A bounded cache of access tokens whose signature already verified, keyed by
// a hash of the token, so a token checked again skips Ed25519 (46 µs).
//
// Only the signature result is cached: expiry, issuer and audience are still
// checked on every use, and so is the session (revocation is immediate).
// Threading and memory: those of ShardedCache (at most `capacity` entries).
#pragma once

#include "domain/jwt.hpp"
#include "domain/sharded_cache.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace gh::domain {

class TokenCache {
 public:
  explicit TokenCache(std::size_t capacity) : map_(capacity) {}

  std::optional<AccessClaims> find(std::string_view token) const { return map_.find(key_of(token)); }
  void insert(std::string_view token, const AccessClaims& claims) { map_.insert(key_of(token), claims); }
  std::size_t size() const { return map_.size(); }

 private:
  static std::string key_of(std::string_view token);

  ShardedCache<AccessClaims> map_;
};

}  // namespace gh::domain
