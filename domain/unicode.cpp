#include "domain/unicode.hpp"

#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include <cstdlib>

namespace gh::domain {
namespace {

const uint8_t* u8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// Runs a libunistring transformation that returns a malloc'd buffer.
template <class F>
std::optional<std::string> transformed(std::string_view s, F f) {
  if (!valid_utf8(s)) return std::nullopt;
  if (s.empty()) return std::string();
  std::size_t len = 0;
  uint8_t* out = f(u8(s), s.size(), &len);
  if (!out) return std::nullopt;  // out of memory
  std::string r(reinterpret_cast<const char*>(out), len);
  std::free(out);
  return r;
}

}  // namespace

bool valid_utf8(std::string_view s) { return u8_check(u8(s), s.size()) == nullptr; }

std::optional<std::string> nfc(std::string_view s) {
  return transformed(s, [](const uint8_t* p, std::size_t n, std::size_t* len) {
    return u8_normalize(UNINORM_NFC, p, n, nullptr, len);
  });
}

std::optional<std::string> nfkc(std::string_view s) {
  return transformed(s, [](const uint8_t* p, std::size_t n, std::size_t* len) {
    return u8_normalize(UNINORM_NFKC, p, n, nullptr, len);
  });
}

std::optional<std::string> to_lower(std::string_view s) {
  return transformed(s, [](const uint8_t* p, std::size_t n, std::size_t* len) {
    return u8_tolower(p, n, nullptr, UNINORM_NFC, nullptr, len);
  });
}

bool has_invisible(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    ucs4_t uc = 0;
    int n = u8_mbtouc(&uc, u8(s.substr(i)), s.size() - i);
    if (n <= 0) return true;
    i += static_cast<std::size_t>(n);
    if (uc_is_general_category(uc, UC_CATEGORY_C) || uc_is_general_category(uc, UC_CATEGORY_Z) ||
        uc_is_property_default_ignorable_code_point(uc))
      return true;
  }
  return false;
}

}  // namespace gh::domain
