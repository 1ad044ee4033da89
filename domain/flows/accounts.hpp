// Account-wide changes shared by the online flows (inside the writer's
// batch) and the operator CLI (inside its own write), so both apply the same
// rules.
#pragma once

#include "domain/flows/outcome.hpp"
#include "store/store.hpp"

namespace gh::flows {

/// Marks `user` inactive (the caller writes it) and revokes every live
/// session and API token of it.
Outcome deactivate(store::WriteTxn& t, domain::User& user);

}  // namespace gh::flows
