// application/x-www-form-urlencoded bodies (OAuth2 token requests, RFC 6749).
// Refuses a repeated parameter (RFC 6749 §3.2), a bad percent escape, a NUL,
// and more than 32 parameters.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace gh::http {

std::optional<std::map<std::string, std::string>> parse_form(std::string_view body,
                                                             std::string& why);

}  // namespace gh::http
