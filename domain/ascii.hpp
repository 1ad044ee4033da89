// ASCII case mapping: only A-Z and a-z change, whatever the locale. For
// protocol tokens (media types, auth schemes), the usernames index, the
// domain part of an email and the password blocklist; full Unicode case
// folding is domain/unicode.hpp's.
#pragma once

#include <string>
#include <string_view>

namespace gh::domain {

constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

/// Equal but for ASCII case.
constexpr bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

/// `s` starts with `prefix`, but for ASCII case.
constexpr bool ascii_istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ascii_iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace gh::domain
