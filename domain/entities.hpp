// The entities of Gatehouse: what an account, a session, a token is, as
// plain values. No storage engine and no actor system here: the store
// contract (store/store.hpp) keeps them, each backend encodes them its own way
// (the LMDB one as CBOR, store/lmdb/records.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gh::domain {

struct User {
  std::string id;             ///< 32 lowercase hex chars (128 random bits).
  std::string email;          ///< Normalised (domain/email.hpp).
  std::string password_hash;  ///< Argon2id PHC string ($argon2id$v=19$…).
  std::string role = "user";
  std::string username;       ///< Optional public handle.
  std::string full_name;
  std::string avatar_url;     ///< Set by an avatar upload.
  std::string onboarding = "new";  ///< Free-form onboarding status set by the application.
  nlohmann::json data = nlohmann::json::object();  ///< Custom profile fields.
  bool email_verified = false;
  bool active = true;
  std::int64_t created_at = 0;  ///< Unix seconds.
  std::int64_t updated_at = 0;
  int failed_logins = 0;           ///< consecutive, for the login back-off
  std::int64_t last_failed_at = 0;
  /// Bumped by every password change and reset: device tokens are signed
  /// over it (domain/device.hpp), so a new password voids the old ones.
  std::int64_t device_epoch = 0;
};

/// Why sessions were revoked. Its name (revoke_reason_name) is what a
/// Session keeps in revoke_reason and what the audit records show, so the
/// names never change.
enum class RevokeReason {
  logout,            ///< "logout": the session signed itself out
  logout_all,        ///< "logout_all": signed out everywhere
  revoked_by_user,   ///< "revoked_by_user": the user ended one of their sessions
  session_limit,     ///< "session_limit": evicted at limits.sessions_per_user
  reuse,             ///< "reuse": a rotated-away refresh token came back
  password_changed,  ///< "password_changed"
  deactivated,       ///< "deactivated": the account was deactivated
};
const char* revoke_reason_name(RevokeReason r);
/// The reason named `name`, false if there is none.
bool parse_revoke_reason(std::string_view name, RevokeReason& out);

/// A session is one refresh-token family: one login on one device.
struct Session {
  std::string id;        ///< 32 hex chars; the `sid` claim of its access tokens.
  std::string user_id;
  std::uint64_t generation = 0;  ///< Rotations so far; the live token's number.
  std::string token_hash;        ///< BLAKE2b-256 of the live refresh token.
  std::int64_t rotated_at = 0;   ///< When the live token was issued.
  std::int64_t created_at = 0;
  std::int64_t last_used_at = 0;
  std::int64_t expires_at = 0;   ///< Absolute end of the family.
  bool revoked = false;
  std::string revoke_reason;     ///< revoke_reason_name(RevokeReason): "logout", "reuse"…
  std::string ip;
  std::string user_agent;
};

/// Index entry for one refresh token ever issued (live or rotated away),
/// keyed by the token's hash: which family and which generation it was.
struct RefreshRef {
  std::string session_id;
  std::uint64_t generation = 0;
  std::int64_t expires_at = 0;  ///< Same as the family's; the entry may be purged after.
};

/// A personal API token. Only the hash of its secret is stored (the table key).
struct ApiKey {
  std::string id;  ///< 32 hex chars, shown in listings
  std::string user_id;
  std::string name;
  std::vector<std::string> scopes;       ///< empty: the owner's full rights
  std::vector<std::string> allowed_ips;  ///< CIDRs; empty: any address
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;  ///< 0: never
  bool revoked = false;
};

/// A one-time token (magic link, email verification, password reset, or the
/// short-lived code a magic link with a redirect hands to the application).
/// Only its hash is stored (the table key).
struct OneTimeToken {
  std::string purpose;  ///< "magic", "verify", "reset" or "code"
  std::string user_id;
  std::int64_t expires_at = 0;
  bool used = false;
  /// magic: where the browser goes after the click, with a code (checked
  /// when the link was asked for). Optional key "r": records written before
  /// it existed decode with "" (no redirect).
  std::string redirect_to;
  /// magic with a redirect, and its code: the application's PKCE S256
  /// challenge (domain/pkce.hpp), which the code's exchange must prove.
  /// Optional key "cc", absent when empty: records without it decode with ""
  /// and a record without one encodes as older builds wrote it.
  std::string code_challenge;
};

/// Can `otp` be used now for `purpose`: unused, of that purpose, unexpired,
/// and `owner` (the user it names; null when not found) active? The one
/// liveness rule, for consuming a token and for the magic-link page.
bool otp_usable(const OneTimeToken& otp, const User* owner, std::string_view purpose, std::int64_t now);

/// An uploaded avatar image.
struct Avatar {
  std::string content_type;  ///< image/png, image/jpeg or image/webp
  std::string bytes;
  std::int64_t updated_at = 0;
};

/// An Ed25519 signing key. `seed` is the 32-byte secret seed.
struct SigningKey {
  std::string kid;
  std::string seed;
  std::int64_t created_at = 0;
};

}  // namespace gh::domain
