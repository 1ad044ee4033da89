// IPv4/IPv6 address ranges in CIDR notation ("10.0.0.0/8", "2001:db8::/32",
// or a bare address meaning one host), for API-key allowlists.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::logic {

struct Cidr {
  int family = 0;              ///< AF_INET or AF_INET6
  unsigned char addr[16] = {};
  int prefix = 0;

  /// Parses a CIDR; nullopt if malformed (bad address, prefix out of range).
  static std::optional<Cidr> parse(std::string_view text);
  /// True when `ip` (a textual address) lies in this range. An IPv4-mapped
  /// IPv6 address (::ffff:a.b.c.d) matches IPv4 ranges.
  bool contains(std::string_view ip) const;
};

}  // namespace gh::logic
