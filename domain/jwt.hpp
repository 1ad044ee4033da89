// JWT access tokens (RFC 9068 profile, RFC 8725 practices), EdDSA/Ed25519.
//
// Verification pins everything it can: alg must be exactly "EdDSA", typ must
// be "at+jwt", the kid must be one of ours (compared, never used as a path or
// URL), and any jku/x5u/jwk/x5c/crit header is refused. Claims are trusted
// only after the signature verifies.
#pragma once

#include "domain/keyring.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace gh::domain {

struct AccessClaims {
  std::string iss, sub, aud, client_id, role, sid, jti;
  std::int64_t iat = 0, nbf = 0, exp = 0;
};

/// Every reason a token is refused. All map to 401 invalid_token.
enum class JwtError {
  ok = 0,
  malformed,      ///< not three base64url parts of JSON objects, or too long
  bad_header,     ///< alg is not EdDSA, typ is not at+jwt, or a forbidden header
  unknown_key,    ///< kid missing or not one of ours
  bad_signature,  ///< Ed25519 verification failed
  expired,        ///< exp (plus leeway) has passed
  not_yet_valid,  ///< nbf or iat (minus leeway) is in the future
  wrong_issuer,
  wrong_audience,
  missing_claim,  ///< exp, iat, sub, sid or jti absent or of the wrong type
};

const char* describe(JwtError e);

struct VerifyOptions {
  std::string issuer;
  std::string audience;
  std::int64_t leeway_s = 30;
};

/// Longest token accepted before any parsing.
constexpr std::size_t kMaxJwtBytes = 4096;

/// Signs the claims with the ring's current key.
std::string sign_access_token(const AccessClaims& c, const KeyRing& ring);

/// Checks structure, header and signature; fills `out` from the payload.
/// Does NOT check time, issuer or audience: see check_claims().
JwtError verify_signature(std::string_view token, const KeyRing& ring, AccessClaims& out);

/// Checks iss, aud, exp, nbf/iat against `now` (unix seconds).
JwtError check_claims(const AccessClaims& c, const VerifyOptions& o, std::int64_t now);

}  // namespace gh::domain
