// Fuzzes the Unicode layer (domain/unicode.*, GNU libunistring) that
// emails and passwords go through, on arbitrary bytes.
//
// Properties: invalid UTF-8 gets no normal form and no lowercase; on valid
// UTF-8 every result is valid UTF-8 and keeps every embedded NUL; NFC and
// NFKC are fixed points of themselves, NFKC of NFC and NFC of NFKC is NFKC;
// NFC, NFKC and the input in NFD agree on the forms (canonical
// equivalence); the lowercase is in NFC and lowercasing it again changes
// nothing; has_invisible never crashes, and is the same for the NFC form.
#include "domain/unicode.hpp"
#include "fuzz_check.hpp"
#include "unicode_nfd.hpp"

#include <algorithm>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gh::domain;
  auto s = as_text(data, size);
  bool valid = valid_utf8(s);
  auto c = nfc(s), k = nfkc(s), l = to_lower(s);
  if (!valid) {
    FUZZ_CHECK(!c && !k && !l);
    return 0;
  }
  FUZZ_CHECK(c && k && l);
  auto nuls = std::count(s.begin(), s.end(), '\0');
  for (auto* r : {&*c, &*k, &*l}) {
    FUZZ_CHECK(valid_utf8(*r));
    FUZZ_CHECK(std::count(r->begin(), r->end(), '\0') == nuls);
  }
  FUZZ_CHECK(nfc(*c) == c);
  FUZZ_CHECK(nfkc(*k) == k);
  FUZZ_CHECK(nfkc(*c) == k);
  FUZZ_CHECK(nfc(*k) == k);
  auto d = fuzz_nfd(s);
  FUZZ_CHECK(d && valid_utf8(*d));
  FUZZ_CHECK(nfc(*d) == c && nfkc(*d) == k);
  FUZZ_CHECK(nfc(*l) == l);
  FUZZ_CHECK(to_lower(*l) == l);
  FUZZ_CHECK(has_invisible(s) == has_invisible(*c));
  return 0;
}
