#include "domain/flows/login.hpp"

namespace gh::flows {

bool backing_off(const domain::Backoff& backoff, const domain::DeviceFailures& devices, const std::string& device,
                 const domain::User& user, std::int64_t now) {
  if (device.empty()) return backoff.throttled(user.failed_logins, user.last_failed_at, now);
  return devices.throttled(device, now);
}

Failure bad_login() { return fail(Errc::invalid_credentials, "invalid email or password"); }

LoginDecision decide_login(const LoginFacts& f) {
  LoginDecision d;
  if (!f.known) {
    d.verdict = LoginVerdict::unknown_user;
    return d;
  }
  if (f.waiting) {  // attempts made while waiting are not counted
    d.verdict = LoginVerdict::throttled;
    return d;
  }
  if (!f.password_ok || !f.active) {
    d.verdict = f.password_ok ? LoginVerdict::inactive : LoginVerdict::wrong_password;
    (f.by_device ? d.count_device_failure : d.count_account_failure) = true;
    return d;
  }
  // A known device's success clears only its own count: the account's
  // counts other clients' failures, which it says nothing about.
  if (f.by_device) d.clear_device = true;
  else d.clear_account = f.had_failures;
  d.upgrade_hash = f.rehash;
  if (!f.email_verified && !f.allow_unverified) {
    d.verdict = LoginVerdict::unverified;
    return d;
  }
  d.verdict = LoginVerdict::succeeded;
  d.open_session = true;
  return d;
}

const char* LoginDecision::reason() const {
  switch (verdict) {
    case LoginVerdict::unknown_user: return "unknown_user";
    case LoginVerdict::throttled: return "throttled";
    case LoginVerdict::inactive: return "inactive";
    case LoginVerdict::wrong_password: return "wrong_password";
    case LoginVerdict::unverified: return "unverified";
    case LoginVerdict::succeeded: return "";
  }
  return "";
}

Outcome LoginDecision::answer() const {
  switch (verdict) {
    case LoginVerdict::succeeded: return done();
    case LoginVerdict::unverified: return fail(Errc::forbidden, "verify your email address first");
    default: return bad_login();
  }
}

Outcome record_attempt(store::WriteTxn& t, const std::string& user_id, bool failed, const domain::Backoff& backoff,
                       std::int64_t now) {
  domain::User u;
  auto st = t.user(user_id, u);
  if (st.is_not_found()) return done();
  if (!st.ok()) return store_failure(st);
  u.failed_logins = failed ? backoff.live_count(u.failed_logins, u.last_failed_at, now) + 1 : 0;
  if (failed) u.last_failed_at = now;
  return check(t.update_user(u));
}

Outcome upgrade_hash(store::WriteTxn& t, const std::string& user_id, const std::string& old_phc,
                     const std::string& new_phc, std::int64_t now) {
  domain::User u;
  auto st = t.user(user_id, u);
  if (st.is_not_found() || (st.ok() && u.password_hash != old_phc)) return done();
  if (!st.ok()) return store_failure(st);
  u.password_hash = new_phc;
  u.updated_at = now;
  return check(t.update_user(u));
}

}  // namespace gh::flows
