#include "domain/password.hpp"

#include "domain/ascii.hpp"
#include "domain/unicode.hpp"

#include <crypt.h>
#include <sodium.h>

#include <cstring>
#include <fstream>

namespace gh::domain {
namespace {

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

PasswordPolicy::PasswordPolicy(std::size_t min_length, std::size_t max_bytes,
                               std::unordered_set<std::string> blocklist)
    : min_length_(min_length), max_bytes_(max_bytes) {
  for (auto& p : blocklist) blocklist_.insert(ascii_lower(p));
}

std::optional<PasswordPolicy> PasswordPolicy::load(std::size_t min_length, std::size_t max_bytes,
                                                   const std::string& blocklist_path, std::string& why) {
  std::unordered_set<std::string> blocklist;
  if (!load_blocklist(blocklist_path, blocklist, why)) return std::nullopt;
  return PasswordPolicy(min_length, max_bytes, std::move(blocklist));
}

bool PasswordPolicy::load_blocklist(const std::string& path, std::unordered_set<std::string>& out,
                                    std::string& why) {
  std::ifstream in(path);
  if (!in) {
    why = "cannot read password blocklist '" + path + "'";
    return false;
  }
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    out.insert(line);
  }
  return true;
}

std::optional<std::string> PasswordPolicy::check(std::string_view raw) const {
  if (raw.size() > max_bytes_)  // as received, before any other work
    return "password is longer than " + std::to_string(max_bytes_) + " bytes";
  auto pw = normalize_password(raw);
  if (code_points(pw) < min_length_)
    return "password must be at least " + std::to_string(min_length_) + " characters";
  if (blocklist_.count(ascii_lower(pw)))
    return "password is too common; choose another";
  return std::nullopt;
}

std::string normalize_password(std::string_view pw) {
  auto n = nfkc(pw);
  return n ? std::move(*n) : std::string(pw);
}

std::optional<std::string> hash_password(std::string_view raw, const HashParams& p) {
  auto pw = normalize_password(raw);
  char out[crypto_pwhash_STRBYTES];
  int rc = crypto_pwhash_str_alg(out, pw.data(), pw.size(), p.ops_limit, p.mem_limit_bytes,
                                 crypto_pwhash_ALG_ARGON2ID13);
  sodium_memzero(pw.data(), pw.size());
  if (rc != 0) return std::nullopt;
  return std::string(out);
}

bool is_bcrypt(std::string_view phc) {
  return phc.size() == 60 &&
         (phc.rfind("$2a$", 0) == 0 || phc.rfind("$2b$", 0) == 0 || phc.rfind("$2y$", 0) == 0);
}

namespace {
// Imported bcrypt hashes, through libxcrypt. crypt_r reads a C string, so a
// password with a NUL never matches (it would be compared truncated).
bool verify_bcrypt(std::string_view phc, std::string_view pw) {
  if (pw.find('\0') != std::string_view::npos) return false;
  std::string p(pw), h(phc);
  crypt_data data{};
  const char* out = crypt_r(p.c_str(), h.c_str(), &data);
  bool ok = out && std::strlen(out) == h.size() && sodium_memcmp(out, h.data(), h.size()) == 0;
  sodium_memzero(p.data(), p.size());
  sodium_memzero(&data, sizeof data);
  return ok;
}
}  // namespace

namespace {
bool verify_exact(std::string_view phc, std::string_view pw) {
  if (is_bcrypt(phc)) return verify_bcrypt(phc, pw);
  if (phc.empty() || phc.size() >= crypto_pwhash_STRBYTES) return false;
  std::string z(phc);  // libsodium wants a NUL-terminated hash string
  return crypto_pwhash_str_verify(z.c_str(), pw.data(), pw.size()) == 0;
}
}  // namespace

bool verify_password(std::string_view phc, std::string_view raw, bool* legacy) {
  if (legacy) *legacy = false;
  auto pw = normalize_password(raw);
  bool ok = verify_exact(phc, pw);
  if (!ok && pw != raw && verify_exact(phc, raw)) {  // a hash of the raw bytes (before NFKC)
    ok = true;
    if (legacy) *legacy = true;
  }
  sodium_memzero(pw.data(), pw.size());
  return ok;
}

bool needs_rehash(std::string_view phc, const HashParams& p) {
  if (phc.rfind("$argon2id$", 0) != 0 || phc.size() >= crypto_pwhash_STRBYTES) return true;
  std::string z(phc);
  return crypto_pwhash_str_needs_rehash(z.c_str(), p.ops_limit, p.mem_limit_bytes) != 0;
}

}  // namespace gh::domain
