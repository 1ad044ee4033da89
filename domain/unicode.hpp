// The few Unicode operations Gatehouse needs, through GNU libunistring
// (Debian's libunistring-dev): normalisation, full lowercase mapping and the
// character properties that mark invisible code points. Inputs are UTF-8
// byte strings with an explicit length (an embedded NUL is a character).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::domain {

/// True when `s` is well-formed UTF-8.
bool valid_utf8(std::string_view s);

/// Normalisation Form C / KC of `s`; nullopt when `s` is not valid UTF-8.
std::optional<std::string> nfc(std::string_view s);
std::optional<std::string> nfkc(std::string_view s);

/// Full Unicode lowercase mapping (SpecialCasing, no language tailoring),
/// result in NFC; nullopt when `s` is not valid UTF-8.
std::optional<std::string> to_lower(std::string_view s);

/// True when `s` (valid UTF-8) has a code point that is invisible or
/// ambiguous in an identifier: a control, format (Cf), surrogate,
/// private-use or unassigned code point (category C), a space or separator
/// (Z), or a default-ignorable code point (zero-width characters, variation
/// selectors, ...).
bool has_invisible(std::string_view s);

}  // namespace gh::domain
