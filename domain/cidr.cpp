#include "domain/cidr.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace gh::domain {
namespace {

// Parses an address into `out` (4 or 16 bytes); returns the family or 0.
int parse_addr(std::string_view text, unsigned char* out) {
  // inet_pton reads a C string: an embedded NUL would cut the text short and
  // let "198.51.100.7\0junk" pass as an address.
  if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos) return 0;
  std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), out) == 1) return AF_INET;
  if (inet_pton(AF_INET6, s.c_str(), out) == 1) {
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out, mapped, 12) == 0) {
      std::memmove(out, out + 12, 4);
      return AF_INET;
    }
    return AF_INET6;
  }
  return 0;
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
  Cidr c;
  auto slash = text.find('/');
  c.family = parse_addr(text.substr(0, slash), c.addr);
  if (!c.family) return std::nullopt;
  int max = c.family == AF_INET ? 32 : 128;
  c.prefix = max;
  if (slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    int v = 0;
    for (char ch : p) {
      if (ch < '0' || ch > '9') return std::nullopt;
      v = v * 10 + (ch - '0');
    }
    if (v > max) return std::nullopt;
    c.prefix = v;
  }
  return c;
}

bool Cidr::contains(std::string_view ip) const {
  unsigned char a[16] = {};
  if (parse_addr(ip, a) != family) return false;
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a, addr, full) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (addr[full] & mask);
}

std::string limit_key_of(std::string_view ip, int v6_prefix) {
  unsigned char a[16] = {};
  int family = parse_addr(ip, a);
  if (!family) return std::string(ip);
  bool whole = family == AF_INET || v6_prefix >= 128;
  if (!whole) {
    int full = v6_prefix / 8, rest = v6_prefix % 8;
    if (rest) a[full++] &= static_cast<unsigned char>(0xff << (8 - rest));
    std::memset(a + full, 0, 16 - full);
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family, a, text, sizeof text)) return std::string(ip);
  return whole ? std::string(text) : std::string(text) + "/" + std::to_string(v6_prefix);
}

}  // namespace gh::domain
