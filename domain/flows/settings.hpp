// The settings flow: what a signed-in user changes on their own account
// (profile, avatar, password) and the password step of a recovery. Each step
// runs in one store transaction the caller provides; the password's hash is
// made before it by the caller (the hasher actor).
#pragma once

#include "domain/flows/accounts.hpp"
#include "domain/flows/sessions.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace gh::flows {

/// A change to a user; fields left empty are not touched. `role` and
/// `email_verified` are for administrators (HTTP refuses them on /auth/me;
/// admin.hpp checks them against the management matrix).
struct ProfilePatch {
  std::optional<std::string> full_name, username, onboarding, role;
  std::optional<nlohmann::json> data;
  std::optional<bool> email_verified;
};

/// Sets the profile fields of `patch` on `u` (not its role): the store
/// refuses another account's username (conflict) when it is written.
void apply_profile(const ProfilePatch& patch, domain::User& u);
/// The names of the fields `patch` sets, for the audit record.
nlohmann::json patched_fields(const ProfilePatch& patch);

/// Stores the avatar of account `user_id` and points its avatar_url at `url`.
Outcome set_avatar(store::WriteTxn& t, const std::string& user_id, const domain::Avatar& avatar,
                   const std::string& url, std::int64_t now, domain::User& out);

/// What a new password revokes: sessions (all but `keep`, which may be
/// empty) when `sessions`, every API token when `api_tokens`.
struct PasswordRevocation {
  bool sessions = false;
  bool api_tokens = false;
  std::string keep;
};

/// Stores `phc` as `u`'s password (already read in this transaction): the
/// login back-off is cleared, the device epoch bumped (voiding every device
/// token issued under the old password), then the revocations, counted in
/// `counts`.
Outcome store_password(store::WriteTxn& t, domain::User& u, const std::string& phc, const PasswordRevocation& what,
                       std::int64_t now, Revocation& counts);

/// Recovery: consumes the reset token (by its hash; refusals as
/// consume_token) and stores `phc` revoking every session and API token (an
/// intruder's too). `out` gets the account.
Outcome reset_password(store::WriteTxn& t, const std::string& token_hash, const std::string& phc, std::int64_t now,
                       domain::User& out, Revocation& counts);

/// A signed-in change, after the current password was verified against
/// `old_phc`: conflict when the password changed meanwhile.
Outcome change_password(store::WriteTxn& t, const std::string& user_id, const std::string& old_phc,
                        const std::string& phc, const PasswordRevocation& what, std::int64_t now, domain::User& out,
                        Revocation& counts);

}  // namespace gh::flows
