#include "domain/rotation.hpp"

#include "domain/base64url.hpp"

#include <sodium.h>

namespace gh::domain {

RefreshDecision decide_refresh(const domain::RefreshRef* ref, const domain::Session* s,
                               std::int64_t now, std::int64_t grace_s) {
  if (!ref || !s || s->id != ref->session_id) return RefreshDecision::invalid;
  if (s->revoked || now >= s->expires_at) return RefreshDecision::invalid;
  if (ref->generation == s->generation) return RefreshDecision::rotate;
  if (grace_s > 0 && ref->generation + 1 == s->generation && now - s->rotated_at <= grace_s)
    return RefreshDecision::grace_replay;
  if (ref->generation > s->generation) return RefreshDecision::invalid;  // cannot happen
  return RefreshDecision::reuse;
}

std::string new_refresh_token() { return b64url_encode(random_bytes(32)); }

std::string next_refresh_token(std::string_view secret, std::string_view token) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(token.data()),
                                token.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return b64url_encode(std::string_view(reinterpret_cast<char*>(mac), sizeof mac));
}

}  // namespace gh::domain
