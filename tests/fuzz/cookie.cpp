// Fuzzes the Cookie header parser the server relies on (Pistache's CookieJar,
// which Gatehouse reads the refresh cookie from) at full speed, outside the
// whole request parser. Pistache throws on what it refuses; the server turns
// that into an error answer, so an exception is not a failure here.
//
// Properties: every cookie the jar lists is found again by its name, and the
// refresh cookie lookup (Ctx::refresh_cookie) agrees with has().
#include "fuzz_check.hpp"

#include <pistache/cookie.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Pistache::Http::CookieJar jar;
  try {
    jar.addFromRaw(reinterpret_cast<const char*>(data), size);
  } catch (const std::exception&) {
    return 0;
  }
  for (const auto& c : jar) FUZZ_CHECK(jar.has(c.name));
  const std::string name = "__Host-gatehouse_refresh";
  if (jar.has(name)) FUZZ_CHECK(jar.get(name).name == name);
  return 0;
}
