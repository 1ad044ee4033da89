// Fuzzes gh::domain::Cidr, which parses API-key allowlists (from the API) and
// server.trusted_proxies, and matches client addresses (X-Forwarded-For
// entries from a trusted proxy) against them. The input is "<range>\n<ip>".
//
// Properties: a parsed range has a prefix within its family's width and
// contains its own base address.
#include "domain/cidr.hpp"
#include "fuzz_check.hpp"

#include <arpa/inet.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = as_text(data, size);
  auto nl = text.find('\n');
  auto range = text.substr(0, nl);
  auto cidr = gh::domain::Cidr::parse(range);
  if (!cidr) return 0;
  FUZZ_CHECK(cidr->family == AF_INET || cidr->family == AF_INET6);
  FUZZ_CHECK(cidr->prefix >= 0 && cidr->prefix <= (cidr->family == AF_INET ? 32 : 128));
  FUZZ_CHECK(cidr->contains(range.substr(0, range.find('/'))));
  if (nl != std::string_view::npos) cidr->contains(text.substr(nl + 1));
  return 0;
}
