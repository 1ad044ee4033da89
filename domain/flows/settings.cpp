#include "domain/flows/settings.hpp"

#include "domain/flows/links.hpp"

namespace gh::flows {

void apply_profile(const ProfilePatch& patch, domain::User& u) {
  if (patch.username) u.username = *patch.username;
  if (patch.full_name) u.full_name = *patch.full_name;
  if (patch.onboarding) u.onboarding = *patch.onboarding;
  if (patch.data) u.data = *patch.data;
  if (patch.email_verified) u.email_verified = *patch.email_verified;
}

nlohmann::json patched_fields(const ProfilePatch& patch) {
  nlohmann::json fields = nlohmann::json::array();
  for (auto [name, set] : {std::pair{"full_name", bool(patch.full_name)}, {"username", bool(patch.username)},
                           {"onboarding", bool(patch.onboarding)}, {"data", bool(patch.data)},
                           {"role", bool(patch.role)}, {"email_verified", bool(patch.email_verified)}})
    if (set) fields.push_back(name);
  return fields;
}

Outcome set_avatar(store::WriteTxn& t, const std::string& user_id, const domain::Avatar& avatar,
                   const std::string& url, std::int64_t now, domain::User& out) {
  return change_account(t, user_id, now, [&](store::WriteTxn& t, domain::User& u) -> Outcome {
    if (auto f = check(t.put_avatar(u.id, avatar))) return f;
    u.avatar_url = url;
    return done();
  }, out);
}

Outcome store_password(store::WriteTxn& t, domain::User& u, const std::string& phc, const PasswordRevocation& what,
                       std::int64_t now, Revocation& counts) {
  counts = {};  // a retried step counts afresh
  u.password_hash = phc;
  u.failed_logins = 0;
  ++u.device_epoch;
  u.updated_at = now;
  if (auto f = check(t.update_user(u))) return f;
  if (what.sessions)
    if (auto f = revoke_sessions(t, u.id, what.keep, domain::RevokeReason::password_changed, counts.sessions)) return f;
  if (what.api_tokens)
    if (auto f = revoke_api_keys(t, u.id, counts.api_tokens)) return f;
  return done();
}

Outcome reset_password(store::WriteTxn& t, const std::string& token_hash, const std::string& phc, std::int64_t now,
                       domain::User& out, Revocation& counts) {
  if (auto f = consume_token(t, token_hash, "reset", now, out)) return f;
  return store_password(t, out, phc, PasswordRevocation{true, true, ""}, now, counts);
}

Outcome change_password(store::WriteTxn& t, const std::string& user_id, const std::string& old_phc,
                        const std::string& phc, const PasswordRevocation& what, std::int64_t now, domain::User& out,
                        Revocation& counts) {
  domain::User cur;
  auto st = t.user(user_id, cur);
  if (st.failed()) return store_failure(st);
  if (!st.ok() || cur.password_hash != old_phc) return fail(Errc::conflict, "the password changed meanwhile");
  out = std::move(cur);
  return store_password(t, out, phc, what, now, counts);
}

}  // namespace gh::flows
