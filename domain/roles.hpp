// Roles, their permissions and the management matrix.
//
// Built in: `user` (manages nobody), `manager` (reads users, manages `user`),
// `admin` (everything). config/roles.toml may redefine them and add custom
// roles. A permission "*" grants every permission; a matrix entry "*" means
// every role.
//
// Permissions in use:
//   users:read   GET /admin/users, GET /admin/users/{id}
//   users:write  POST /admin/users, PATCH /admin/users/{id}, deactivate, reactivate
//   audit:read   GET /admin/audit
// (what a user may do to its own profile, sessions and API tokens needs no
// permission: only authentication.) Which *target* roles an actor may create,
// update (including the role it gives) or deactivate is the matrix's job.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>

namespace gh::domain {

enum class Manage { create, update, deactivate };

struct Role {
  std::set<std::string> permissions;
  std::set<std::string> create, update, deactivate;  ///< target roles
};

class Roles {
 public:
  /// user, manager and admin with their default rights.
  static Roles builtin();
  /// The built-in roles overlaid with a roles.toml file; throws
  /// std::runtime_error naming the problem (unknown key, unknown role in a matrix).
  static Roles load(const std::string& path);

  bool exists(const std::string& role) const { return roles_.count(role) != 0; }
  bool has(const std::string& role, const std::string& permission) const;
  /// May a holder of `actor` do `what` to an account whose role is `target`?
  bool may(const std::string& actor, Manage what, const std::string& target) const;
  const std::map<std::string, Role>& all() const { return roles_; }

 private:
  std::map<std::string, Role> roles_;
};

}  // namespace gh::domain
