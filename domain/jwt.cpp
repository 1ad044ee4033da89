#include "domain/jwt.hpp"

#include "domain/base64url.hpp"

#include <nlohmann/json.hpp>
#include <sodium.h>

namespace gh::domain {
namespace {

using nlohmann::json;

json parse_object(std::string_view b64) {
  auto raw = b64url_decode(b64);
  if (!raw) return json();
  json j = json::parse(*raw, nullptr, false);
  return j.is_object() ? j : json();
}

bool get_str(const json& j, const char* k, std::string& out) {
  auto it = j.find(k);
  if (it == j.end() || !it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bool get_int(const json& j, const char* k, std::int64_t& out) {
  auto it = j.find(k);
  if (it == j.end() || !it->is_number_integer()) return false;
  out = it->get<std::int64_t>();
  return true;
}

}  // namespace

const char* describe(JwtError e) {
  switch (e) {
    case JwtError::ok: return "ok";
    case JwtError::malformed: return "the access token is malformed";
    case JwtError::bad_header: return "the access token header is not accepted";
    case JwtError::unknown_key: return "the access token was not signed by a known key";
    case JwtError::bad_signature: return "the access token signature is invalid";
    case JwtError::expired: return "the access token has expired";
    case JwtError::not_yet_valid: return "the access token is not valid yet";
    case JwtError::wrong_issuer: return "the access token has the wrong issuer";
    case JwtError::wrong_audience: return "the access token has the wrong audience";
    case JwtError::missing_claim: return "the access token lacks a required claim";
  }
  return "invalid access token";
}

std::string sign_access_token(const AccessClaims& c, const KeyRing& ring) {
  json header = {{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", ring.kid()}};
  json payload = {{"iss", c.iss}, {"sub", c.sub},         {"aud", c.aud},   {"exp", c.exp},
                  {"iat", c.iat}, {"nbf", c.nbf},         {"jti", c.jti},   {"sid", c.sid},
                  {"role", c.role}, {"client_id", c.client_id}};
  std::string signing_input = b64url_encode(header.dump()) + "." + b64url_encode(payload.dump());
  return signing_input + "." + b64url_encode(ring.sign(signing_input));
}

JwtError verify_signature(std::string_view token, const KeyRing& ring, AccessClaims& out) {
  if (token.size() > kMaxJwtBytes) return JwtError::malformed;
  auto d1 = token.find('.');
  if (d1 == std::string_view::npos) return JwtError::malformed;
  auto d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return JwtError::malformed;

  json header = parse_object(token.substr(0, d1));
  if (header.is_null()) return JwtError::malformed;
  std::string alg, typ, kid;
  if (!get_str(header, "alg", alg) || alg != "EdDSA") return JwtError::bad_header;
  if (!get_str(header, "typ", typ) || (typ != "at+jwt" && typ != "application/at+jwt"))
    return JwtError::bad_header;
  for (const char* forbidden : {"jku", "x5u", "jwk", "x5c", "crit"})
    if (header.contains(forbidden)) return JwtError::bad_header;
  if (!get_str(header, "kid", kid)) return JwtError::unknown_key;
  const PublicKey* key = ring.find(kid);
  if (!key) return JwtError::unknown_key;

  auto sig = b64url_decode(token.substr(d2 + 1));
  if (!sig || sig->size() != crypto_sign_BYTES) return JwtError::bad_signature;
  auto signing_input = token.substr(0, d2);
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig->data()),
                                  reinterpret_cast<const unsigned char*>(signing_input.data()),
                                  signing_input.size(),
                                  reinterpret_cast<const unsigned char*>(key->pk.data())) != 0)
    return JwtError::bad_signature;

  json p = parse_object(token.substr(d1 + 1, d2 - d1 - 1));
  if (p.is_null()) return JwtError::malformed;
  if (!get_int(p, "exp", out.exp) || !get_int(p, "iat", out.iat) || !get_str(p, "sub", out.sub) ||
      !get_str(p, "sid", out.sid) || !get_str(p, "jti", out.jti) || !get_str(p, "iss", out.iss))
    return JwtError::missing_claim;
  if (!get_int(p, "nbf", out.nbf)) out.nbf = 0;
  get_str(p, "role", out.role);
  get_str(p, "client_id", out.client_id);
  // Gatehouse issues `aud` as one string; a verifier of its own tokens
  // needs nothing else, so anything other than a string fails the audience check.
  if (!get_str(p, "aud", out.aud)) out.aud.clear();
  return JwtError::ok;
}

JwtError check_claims(const AccessClaims& c, const VerifyOptions& o, std::int64_t now) {
  if (c.iss != o.issuer) return JwtError::wrong_issuer;
  if (c.aud != o.audience) return JwtError::wrong_audience;
  if (c.exp < now - o.leeway_s) return JwtError::expired;  // not exp + leeway: exp may be INT64_MAX
  if (c.nbf > now + o.leeway_s || c.iat > now + o.leeway_s) return JwtError::not_yet_valid;
  return JwtError::ok;
}

}  // namespace gh::domain
