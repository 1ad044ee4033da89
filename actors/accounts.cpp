#include "actors/accounts.hpp"

namespace gh {

int deactivate_account(store::Store& db, store::Txn& t, store::User& user) {
  user.active = false;
  for (auto& s : db.sessions_of(t, user.id)) {
    if (s.revoked) continue;
    s.revoked = true;
    s.revoke_reason = "deactivated";
    if (int rc = db.put_session(t, s)) return rc;
  }
  for (auto& [hash, k] : db.api_keys_of(t, user.id)) {
    if (k.revoked) continue;
    k.revoked = true;
    if (int rc = db.put_api_key(t, hash, k)) return rc;
  }
  return 0;
}

int insert_account(store::Store& db, store::Txn& t, const store::User& user, bool& conflict) {
  conflict = db.user_id_by_email(t, user.email).has_value() ||
             (!user.username.empty() && db.user_id_by_username(t, user.username).has_value());
  return conflict ? 0 : db.put_user(t, user);
}

}  // namespace gh
