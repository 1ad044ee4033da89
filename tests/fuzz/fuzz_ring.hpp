// The fixed signing key, issuer, audience and clock the JWT targets verify
// against. Seed tokens in corpus/jwt and corpus/authorization are signed with
// this key (kid "fuzz-key", seed 32 bytes of 0x01).
#pragma once

#include "domain/jwt.hpp"

#include <sodium.h>

#include <cstdlib>
#include <string>

inline const gh::domain::KeyRing& fuzz_ring() {
  static const gh::domain::KeyRing ring = [] {
    if (sodium_init() < 0) std::abort();
    gh::domain::SigningKey key{"fuzz-key", std::string(32, '\x01'), 0};
    return gh::domain::KeyRing(key, nullptr);
  }();
  return ring;
}

inline const gh::domain::VerifyOptions kFuzzVerify{"http://127.0.0.1:8000", "gatehouse", 30};
constexpr std::int64_t kFuzzNow = 1'700'000'000;  // 2023-11-14, inside the seed tokens' lifetime
