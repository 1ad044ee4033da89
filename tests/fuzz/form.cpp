// Fuzzes gh::http::parse_form, the application/x-www-form-urlencoded parser of
// the OAuth2 token endpoint (bodies over server.max_body_bytes get 413 first).
//
// Properties: an accepted form has at most 32 parameters and no NUL in a
// name or value; encoding it again (every byte percent-escaped) parses back to
// the same map.
#include "config/config.hpp"
#include "fuzz_check.hpp"
#include "http/form.hpp"

namespace {

std::string escape_all(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) out += {'%', hex[c >> 4], hex[c & 15]};
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const gh::config::Server limits;
  if (size > limits.max_body_bytes) return 0;
  std::string why;
  auto form = gh::http::parse_form(as_text(data, size), why);
  if (!form) {
    FUZZ_CHECK(!why.empty());
    return 0;
  }
  FUZZ_CHECK(form->size() <= 32);
  std::string encoded;
  for (const auto& [name, value] : *form) {
    FUZZ_CHECK(name.find('\0') == std::string::npos && value.find('\0') == std::string::npos);
    encoded += (encoded.empty() ? "" : "&") + escape_all(name) + "=" + escape_all(value);
  }
  auto again = gh::http::parse_form(encoded, why);
  FUZZ_CHECK(again && *again == *form);
  return 0;
}
