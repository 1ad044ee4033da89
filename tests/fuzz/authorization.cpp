// Fuzzes the Authorization header as AuthCheck::check reads it, short of the
// store lookups: bearer_token() takes the token out of the header, then
// verify_signature() checks it against fuzz_ring() and check_claims() its
// claims.
//
// Properties: the token lies inside the header with no spaces at its ends,
// and "Bearer <token>" gives back the same token.
#include "fuzz_check.hpp"
#include "fuzz_ring.hpp"
#include "http/auth_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto header = as_text(data, size);
  std::string why;
  auto token = gh::http::bearer_token(header, why);
  if (!token) {
    FUZZ_CHECK(!why.empty());
    return 0;
  }
  FUZZ_CHECK(token->size() + 7 <= header.size());
  FUZZ_CHECK(token->empty() || (token->front() != ' ' && token->back() != ' '));
  std::string rebuilt = "Bearer " + std::string(*token);
  auto again = gh::http::bearer_token(rebuilt, why);
  FUZZ_CHECK(again && *again == *token);

  gh::domain::AccessClaims claims;
  if (gh::domain::verify_signature(*token, fuzz_ring(), claims) == gh::domain::JwtError::ok)
    gh::domain::check_claims(claims, kFuzzVerify, kFuzzNow);
  return 0;
}
