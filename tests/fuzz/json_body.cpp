// Fuzzes gh::http::parse_json_object, the parser of every JSON request body,
// with the server's default limits: bodies over server.max_body_bytes get 413
// before parsing (skipped here), the rest are parsed with server.max_json_depth.
//
// Properties: an accepted body is an object, nests no deeper than the limit,
// and its serialisation is accepted again as the same value. A refusal says why.
#include "config/config.hpp"
#include "fuzz_check.hpp"
#include "http/json_body.hpp"

#include <algorithm>

namespace {

int depth(const nlohmann::json& j) {
  if (!j.is_structured()) return 0;
  int deepest = 0;
  for (const auto& v : j) deepest = std::max(deepest, depth(v));
  return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const gh::config::Server limits;  // the defaults of config/gatehouse.toml
  if (size > limits.max_body_bytes) return 0;
  std::string why;
  auto body = gh::http::parse_json_object(as_text(data, size), limits.max_json_depth, why);
  if (!body) {
    FUZZ_CHECK(!why.empty());
    return 0;
  }
  FUZZ_CHECK(body->is_object());
  FUZZ_CHECK(depth(*body) <= limits.max_json_depth);
  auto again = gh::http::parse_json_object(body->dump(), limits.max_json_depth, why);
  FUZZ_CHECK(again && *again == *body);
  return 0;
}
