#include "domain/flows/registration.hpp"

#include "domain/base64url.hpp"

namespace gh::flows {

Outcome decide_sign_up(const store::Backend& db, const std::string& email, ExistingEmail policy, SignUpPath& path,
                       domain::User& existing) {
  std::optional<domain::User> found;
  if (auto f = find_by_email(db, email, found)) return f;
  path = SignUpPath::create;
  if (!found) return done();
  if (policy == ExistingEmail::conflict) return fail(Errc::conflict, "an account with this email already exists");
  existing = std::move(*found);
  path = SignUpPath::notify_existing;
  return done();
}

domain::User new_account(const SignUp& req, std::string phc, std::int64_t now) {
  domain::User u;
  u.id = domain::random_id();
  u.email = req.email;
  u.username = req.username;
  u.full_name = req.full_name;
  u.role = req.role;
  u.data = req.data;
  u.password_hash = std::move(phc);
  u.created_at = u.updated_at = now;
  return u;
}

}  // namespace gh::flows
