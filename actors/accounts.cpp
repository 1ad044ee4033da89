#include "actors/accounts.hpp"

namespace gh {

int revoke_sessions(store::Store& db, store::Txn& t, const std::string& user_id,
                    const std::string& keep, const std::string& reason, int& count) {
  for (auto& s : db.sessions_of(t, user_id)) {
    if (s.revoked || s.id == keep) continue;
    s.revoked = true;
    s.revoke_reason = reason;
    if (int rc = db.put_session(t, s)) return rc;
    ++count;
  }
  return 0;
}

int revoke_api_keys(store::Store& db, store::Txn& t, const std::string& user_id, int& count) {
  for (auto& [hash, k] : db.api_keys_of(t, user_id)) {
    if (k.revoked) continue;
    k.revoked = true;
    if (int rc = db.put_api_key(t, hash, k)) return rc;
    ++count;
  }
  return 0;
}

int deactivate_account(store::Store& db, store::Txn& t, domain::User& user) {
  user.active = false;
  int n = 0;
  if (int rc = revoke_sessions(db, t, user.id, "", "deactivated", n)) return rc;
  return revoke_api_keys(db, t, user.id, n);
}

int insert_account(store::Store& db, store::Txn& t, const domain::User& user, bool& conflict) {
  conflict = db.user_id_by_email(t, user.email).has_value() ||
             (!user.username.empty() && db.user_id_by_username(t, user.username).has_value());
  return conflict ? 0 : db.put_user(t, user);
}

}  // namespace gh
