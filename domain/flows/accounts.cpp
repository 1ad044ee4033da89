#include "domain/flows/accounts.hpp"

#include "domain/flows/sessions.hpp"

namespace gh::flows {

Outcome deactivate(store::WriteTxn& t, domain::User& user) {
  user.active = false;
  int n = 0;
  if (auto f = revoke_sessions(t, user.id, "", "deactivated", n)) return f;
  return revoke_api_keys(t, user.id, n);
}

}  // namespace gh::flows
