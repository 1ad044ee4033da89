// IPv4/IPv6 address ranges in CIDR notation ("10.0.0.0/8", "2001:db8::/32",
// or a bare address meaning one host), for API-key allowlists.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::domain {

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

/// The rate-limit key of a client address: an IPv4 address as it is (an
/// IPv4-mapped IPv6 one as IPv4), an IPv6 address as the network of its first
/// `v6_prefix` bits ("2001:db8:1:2::/64"), because one subscriber usually
/// holds a whole /64 and would otherwise get a fresh budget per address.
/// Text that is not an address is returned unchanged.
std::string limit_key_of(std::string_view ip, int v6_prefix);

}  // namespace gh::domain
