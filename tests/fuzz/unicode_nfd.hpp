// NFD through libunistring (linked by gh_domain), for the fuzz targets that
// check that canonically equivalent inputs are treated alike.
#pragma once

#include <uninorm.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

inline std::optional<std::string> fuzz_nfd(std::string_view s) {
  if (s.empty()) return std::string();
  std::size_t len = 0;
  uint8_t* out = u8_normalize(UNINORM_NFD, reinterpret_cast<const uint8_t*>(s.data()), s.size(), nullptr, &len);
  if (!out) return std::nullopt;
  std::string r(reinterpret_cast<const char*>(out), len);
  std::free(out);
  return r;
}
