// Fuzzes JWT verification: gh::domain::verify_signature and check_claims, which
// every access token from outside goes through. The first byte picks the mode:
//   even: the rest is a token as a client sends it, checked against fuzz_ring();
//   odd:  the rest is "<header JSON>\n<payload JSON>", which the harness signs
//         with the ring's key so the fuzzer also reaches the header and claim
//         parsing behind the signature check.
//
// Properties: a signature over other bytes never verifies; a verified token's
// claims, signed again with sign_access_token, verify to the same claims.
#include "domain/base64url.hpp"
#include "fuzz_check.hpp"
#include "fuzz_ring.hpp"

namespace {

using namespace gh::domain;

bool same(const AccessClaims& a, const AccessClaims& b) {
  return a.iss == b.iss && a.sub == b.sub && a.aud == b.aud && a.client_id == b.client_id &&
         a.role == b.role && a.sid == b.sid && a.jti == b.jti && a.iat == b.iat && a.nbf == b.nbf &&
         a.exp == b.exp;
}

void verify(std::string_view token) {
  AccessClaims claims;
  if (verify_signature(token, fuzz_ring(), claims) != JwtError::ok) return;
  check_claims(claims, kFuzzVerify, kFuzzNow);
  AccessClaims again;
  FUZZ_CHECK(verify_signature(sign_access_token(claims, fuzz_ring()), fuzz_ring(), again) == JwtError::ok);
  FUZZ_CHECK(same(claims, again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto text = as_text(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    verify(text);
    return 0;
  }
  auto nl = text.find('\n');
  if (nl == std::string_view::npos) return 0;
  std::string input = b64url_encode(text.substr(0, nl)) + "." + b64url_encode(text.substr(nl + 1));
  std::string token = input + "." + b64url_encode(fuzz_ring().sign(input));
  verify(token);
  AccessClaims ignored;
  std::string forged = input + "." + b64url_encode(fuzz_ring().sign(input + "x"));
  FUZZ_CHECK(verify_signature(forged, fuzz_ring(), ignored) != JwtError::ok);
  return 0;
}
