// Email normalisation and validation, applied once where an email enters.
//
// The normal form: surrounding ASCII whitespace trimmed, then the whole
// address lowercased, so `Alice@Example.COM` and `alice@example.com` are one
// account. Beyond ASCII (SMTPUTF8) the local part is put in NFC and mapped
// with the full Unicode lowercase mapping (RFC 8265's toLowerCase), so
// `ÄLICE@EXAMPLE.COM`, `älice@example.com` and its decomposed form are one
// account. Not case *folding*: folding turns `ß` into `ss` and `ς` into `σ`,
// other strings a mail server may deliver elsewhere, and the stored address
// is where mail goes. The local part is otherwise kept as typed: dots and
// `+tags` are significant (no provider-specific folding).
// Rejected: more than 254 octets, a local part over 64, control characters
// (C0, DEL and C1), invalid UTF-8, invisible code points (format characters
// such as U+200B, default-ignorables, non-ASCII spaces, unassigned and
// private-use code points), compatibility characters (fullwidth letters,
// ligatures: NFKC differs from NFC), whitespace inside, quoted local parts,
// a domain that is not ASCII hostname labels (use the punycode form of an
// IDN; ASCII lowercasing is then its full case fold).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::domain {

/// The normalised email, or nullopt with `why` set to a client-safe reason.
std::optional<std::string> normalize_email(std::string_view raw, std::string& why);

}  // namespace gh::domain
