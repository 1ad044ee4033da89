// The registration flow: sign-up and its answer for an email that already
// has an account. The hash of the password is made by the caller (the hasher
// actor) between the two steps: first decide(), then account() and insert.
#pragma once

#include "domain/flows/accounts.hpp"
#include "domain/policies.hpp"

#include <nlohmann/json.hpp>

namespace gh::flows {

/// What a sign-up asks for (the email normalised, the password checked).
struct SignUp {
  std::string email;
  std::string username, full_name;
  std::string role = "user";
  nlohmann::json data = nlohmann::json::object();
};

/// auth.existing_email (domain/policies.hpp).
using domain::ExistingEmail;

/// How a sign-up goes on.
enum class SignUpPath {
  create,          ///< a new account (hash, insert)
  notify_existing  ///< hash only (the same cost), mail the owner, answer like a new one
};

/// The first step: with ExistingEmail::conflict an existing email is
/// refused (conflict; the insert checks again in its transaction); with
/// notify it goes on as notify_existing, its owner in `existing`.
Outcome decide_sign_up(const store::Backend& db, const std::string& email, ExistingEmail policy, SignUpPath& path,
                       domain::User& existing);

/// The new account of `req` with a fresh id, its password hash and creation
/// time `now` (no store access).
domain::User new_account(const SignUp& req, std::string phc, std::int64_t now);

/// Does a new account get a session at once? Not when its email must be
/// proven first (notify: it gets a verification link instead).
inline bool session_on_sign_up(ExistingEmail policy) { return policy == ExistingEmail::conflict; }

}  // namespace gh::flows
