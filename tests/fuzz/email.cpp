// Fuzzes gh::domain::normalize_email, applied to every email that enters
// (register, login, links, admin API), including its Unicode path
// (SMTPUTF8 local parts: invalid UTF-8, invisible characters, NFC/NFKC,
// full lowercase mapping; see domain/unicode.hpp).
//
// Properties: the normal form is at most 254 octets (local part at most
// 64), has an '@', no ASCII capital and no control or space character, and
// is a fixed point (normalising it again gives it back unchanged). Beyond
// ASCII: it is valid UTF-8 without invisible code points, the domain is
// ASCII, and the local part is its own NFC, NFKC and lowercase. Equivalent
// spellings are one account: the normal form with its ASCII letters
// uppercased, and the input in NFD (when that still fits in the limits),
// normalise to the same address.
#include "domain/email.hpp"
#include "domain/unicode.hpp"
#include "fuzz_check.hpp"
#include "unicode_nfd.hpp"

#include <algorithm>

namespace {

bool ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gh::domain;
  std::string why;
  auto raw = as_text(data, size);
  auto email = normalize_email(raw, why);
  if (!email) {
    FUZZ_CHECK(!why.empty());
    return 0;
  }
  FUZZ_CHECK(!email->empty() && email->size() <= 254);
  auto at = email->rfind('@');
  FUZZ_CHECK(at != std::string::npos && at <= 64);
  for (unsigned char c : *email) FUZZ_CHECK(!(c >= 'A' && c <= 'Z') && c > 0x20 && c != 0x7f);
  auto again = normalize_email(*email, why);
  FUZZ_CHECK(again && *again == *email);

  std::string_view local = std::string_view(*email).substr(0, at);
  std::string_view domain = std::string_view(*email).substr(at + 1);
  FUZZ_CHECK(ascii(domain));
  if (!ascii(local)) {
    FUZZ_CHECK(valid_utf8(*email));
    FUZZ_CHECK(!has_invisible(*email));
    FUZZ_CHECK(nfc(local) == std::optional<std::string>(std::string(local)));
    FUZZ_CHECK(nfkc(local) == std::optional<std::string>(std::string(local)));
    FUZZ_CHECK(to_lower(local) == std::optional<std::string>(std::string(local)));
  }

  std::string upper = *email;
  for (char& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  auto from_upper = normalize_email(upper, why);
  FUZZ_CHECK(from_upper && *from_upper == *email);

  if (valid_utf8(raw)) {
    auto decomposed = fuzz_nfd(raw);
    if (decomposed && *decomposed != raw) {
      auto from_nfd = normalize_email(*decomposed, why);
      // NFD can only lengthen the local part (the domain is ASCII).
      std::string_view d = *decomposed;
      while (!d.empty() && (d.front() == ' ' || d.front() == '\t' || d.front() == '\r' || d.front() == '\n'))
        d.remove_prefix(1);
      while (!d.empty() && (d.back() == ' ' || d.back() == '\t' || d.back() == '\r' || d.back() == '\n'))
        d.remove_suffix(1);
      bool fits = d.size() <= 254 && d.rfind('@') <= 64;
      if (fits) FUZZ_CHECK(from_nfd);
      if (from_nfd) FUZZ_CHECK(*from_nfd == *email);
    }
  }
  return 0;
}
