#include "domain/email.hpp"

#include "domain/ascii.hpp"
#include "domain/unicode.hpp"

#include <algorithm>

namespace gh::domain {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool valid_local(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) continue;  // UTF-8 (SMTPUTF8), checked in normalize_email
    if (c <= 0x20 || c == 0x7f) return false;
    if (std::string_view("\"(),:;<>@[\\]").find(static_cast<char>(c)) != std::string_view::npos)
      return false;
    if (c == '.' && s[i + 1] == '.') return false;
  }
  return true;
}

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    auto dot = d.find('.', start);
    auto label = d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// Non-ASCII addresses (SMTPUTF8, RFC 6531): valid UTF-8 only; no invisible,
// format, control, unassigned, private-use or space code point (a zero-width
// space would make a look-alike account); no compatibility character (a
// fullwidth or ligature form: NFKC differs from NFC); the local part in NFC
// and lowercased with the full Unicode mapping. The domain stays ASCII (the
// punycode form of an IDN), so ASCII lowercasing is its whole case fold.
bool fold_unicode(std::string& email, std::size_t at, std::string& why) {
  if (!valid_utf8(email)) {
    why = "email is not valid UTF-8";
    return false;
  }
  if (has_invisible(email)) {
    why = "email contains an invisible, format or unassigned character";
    return false;
  }
  std::string_view local = std::string_view(email).substr(0, at);
  std::string_view domain = std::string_view(email).substr(at + 1);
  if (!std::all_of(domain.begin(), domain.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    why = "the domain of the email must be ASCII (use the punycode form of an internationalised domain)";
    return false;
  }
  auto composed = nfc(local), compat = nfkc(local);
  if (!composed || !compat || *composed != *compat) {
    why = "email contains a compatibility character (a fullwidth, ligature or similar form)";
    return false;
  }
  auto folded = to_lower(*composed);
  if (!folded) {
    why = "email is not valid UTF-8";
    return false;
  }
  email = *folded + "@" + std::string(domain);
  return true;
}

}  // namespace

std::optional<std::string> normalize_email(std::string_view raw, std::string& why) {
  while (!raw.empty() && is_space(raw.front())) raw.remove_prefix(1);
  while (!raw.empty() && is_space(raw.back())) raw.remove_suffix(1);
  if (raw.empty()) {
    why = "email is required";
    return std::nullopt;
  }
  if (raw.size() > 254) {
    why = "email is longer than 254 octets";
    return std::nullopt;
  }
  for (std::size_t i = 0; i < raw.size(); ++i) {
    unsigned char u = static_cast<unsigned char>(raw[i]);
    // C0 controls, DEL, and C1 controls (U+0080..U+009F: 0xC2 0x80..0x9F in UTF-8)
    bool c1 = u == 0xC2 && i + 1 < raw.size() && (static_cast<unsigned char>(raw[i + 1]) & 0xE0) == 0x80;
    if (u < 0x20 || u == 0x7f || c1) {
      why = "email contains a control character";
      return std::nullopt;
    }
  }
  auto at = raw.rfind('@');
  if (at == std::string_view::npos) {
    why = "email must contain '@'";
    return std::nullopt;
  }
  if (at > 64) {
    why = "the part of the email before '@' is longer than 64 octets";
    return std::nullopt;
  }
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) out += ascii_lower(c);
  bool ascii = std::all_of(raw.begin(), raw.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (!ascii && !fold_unicode(out, at, why)) return std::nullopt;
  at = out.rfind('@');
  if (out.size() > 254 || at > 64) {
    why = "email is longer than 254 octets, or its part before '@' longer than 64";
    return std::nullopt;
  }
  std::string_view local = std::string_view(out).substr(0, at);
  std::string_view domain = std::string_view(out).substr(at + 1);
  if (!valid_local(local) || !valid_domain(domain)) {
    why = "email is not a valid address";
    return std::nullopt;
  }
  return out;
}

}  // namespace gh::domain
