// Password policy (NIST SP 800-63B) and Argon2id hashing through libsodium.
//
// Passwords are handled as byte strings with an explicit length everywhere:
// an embedded NUL is part of the password, never its end.
//
// Unicode (NIST SP 800-63B §5.1.1.2): a password is hashed and verified in
// Normalisation Form KC, so one typed in NFC and in NFD (or with a fullwidth
// letter for an ASCII one) is the same password; the policy counts and
// compares the NFKC form too. Bytes that are not valid UTF-8 are used as
// they are. The byte cap applies to the password as received, before any
// of this. Hashes made before normalisation were of the raw bytes: see
// verify_password.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace gh::domain {

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

/// The form a password is hashed in: NFKC when it is valid UTF-8, else the
/// bytes as they are.
std::string normalize_password(std::string_view password);

/// Argon2id PHC string of normalize_password(password), or nullopt if
/// libsodium fails (out of memory).
std::optional<std::string> hash_password(std::string_view password, const HashParams& p);
/// True for a bcrypt hash ($2a$, $2b$, $2y$) imported from another system.
bool is_bcrypt(std::string_view phc);
/// True when `password` matches `phc` (Argon2id, or an imported bcrypt hash).
/// A malformed `phc` never matches. The NFKC form is tried first; when it
/// does not match and the password as received differs from it, the raw
/// bytes are tried too (hashes made before normalisation, imported hashes),
/// and `legacy` (if given) says such a match happened: the caller then
/// stores a new hash, of the NFKC form. A non-normalised wrong password so
/// costs two verifications.
bool verify_password(std::string_view phc, std::string_view password, bool* legacy = nullptr);
/// True when `phc` is not Argon2id with the parameters `p` (upgrade on login).
bool needs_rehash(std::string_view phc, const HashParams& p);

}  // namespace gh::domain
