// Fuzzes gh::domain::b64url_decode, which decodes every part of a JWT (and the
// encoder used to build them).
//
// Properties: decoding is strict and canonical, so an accepted text is exactly
// the encoding of what it decodes to (no second spelling of a signature); and
// decode(encode(x)) == x for any bytes x.
#include "domain/base64url.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = as_text(data, size);
  if (auto bytes = gh::domain::b64url_decode(text)) FUZZ_CHECK(gh::domain::b64url_encode(*bytes) == text);
  auto encoded = gh::domain::b64url_encode(text);
  auto decoded = gh::domain::b64url_decode(encoded);
  FUZZ_CHECK(decoded && *decoded == text);
  return 0;
}
