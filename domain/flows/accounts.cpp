#include "domain/flows/accounts.hpp"

#include "domain/flows/sessions.hpp"

namespace gh::flows {

Outcome find_by_email(const store::ReadTxn& t, const std::string& email, std::optional<domain::User>& out) {
  out.emplace();
  auto st = t.user_by_email(email, *out);
  if (st.ok()) return done();
  out.reset();
  if (st.is_not_found()) return done();
  return store_failure(st);
}

Outcome find_by_email(const store::Backend& db, const std::string& email, std::optional<domain::User>& out) {
  out.reset();
  store::Status st;
  auto t = db.read(st);
  if (!t) return store_failure(st);
  return find_by_email(*t, email, out);
}

Outcome deactivate(store::WriteTxn& t, domain::User& user) {
  user.active = false;
  int n = 0;
  if (auto f = revoke_sessions(t, user.id, "", domain::RevokeReason::deactivated, n)) return f;
  return revoke_api_keys(t, user.id, n);
}

Outcome change_account(store::WriteTxn& t, const std::string& id, std::int64_t now, const Change& change,
                       domain::User& out) {
  domain::User u;
  if (auto st = t.user(id, u); !st.ok()) return store_failure(st, "no such user");
  if (change)
    if (auto f = change(t, u)) return f;
  u.updated_at = now;
  if (auto st = t.update_user(u); !st.ok())
    return st.is_conflict() ? fail(Errc::conflict, "this username is taken") : store_failure(st);
  out = std::move(u);
  return done();
}

Outcome insert_account(store::WriteTxn& t, const domain::User& u) { return check(t.insert_user(u)); }

}  // namespace gh::flows
