// The username rule, the one place it lives: HTTP (sign-up, profile and
// admin bodies) and the operator's import both check it here.
#pragma once

#include <string_view>

namespace gh::domain {

/// 3 to 32 ASCII letters, digits, '_', '.' or '-', starting with a letter or
/// digit. The empty username (none) is not checked here: callers allow it.
bool valid_username(std::string_view u);

/// The rule in words, for the refusal.
constexpr const char* kUsernameRule =
    "username must be 3-32 letters, digits, '_', '.' or '-', starting with a letter or digit";

}  // namespace gh::domain
