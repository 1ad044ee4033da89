// Fuzzes gh::domain::normalize_password and PasswordPolicy::check (not the
// Argon2id hash itself: too slow to fuzz), run on every password received.
// Policy: at least 8 characters, at most 64 bytes, blocklist
// {password, letmein}.
//
// Properties: the normal form is the NFKC form of valid UTF-8 and the bytes
// unchanged otherwise (embedded NULs kept), and a fixed point; a password
// and its NFD form (canonically equivalent) normalise alike and get the
// same policy verdict when both are within the byte cap; over the cap is
// always refused; a normal form that is a blocklisted word in any ASCII
// case is refused.
#include "domain/ascii.hpp"
#include "domain/password.hpp"
#include "domain/unicode.hpp"
#include "fuzz_check.hpp"
#include "unicode_nfd.hpp"

#include <algorithm>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gh::domain;
  static const PasswordPolicy policy(8, 64, {"password", "letmein"});
  auto raw = as_text(data, size);
  auto pw = normalize_password(raw);
  if (valid_utf8(raw)) FUZZ_CHECK(nfkc(raw) == std::optional<std::string>(pw));
  else FUZZ_CHECK(pw == raw);
  FUZZ_CHECK(normalize_password(pw) == pw);

  auto verdict = policy.check(raw);
  if (raw.size() > 64) FUZZ_CHECK(verdict);
  auto lower = gh::domain::ascii_lower(pw);
  if (lower == "password" || lower == "letmein") FUZZ_CHECK(verdict);

  if (valid_utf8(raw)) {
    auto d = fuzz_nfd(raw);
    FUZZ_CHECK(d);
    FUZZ_CHECK(normalize_password(*d) == pw);
    if (raw.size() <= 64 && d->size() <= 64) FUZZ_CHECK(policy.check(*d) == verdict);
  }
  return 0;
}
