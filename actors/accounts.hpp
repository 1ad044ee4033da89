// Account changes shared by the user actor (inside the writer's batch) and
// the offline CLI commands (inside their own write transaction), so both
// apply the same rules. Each returns an LMDB code (0 = success).
#pragma once

#include "store/store.hpp"

namespace gh {

/// Marks the user inactive and revokes every live session and API key of it.
int deactivate_account(store::Store& db, store::Txn& t, store::User& user);

/// Writes a new user; `conflict` is set (and nothing written) when its email
/// or username is taken.
int insert_account(store::Store& db, store::Txn& t, const store::User& user, bool& conflict);

}  // namespace gh
