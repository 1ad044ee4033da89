// Fuzzes gh::http::forwarded_hops and client_address: the X-Forwarded-For /
// RFC 7239 Forwarded value comes from the client (and proxies append to it),
// and the address chosen is what rate limits, lock-out and audit key on.
//
// Input: byte 0 picks the header kind (bit 0) and the peer (the rest, from a
// fixed list of trusted and untrusted v4/v6 peers); the rest is the value.
// Trusted proxies: 10.0.0.0/8, 192.168.0.0/16, 127.0.0.1, ::1, fd00::/8.
//
// Properties: every hop is "" or a bare address that parses as one host (no
// port, brackets or prefix); there are no more hops than list elements; the
// hops re-serialised in the header's own syntax parse back to themselves;
// the client is the peer when the peer is untrusted, else the peer or one of
// the hops, the one a reference walk picks (from the right, the first
// untrusted hop; an empty hop stops at the proxy right of it; all trusted:
// the leftmost), so the walk never skips an untrusted or unparsable hop.
#include "http/forwarded.hpp"
#include "fuzz_check.hpp"

#include <algorithm>

namespace {

const std::vector<gh::domain::Cidr>& trusted() {
  static const auto t = [] {
    std::vector<gh::domain::Cidr> v;
    for (auto s : {"10.0.0.0/8", "192.168.0.0/16", "127.0.0.1", "::1", "fd00::/8"})
      v.push_back(*gh::domain::Cidr::parse(s));
    return v;
  }();
  return t;
}

bool is_trusted(const std::string& ip) {
  return std::any_of(trusted().begin(), trusted().end(), [&](const gh::domain::Cidr& c) { return c.contains(ip); });
}

const char* const kPeers[] = {"10.1.2.3", "127.0.0.1", "::1", "fd00::5", "192.168.7.7",
                              "203.0.113.9", "2001:db8::1", "::ffff:10.0.0.1"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  using gh::http::ForwardedHeader;
  auto kind = data[0] & 1 ? ForwardedHeader::forwarded : ForwardedHeader::x_forwarded_for;
  std::string peer = kPeers[(data[0] >> 1) % (sizeof kPeers / sizeof *kPeers)];
  auto value = as_text(data + 1, size - 1);

  auto hops = gh::http::forwarded_hops(kind, value);
  FUZZ_CHECK(hops.size() <= static_cast<std::size_t>(std::count(value.begin(), value.end(), ',')) + 1);
  for (auto& h : hops) {
    if (h.empty()) continue;
    FUZZ_CHECK(h.find_first_of("[]/ \t\"") == std::string::npos);
    auto c = gh::domain::Cidr::parse(h);
    FUZZ_CHECK(c && c->prefix == (c->family == 2 /* AF_INET */ ? 32 : 128));
    FUZZ_CHECK(c->contains(h));
  }

  // Round trip: the non-empty hops, written back, parse to themselves.
  std::vector<std::string> addrs;
  std::string back;
  for (auto& h : hops) {
    if (h.empty()) continue;
    addrs.push_back(h);
    if (!back.empty()) back += ", ";
    if (kind == ForwardedHeader::x_forwarded_for) back += h;
    else if (h.find(':') != std::string::npos) back += "for=\"[" + h + "]:8443\";proto=https";
    else back += "For=" + h;
  }
  FUZZ_CHECK(gh::http::forwarded_hops(kind, back) == addrs);

  auto client = gh::http::client_address(peer, hops, trusted());
  if (!is_trusted(peer)) {
    FUZZ_CHECK(client == peer);
    return 0;
  }
  // Reference walk: from the right, stop at the first hop that is empty
  // (the proxy right of it, or the peer, is the client) or untrusted.
  std::string expected = peer;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (it->empty()) break;
    expected = *it;
    if (!is_trusted(expected)) break;
  }
  FUZZ_CHECK(client == expected);
  FUZZ_CHECK(client == peer || std::find(hops.begin(), hops.end(), client) != hops.end());
  return 0;
}
