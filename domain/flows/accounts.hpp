// Account-wide steps shared by the online flows (inside the writer's batch)
// and the operator CLI (inside its own write), so both apply the same rules.
#pragma once

#include "domain/flows/outcome.hpp"
#include "store/store.hpp"

#include <functional>
#include <optional>
#include <string>

namespace gh::flows {

/// The account with (normalised) `email`, in `out`, or nullopt when there is
/// none. A store failure is the answer (503), never an unknown email.
Outcome find_by_email(const store::Backend& db, const std::string& email, std::optional<domain::User>& out);
Outcome find_by_email(const store::ReadTxn& t, const std::string& email, std::optional<domain::User>& out);

/// Marks `user` inactive (the caller writes it) and revokes every live
/// session and API token of it.
Outcome deactivate(store::WriteTxn& t, domain::User& user);

/// A change of a stored account: may refuse (its Failure is the answer) and
/// may write more in the same transaction.
using Change = std::function<Outcome(store::WriteTxn&, domain::User&)>;

/// Runs `change` on account `id` (not_found "no such user"), stamps it at
/// `now` and stores it; a username of another account is a conflict ("this
/// username is taken"). `out` gets the account as stored.
Outcome change_account(store::WriteTxn& t, const std::string& id, std::int64_t now, const Change& change,
                       domain::User& out);

/// Inserts a new account: conflict when its email or username is taken.
Outcome insert_account(store::WriteTxn& t, const domain::User& u);

}  // namespace gh::flows
