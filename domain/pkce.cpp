#include "domain/pkce.hpp"

#include "domain/base64url.hpp"

#include <sodium.h>

namespace gh::domain {

bool pkce_challenge_valid(std::string_view challenge) {
  if (challenge.size() != 43) return false;
  auto raw = b64url_decode(challenge);
  return raw && raw->size() == crypto_hash_sha256_BYTES;
}

bool pkce_verifier_valid(std::string_view verifier) {
  if (verifier.size() < 43 || verifier.size() > 128) return false;
  for (unsigned char c : verifier) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (!unreserved) return false;
  }
  return true;
}

std::string pkce_s256(std::string_view verifier) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size());
  return b64url_encode(std::string_view(reinterpret_cast<const char*>(h), sizeof h));
}

bool pkce_matches(std::string_view verifier, std::string_view challenge) {
  if (!pkce_verifier_valid(verifier) || !pkce_challenge_valid(challenge)) return false;
  auto computed = pkce_s256(verifier);  // 43 characters, like the challenge
  return sodium_memcmp(computed.data(), challenge.data(), computed.size()) == 0;
}

}  // namespace gh::domain
