// Refresh-token rotation rules (RFC 9700 §4.14), as pure functions.
//
// Every refresh token is 256 bits, stored only as its BLAKE2b-256 hash. The
// first token of a family is random; each rotation derives the next one as
// HMAC-SHA256(rotation_secret, presented token). The derivation is what makes
// the grace window safe: a tab that presents the immediately previous token
// within the window gets the *same* live token again (recomputed, never
// stored), so two racing tabs end with one live token, not two, and the
// family is not revoked. Any older token is reuse: the family is revoked.
#pragma once

#include "domain/entities.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace gh::domain {

enum class RefreshDecision {
  rotate,        ///< the live token: issue its successor
  grace_replay,  ///< the previous token within the grace window: answer with the live one
  reuse,         ///< a rotated-away token: revoke the whole family
  invalid,       ///< unknown token, or a revoked or expired family
};

/// `ref`/`session` are what the store holds for the presented token's hash
/// (null when absent).
RefreshDecision decide_refresh(const domain::RefreshRef* ref, const domain::Session* session,
                               std::int64_t now, std::int64_t grace_s);

/// A new random refresh token (base64url, 43 chars).
std::string new_refresh_token();
/// The successor of `token` under `secret` (32 bytes).
std::string next_refresh_token(std::string_view secret, std::string_view token);

}  // namespace gh::domain
