// Strict parsing of JSON request bodies.
//
// Beyond RFC 8259 syntax (which nlohmann checks, including UTF-8 validity,
// overlong encodings and lone surrogates), a body is refused when it is not an
// object, nests deeper than the limit (checked while parsing, so 100 000
// brackets cost nothing), repeats a key within one object, or has a number
// that does not fit a double (1e999).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace gh::http {

std::optional<nlohmann::json> parse_json_object(std::string_view body, int max_depth,
                                                std::string& why);

}  // namespace gh::http
