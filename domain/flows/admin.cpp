#include "domain/flows/admin.hpp"

namespace gh::flows {
namespace {

Failure forbidden(const char* why) { return fail(Errc::forbidden, why); }

}  // namespace

Outcome update_user(store::WriteTxn& t, const domain::Roles& roles, const Actor& by, const std::string& id,
                    const ProfilePatch& patch, std::int64_t now, domain::User& out, std::string& old_role) {
  return change_account(t, id, now, [&](store::WriteTxn&, domain::User& u) -> Outcome {
    old_role = u.role;
    bool own = by.user_id == u.id;
    if (!own && !roles.may(by.role, domain::Manage::update, u.role))
      return forbidden("your role may not change this user");
    if (patch.role && *patch.role != u.role) {
      if (!roles.exists(*patch.role)) return fail(Errc::invalid_request, "unknown role");
      if (!roles.may(by.role, domain::Manage::update, *patch.role)) return forbidden("your role may not give this role");
      u.role = *patch.role;
    }
    apply_profile(patch, u);
    return done();
  }, out);
}

Outcome set_active(store::WriteTxn& t, const domain::Roles& roles, const Actor& by, const std::string& id,
                   bool active, std::int64_t now, domain::User& out) {
  return change_account(t, id, now, [&](store::WriteTxn& t, domain::User& u) -> Outcome {
    if (by.user_id == u.id) return forbidden("you cannot change your own activation");
    if (!roles.may(by.role, domain::Manage::deactivate, u.role))
      return forbidden("your role may not (de)activate this user");
    if (active) {
      u.active = true;
      return done();
    }
    return deactivate(t, u);
  }, out);
}

Outcome may_create(const domain::Roles& roles, const Actor& by, const std::string& role) {
  if (!roles.exists(role)) return fail(Errc::invalid_request, "unknown role");
  if (!roles.may(by.role, domain::Manage::create, role)) return forbidden("your role may not create users with this role");
  return done();
}

Outcome create_user(store::WriteTxn& t, const domain::Roles& roles, const Actor& by, const domain::User& u) {
  if (auto f = may_create(roles, by, u.role)) return f;
  return insert_account(t, u);
}

}  // namespace gh::flows
