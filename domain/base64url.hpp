// base64url without padding (RFC 4648 §5), strict: the decoder rejects
// padding, whitespace and characters outside the alphabet.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::domain {

std::string b64url_encode(std::string_view bytes);
std::optional<std::string> b64url_decode(std::string_view text);

/// Lowercase hex of `bytes`.
std::string hex(std::string_view bytes);
/// `n` bytes from the OS CSPRNG (libsodium randombytes).
std::string random_bytes(std::size_t n);
/// 128 random bits as 32 lowercase hex characters: ids of users, sessions, tokens.
std::string random_id();
/// BLAKE2b-256 of `data`: how tokens are stored at rest.
std::string blake2b256(std::string_view data);

}  // namespace gh::domain
