// Email normalisation and validation, applied once where an email enters.
//
// The normal form: surrounding ASCII whitespace trimmed, then the whole
// address lowercased (ASCII letters only), so `Alice@Example.COM` and
// `alice@example.com` are one account. The local part is otherwise kept as
// typed: dots and `+tags` are significant (no provider-specific folding).
// Rejected: more than 254 octets, a local part over 64, control characters
// (C0, DEL and C1),
// whitespace inside, quoted local parts, a domain that is not ASCII
// hostname labels (use the punycode form of an IDN).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::logic {

/// The normalised email, or nullopt with `why` set to a client-safe reason.
std::optional<std::string> normalize_email(std::string_view raw, std::string& why);

}  // namespace gh::logic
