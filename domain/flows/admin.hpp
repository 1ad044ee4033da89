// The administration flow: changes of one account by another, held to the
// management matrix of the roles (domain/roles.hpp). One's own account is
// changed through the same update (the matrix applies only to others').
#pragma once

#include "domain/flows/registration.hpp"
#include "domain/flows/settings.hpp"
#include "domain/roles.hpp"

namespace gh::flows {

/// Who acts.
struct Actor {
  std::string user_id;
  std::string role;
};

/// Applies `patch` to account `id`: another's account needs the matrix's
/// update on its role, a new role must exist (invalid_request) and be one the
/// actor may give. `old_role` gets the role before the change.
Outcome update_user(store::WriteTxn& t, const domain::Roles& roles, const Actor& by, const std::string& id,
                    const ProfilePatch& patch, std::int64_t now, domain::User& out, std::string& old_role);

/// (De)activates account `id`: never one's own, and only with the matrix's
/// deactivate on its role. Deactivation revokes every session and API token
/// in the same transaction.
Outcome set_active(store::WriteTxn& t, const domain::Roles& roles, const Actor& by, const std::string& id,
                   bool active, std::int64_t now, domain::User& out);

/// May `by` create an account of `role`? Asked before the password is
/// hashed: the role must exist (invalid_request) and be one the matrix lets
/// the actor create (forbidden).
Outcome may_create(const domain::Roles& roles, const Actor& by, const std::string& role);

/// Creates the account (may_create() first): conflict when its email or
/// username is taken.
Outcome create_user(store::WriteTxn& t, const domain::Roles& roles, const Actor& by, const domain::User& u);

}  // namespace gh::flows
