// Proof Key for Code Exchange (RFC 7636), S256 only, for the code a magic
// link with a redirect hands to the application. The application keeps a
// random verifier per browser session and sends SHA-256 of it (the
// challenge) when it asks for the link; only the holder of the verifier can
// exchange the code. Pure functions.
#pragma once

#include <string>
#include <string_view>

namespace gh::domain {

/// A challenge as stored: base64url (no padding) of a 32-byte SHA-256, so
/// exactly 43 characters of the base64url alphabet that decode to 32 bytes.
bool pkce_challenge_valid(std::string_view challenge);

/// A verifier: 43 to 128 characters of RFC 7636's unreserved set
/// [A-Z a-z 0-9 - . _ ~].
bool pkce_verifier_valid(std::string_view verifier);

/// The S256 challenge of a verifier: base64url(SHA-256(verifier)).
std::string pkce_s256(std::string_view verifier);

/// Does `verifier` prove `challenge`? Both must be well formed; the hashes
/// are compared in constant time. An empty challenge never matches.
bool pkce_matches(std::string_view verifier, std::string_view challenge);

}  // namespace gh::domain
