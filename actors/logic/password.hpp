// Password policy (NIST SP 800-63B) and Argon2id hashing through libsodium.
//
// Passwords are handled as byte strings with an explicit length everywhere:
// an embedded NUL is part of the password, never its end.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace gh::logic {

class PasswordPolicy {
 public:
  PasswordPolicy(std::size_t min_length, std::size_t max_bytes,
                 std::unordered_set<std::string> blocklist);

  /// The policy from its settings (config [password]) with the blocklist
  /// read from `blocklist_path`: what the HTTP layer and the CLI enforce.
  /// nullopt with `why` if the file cannot be read.
  static std::optional<PasswordPolicy> load(std::size_t min_length, std::size_t max_bytes,
                                            const std::string& blocklist_path, std::string& why);

  /// Reads the blocklist file (one password per line, '#' comments).
  /// Returns false with `why` if the file cannot be read.
  static bool load_blocklist(const std::string& path, std::unordered_set<std::string>& out,
                             std::string& why);

  /// nullopt when acceptable, else the client-safe reason. Cheap: the byte
  /// cap is checked first, so an oversized password never reaches a hash.
  std::optional<std::string> check(std::string_view password) const;

  std::size_t max_bytes() const { return max_bytes_; }

 private:
  std::size_t min_length_;
  std::size_t max_bytes_;
  std::unordered_set<std::string> blocklist_;  // lowercased
};

struct HashParams {
  std::uint64_t ops_limit = 2;
  std::size_t mem_limit_bytes = 19u << 20;
};

/// Argon2id PHC string, or nullopt if libsodium fails (out of memory).
std::optional<std::string> hash_password(std::string_view password, const HashParams& p);
/// True for a bcrypt hash ($2a$, $2b$, $2y$) imported from another system.
bool is_bcrypt(std::string_view phc);
/// True when `password` matches `phc` (Argon2id, or an imported bcrypt hash).
/// A malformed `phc` never matches.
bool verify_password(std::string_view phc, std::string_view password);
/// True when `phc` is not Argon2id with the parameters `p` (upgrade on login).
bool needs_rehash(std::string_view phc, const HashParams& p);

}  // namespace gh::logic
