// Ed25519 signing keys: the current key signs; the current key and every
// retired key that may still have signed a live token verify and are
// published in the JWKS (RFC 8037 OKP keys).
//
// A KeyRing is immutable once built; the token actor publishes a new one
// through KeyRingHolder on rotation, readers take a shared_ptr snapshot.
#pragma once

#include "domain/entities.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gh::domain {

struct PublicKey {
  std::string kid;
  std::string pk;  ///< 32 bytes
};

/// A key that no longer signs. `retired_at` is when the last server that
/// signed with it stopped: the first start after the rotation stamps it
/// (0 until then, while a running server may still sign with it).
struct RetiredKey {
  std::string kid;
  std::int64_t retired_at = 0;
};

/// True when every token `k` signed has expired: `keep_s` (the access-token
/// lifetime plus the leeway) after its retirement.
inline bool retired_key_expired(const RetiredKey& k, std::int64_t now, std::int64_t keep_s) {
  return k.retired_at != 0 && now > k.retired_at + keep_s;
}

class KeyRing {
 public:
  /// `current` signs; `previous` (optional, kid empty if none) only verifies.
  KeyRing(const domain::SigningKey& current, const domain::SigningKey* previous);
  /// `current` signs; every key in `retired` (newest first) only verifies.
  KeyRing(const domain::SigningKey& current, const std::vector<domain::SigningKey>& retired);

  const std::string& kid() const { return kid_; }
  /// Ed25519 signature (64 bytes) of `msg` with the current key.
  std::string sign(std::string_view msg) const;
  /// The verification key for `kid`, or null. Compares the kid as an opaque
  /// string against the (few) known kids: nothing else is looked up.
  const PublicKey* find(std::string_view kid) const;
  /// {"keys":[{kty:"OKP",crv:"Ed25519",x,kid,use:"sig",alg:"EdDSA"},…]}
  nlohmann::json jwks() const;

  /// A fresh key with a random kid (for first start and rotation).
  static domain::SigningKey generate(std::int64_t now);

 private:
  std::string kid_;
  std::string sk_;  ///< 64-byte libsodium secret key
  std::vector<PublicKey> verify_;
};

/// Thread-safe holder of the current KeyRing snapshot.
class KeyRingHolder {
 public:
  std::shared_ptr<const KeyRing> get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ring_;
  }
  void set(std::shared_ptr<const KeyRing> r) {
    std::lock_guard<std::mutex> lock(mu_);
    ring_ = std::move(r);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const KeyRing> ring_;
};

}  // namespace gh::domain
