// The client address of a request that came through proxies. Pure: the
// server passes the peer, the header's combined value and its trusted
// proxies; unit-tested alone.
#pragma once

#include "domain/cidr.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace gh::http {

/// The header the trusted proxies set (server.client_ip_header).
enum class ForwardedHeader {
  x_forwarded_for,  ///< "X-Forwarded-For: client, proxy1"
  forwarded,        ///< RFC 7239 "Forwarded: for=client;proto=https, for=\"[v6]:port\""
};

/// The hops a header value names, nearest the client first: each
/// X-Forwarded-For entry, or the `for=` of each Forwarded element (quoted or
/// not, "[v6]:port", "v4:port"). The value is every field line of the header
/// joined with ", " (RFC 9110 §5.3). An entry that is no address ("unknown",
/// an obfuscated "_id", garbage, a Forwarded element without `for=`) is kept
/// as "" so that a walk stops there; empty list elements are skipped.
std::vector<std::string> forwarded_hops(ForwardedHeader kind, std::string_view value);

/// The client of a request from `peer`. An untrusted peer is the client
/// itself (its headers are ignored). Behind trusted proxies each proxy
/// appends the address it got the request from, so the walk goes from the
/// right and the first address that is not a trusted proxy is the client;
/// everything left of it was written by the client and proves nothing.
/// A hop that is no address stops the walk at the proxy that wrote it; when
/// every hop is trusted, the leftmost is the client.
std::string client_address(const std::string& peer, const std::vector<std::string>& hops,
                           const std::vector<domain::Cidr>& trusted);

}  // namespace gh::http
