#include "actors/logic/email.hpp"

namespace gh::logic {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool valid_local(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) continue;  // UTF-8 (SMTPUTF8); validity checked by the JSON parser
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
  for (char c : raw) out += lower(c);
  std::string_view local = std::string_view(out).substr(0, at);
  std::string_view domain = std::string_view(out).substr(at + 1);
  if (!valid_local(local) || !valid_domain(domain)) {
    why = "email is not a valid address";
    return std::nullopt;
  }
  return out;
}

}  // namespace gh::logic
