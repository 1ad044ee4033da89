// Account changes shared by the user actor (inside the writer's batch) and
// the offline CLI commands (inside their own write transaction), so both
// apply the same rules. Each returns an LMDB code (0 = success).
#pragma once

#include "store/store.hpp"

namespace gh {

/// Marks the user inactive and revokes every live session and API key of it.
int deactivate_account(store::Store& db, store::Txn& t, domain::User& user);

/// Revokes every live session of `user_id` except `keep` (may be empty) with
/// `reason`; adds how many to `count`.
int revoke_sessions(store::Store& db, store::Txn& t, const std::string& user_id,
                    const std::string& keep, const std::string& reason, int& count);

/// Revokes every live API key of `user_id`; adds how many to `count`.
int revoke_api_keys(store::Store& db, store::Txn& t, const std::string& user_id, int& count);

/// Writes a new user; `conflict` is set (and nothing written) when its email
/// or username is taken.
int insert_account(store::Store& db, store::Txn& t, const domain::User& user, bool& conflict);

}  // namespace gh
