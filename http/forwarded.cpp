#include "http/forwarded.hpp"

#include "domain/ascii.hpp"

#include <algorithm>

namespace gh::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits at `sep` outside double quotes.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && quoted) ++i;
    else if (s[i] == '"') quoted = !quoted;
    else if (s[i] == sep && !quoted) out.push_back(s.substr(start, i - start)), start = i + 1;
  }
  out.push_back(s.substr(std::min(start, s.size())));
  return out;
}

// A node ("192.0.2.1", "192.0.2.1:80", "[2001:db8::1]:80", "2001:db8::1") as
// a bare address, or "" when it is none.
std::string address_of(std::string_view node) {
  if (!node.empty() && node.front() == '[') {
    auto close = node.find(']');
    if (close == std::string_view::npos) return {};
    auto rest = node.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return {};
    node = node.substr(1, close - 1);
  } else if (std::count(node.begin(), node.end(), ':') == 1) {
    node = node.substr(0, node.find(':'));  // v4:port
  }
  if (node.empty() || node.find('/') != std::string_view::npos || !domain::Cidr::parse(node)) return {};
  return std::string(node);
}

std::string unquote(std::string_view v) {
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::string(v);
  std::string out;
  for (std::size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

// The for= node of one Forwarded element ("for=a;proto=https"), or "".
std::string forwarded_for(std::string_view element) {
  for (auto pair : split(element, ';')) {
    pair = trim(pair);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    auto name = trim(pair.substr(0, eq));
    if (domain::ascii_iequals(name, "for"))
      return address_of(unquote(trim(pair.substr(eq + 1))));
  }
  return {};
}

}  // namespace

std::vector<std::string> forwarded_hops(ForwardedHeader kind, std::string_view value) {
  std::vector<std::string> hops;
  for (auto entry : split(value, ',')) {
    entry = trim(entry);
    if (entry.empty()) continue;
    hops.push_back(kind == ForwardedHeader::forwarded ? forwarded_for(entry) : address_of(entry));
  }
  return hops;
}

std::string client_address(const std::string& peer, const std::vector<std::string>& hops,
                           const std::vector<domain::Cidr>& trusted) {
  auto is_trusted = [&](const std::string& ip) {
    return std::any_of(trusted.begin(), trusted.end(), [&](const domain::Cidr& c) { return c.contains(ip); });
  };
  if (!is_trusted(peer)) return peer;
  std::string nearest = peer;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (it->empty()) return nearest;
    nearest = *it;
    if (!is_trusted(nearest)) return nearest;
  }
  return nearest;
}

}  // namespace gh::http
