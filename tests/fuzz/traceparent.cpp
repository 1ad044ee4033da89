// Fuzzes gh::telemetry::parse_traceparent, the W3C `traceparent` request
// header every request may carry.
//
// Properties: an accepted header has lowercase-hex, not-all-zero ids;
// formatting the result and parsing it again gives the same context; and
// formatting reproduces the input except for flags other than 00 and 01.
#include "fuzz_check.hpp"
#include "telemetry/trace.hpp"

namespace {

bool lower_hex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos &&
         s.find_first_not_of('0') != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto header = as_text(data, size);
  auto tc = gh::telemetry::parse_traceparent(header);
  if (!tc) return 0;
  FUZZ_CHECK(tc->trace_id.size() == 32 && lower_hex(tc->trace_id));
  FUZZ_CHECK(tc->span_id.size() == 16 && lower_hex(tc->span_id));
  auto text = gh::telemetry::format_traceparent(*tc);
  auto again = gh::telemetry::parse_traceparent(text);
  FUZZ_CHECK(again && again->trace_id == tc->trace_id && again->span_id == tc->span_id &&
             again->sampled == tc->sampled);
  auto flags = header.substr(53);
  if (flags == "00" || flags == "01") FUZZ_CHECK(text == header);
  return 0;
}
