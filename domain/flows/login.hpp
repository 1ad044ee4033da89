// The login flow: email and password to a session. Every refusal (unknown
// email, wrong password, inactive, backing off) costs one hash of the same
// cost (the caller verifies a dummy hash for an unknown email) and gets the
// same answer; only the audit reason tells them apart.
#pragma once

#include "domain/backoff.hpp"
#include "domain/device_failures.hpp"
#include "domain/flows/outcome.hpp"
#include "store/store.hpp"

#include <optional>
#include <string>

namespace gh::flows {

/// Is the login backing off? A known device (`device` not empty) waits only
/// for its own failures; any other client for the account's, which anyone
/// can cause.
bool backing_off(const domain::Backoff& backoff, const domain::DeviceFailures& devices, const std::string& device,
                 const domain::User& user, std::int64_t now);

/// What the password check (already made) and the account say.
struct LoginFacts {
  bool known = false;          ///< the email has an account
  bool waiting = false;        ///< backing_off() before the check
  bool password_ok = false;
  bool active = true;
  bool email_verified = false;
  bool allow_unverified = false;  ///< auth.allow_unverified_login
  bool by_device = false;         ///< a known device logs in
  bool had_failures = false;      ///< the account's failure count is not 0
  bool rehash = false;            ///< the hasher handed a hash with current parameters
};

enum class LoginVerdict { unknown_user, throttled, inactive, wrong_password, unverified, succeeded };

/// What a login decided: its answer and the bookkeeping that goes with it.
struct LoginDecision {
  LoginVerdict verdict = LoginVerdict::unknown_user;
  bool count_account_failure = false;  ///< record_attempt(failed = true)
  bool count_device_failure = false;   ///< devices.failed(device)
  bool clear_account = false;          ///< record_attempt(failed = false)
  bool clear_device = false;           ///< devices.succeeded(device)
  bool upgrade_hash = false;           ///< store the rehash
  bool open_session = false;
  /// The audit reason of a refusal ("" on success, "unverified" answers 403).
  const char* reason() const;
  /// The answer of a refusal: nothing on success.
  Outcome answer() const;
};
LoginDecision decide_login(const LoginFacts& f);

/// The one answer of every refused login.
Failure bad_login();

/// Counts a failed login (`failed`) or clears the count after a success, at
/// `now`. An account gone meanwhile is no failure (nothing to count).
Outcome record_attempt(store::WriteTxn& t, const std::string& user_id, bool failed, const domain::Backoff& backoff,
                       std::int64_t now);

/// Stores a hash made with the current parameters, unless the password
/// changed meanwhile (or the account is gone): then nothing.
Outcome upgrade_hash(store::WriteTxn& t, const std::string& user_id, const std::string& old_phc,
                     const std::string& new_phc, std::int64_t now);

}  // namespace gh::flows
