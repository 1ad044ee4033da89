#include "actors/actors.hpp"
#include "domain/flows/accounts.hpp"
#include "domain/flows/links.hpp"
#include "domain/flows/sessions.hpp"

#include "domain/base64url.hpp"
#include "domain/device_failures.hpp"
#include "domain/pkce.hpp"
#include "domain/redirect.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"
#include "telemetry/trace.hpp"

#include <limits>
#include <map>

namespace gh {
namespace {

struct user_state {
  store::Backend* store = nullptr;
  writer_actor writer;
  hasher_actor hasher;
  session_actor sessions;
  std::string dummy_phc;  ///< verified for unknown emails: same cost as a real one
  std::shared_ptr<const domain::Roles> roles;
  AccountOptions opts;
  Notifier notifier;
  domain::DeviceFailures devices;   ///< password logins, by device id (domain/device.hpp)
  domain::DeviceFailures changes;   ///< /auth/password/change, by session id
  static inline const char* name = "gh.users";
};

using user_ptr = user_actor::stateful_pointer<user_state>;
using auth_promise = caf::typed_response_promise<AuthResult>;

caf::error forbidden(const char* why) { return make_error(Errc::forbidden, why); }
caf::error bad_login() { return make_error(Errc::invalid_credentials, "invalid email or password"); }

// The account with `email`: ok, not_found, or a store failure (answered 503,
// never as an unknown email).
store::Status find_by_email(const store::Backend& db, const std::string& email, domain::User& out) {
  store::Status st;
  auto t = db.read(st);
  return t ? t->user_by_email(email, out) : st;
}

// Opens a session for `user` and answers with it; `first` runs in the same
// transaction, before the session is written (see the session actor's create).
template <class Done>
void open_session(user_ptr self, auth_promise rp, domain::User user, ClientInfo client, WriteOp first,
                  Done done) {
  self->request(self->state.sessions, caf::infinite, create_atom::value, user, std::move(client), std::move(first))
      .then(
          [=](TokenPair& t) mutable {
            done(user);
            rp.deliver(AuthResult{user, std::move(t), {}});
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

void open_session(user_ptr self, auth_promise rp, domain::User user, ClientInfo client) {
  open_session(self, rp, std::move(user), std::move(client), WriteOp{}, [](const domain::User&) {});
}

// Stores a hash made with the current parameters, unless the password
// changed meanwhile. Best effort: the login does not wait for it.
void upgrade_hash(user_ptr self, const domain::User& user, std::string new_phc) {
  WriteOp op{[id = user.id, old = user.password_hash, new_phc](store::WriteTxn& t) -> caf::error {
    domain::User u;
    auto st = t.user(id, u);
    if (st.is_not_found() || (st.ok() && u.password_hash != old)) return caf::none;
    if (!st.ok()) return store_error(st);
    u.password_hash = new_phc;
    u.updated_at = now_s();
    return store_error_if(t.update_user(u));
  }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then([](bool) {}, [id = user.id](caf::error&) {
        telemetry::log_warn("password rehash not stored", {{"user_id", id}});
      });
}

// Counts a failed login (failed = true) or clears the count after a success.
// Not awaited: the answer does not wait for it, so every failure answers in
// the same time; group commit makes it durable within one fsync.
void record_attempt(user_ptr self, const std::string& id, bool failed) {
  auto backoff = self->state.opts.backoff;
  WriteOp op{[id, failed, backoff](store::WriteTxn& t) -> caf::error {
    domain::User u;
    auto st = t.user(id, u);
    if (st.is_not_found()) return caf::none;
    if (!st.ok()) return store_error(st);
    auto now = now_s();
    u.failed_logins = failed ? backoff.live_count(u.failed_logins, u.last_failed_at, now) + 1 : 0;
    if (failed) u.last_failed_at = now;
    return store_error_if(t.update_user(u));
  }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then([](bool) {}, [id](caf::error&) {
        telemetry::log_warn("login attempt not recorded", {{"user_id", id}});
      });
}

// Most devices, and sessions changing their password, whose failures are
// remembered (domain/device_failures.hpp says which go first beyond it).
constexpr std::size_t kMaxFailureKeys = 100'000;

// Is the login backing off? A known device (req.device) waits only for its
// own failures; any other client for the account's, which anyone can cause.
bool backing_off(user_state& st, const LoginRequest& req, const domain::User& user) {
  if (req.device.empty()) return st.opts.backoff.throttled(user.failed_logins, user.last_failed_at, now_s());
  return st.devices.throttled(req.device, now_s());
}

// Every refusal — unknown email, wrong password, inactive, backing off — runs
// one hash of the same cost and gives the same answer.
auth_promise login(user_ptr self, LoginRequest& req) {
  auto rp = self->make_response_promise<AuthResult>();
  std::optional<domain::User> user(std::in_place);
  auto st = find_by_email(*self->state.store, req.email, *user);
  if (st.failed()) {
    rp.deliver(store_error(st));
    return rp;
  }
  if (!st.ok()) user.reset();
  bool waiting = user && backing_off(self->state, req, *user);
  HashJob job{true, std::move(req.password), user ? user->password_hash : self->state.dummy_phc};
  telemetry::SpanTimer span(req.client.trace_id, req.client.span_id, "hash.verify");
  self->request(self->state.hasher, caf::infinite, hash_atom::value, std::move(job))
      .then(
          [=](HashResult& r) mutable {
            span.end();
            auto failed = [&](const char* reason, const std::string& subject) {
              telemetry::record_login(reason);
              self->state.opts.audit.publish(audit_event("login_failed", req.client, "", subject,
                                                         {{"reason", reason}, {"email", req.email}}));
              rp.deliver(bad_login());
            };
            if (!user) return failed("unknown_user", "");
            if (waiting) return failed("throttled", user->id);
            if (!r.ok || !user->active) {
              if (req.device.empty()) record_attempt(self, user->id, true);
              else self->state.devices.failed(req.device, now_s());
              return failed(r.ok ? "inactive" : "wrong_password", user->id);
            }
            // A known device's success clears only its own count: the
            // account's counts other clients' failures, which it says nothing about.
            if (!req.device.empty()) self->state.devices.succeeded(req.device);
            else if (user->failed_logins) record_attempt(self, user->id, false);
            if (!r.phc.empty()) upgrade_hash(self, *user, r.phc);
            if (!user->email_verified && !self->state.opts.auth.allow_unverified_login) {
              rp.deliver(forbidden("verify your email address first"));
              return;
            }
            self->state.opts.audit.publish(audit_event("login_succeeded", req.client, user->id, user->id));
            telemetry::record_login("succeeded");
            open_session(self, rp, *user, req.client);
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

// Inserts a new user unless its email or username is taken.
std::function<caf::error(store::WriteTxn&)> insert_op(domain::User u) {
  return [u](store::WriteTxn& t) -> caf::error { return store_error_if(t.insert_user(u)); };
}

// Hashes a new password on the pool and calls `next` with its PHC string;
// failures are delivered to `rp`.
template <class Promise, class Next>
void hash_new_password(user_ptr self, std::string password, Promise rp, Next next) {
  HashJob job{false, std::move(password), {}};
  self->request(self->state.hasher, caf::infinite, hash_atom::value, std::move(job))
      .then(
          [=](HashResult& r) mutable {
            if (!r.ok) {
              rp.deliver(make_error(Errc::internal, "internal error"));
              return;
            }
            next(std::move(r.phc));
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

// The draft user with a new id, its password hash and creation time.
domain::User completed(domain::User draft, std::string phc) {
  draft.id = domain::random_id();
  draft.password_hash = std::move(phc);
  draft.created_at = draft.updated_at = now_s();
  return draft;
}

// Hashes `password` into the draft user, gives it an id, inserts it (unless
// its email or username is taken) and calls `done` with it after the commit.
// Failures are delivered to `rp`.
template <class Promise, class Done>
void add_user(user_ptr self, domain::User draft, std::string password, Promise rp, Done done) {
  hash_new_password(self, std::move(password), rp, [=](std::string phc) mutable {
    auto u = completed(draft, std::move(phc));
    self->request(self->state.writer, caf::infinite, write_atom::value, WriteOp{insert_op(u)})
        .then([=](bool) mutable { done(u); }, [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  });
}

caf::result<bool> request_link(user_ptr self, LinkRequest& req);

// auth.existing_email = "conflict": an existing email answers 409; a new
// account gets a session at once.
// auth.existing_email = "notify": nothing tells the two apart. Both cost one
// hash; a new account gets no session but a verification mail, an existing
// one's owner gets an "account exists" mail; both answer with an AuthResult
// without tokens (HTTP: 202 accepted).
auth_promise register_user(user_ptr self, RegisterRequest& req) {
  auto rp = self->make_response_promise<AuthResult>();
  bool hide = self->state.opts.auth.existing_email == "notify";
  auto existing = std::make_shared<domain::User>();
  auto st = find_by_email(*self->state.store, req.email, *existing);
  if (st.failed()) {
    rp.deliver(store_error(st));
    return rp;
  }
  if (st.ok()) {
    if (!hide) {  // cheap early answer; the insert checks again in its transaction
      rp.deliver(make_error(Errc::conflict, "an account with this email already exists"));
      return rp;
    }
    // The same hash a new account costs, so the answer takes as long.
    hash_new_password(self, std::move(req.password), rp, [=](std::string) mutable {
      self->state.notifier.send({"account_exists", existing->email, "", 0, req.client.request_id});
      rp.deliver(AuthResult{});
    });
    return rp;
  }
  domain::User u;
  u.email = req.email;
  u.username = req.username;
  u.full_name = req.full_name;
  u.data = req.data;
  auto registered = [=, client = req.client](const domain::User& added) {
    self->state.opts.audit.publish(audit_event("register", client, added.id, added.id));
  };
  if (!hide) {  // the user and its first session in one commit
    hash_new_password(self, std::move(req.password), rp, [=, client = req.client](std::string phc) mutable {
      auto added = completed(u, std::move(phc));
      open_session(self, rp, added, client, WriteOp{insert_op(added)}, registered);
    });
    return rp;
  }
  add_user(self, std::move(u), std::move(req.password), rp,
           [=, client = req.client](const domain::User& added) mutable {
             registered(added);
             LinkRequest verify{"verify", added.email, "", client};
             request_link(self, verify);
             rp.deliver(AuthResult{});
           });
  return rp;
}


// Runs `change` on the stored user `id` inside one write transaction and
// answers with the user as stored.
template <class Change>
caf::typed_response_promise<domain::User> change_user(user_ptr self, std::string id, Change change,
                                                     std::function<void(const domain::User&)> after = {}) {
  auto rp = self->make_response_promise<domain::User>();
  auto out = std::make_shared<domain::User>();
  WriteOp op{[id, change, out](store::WriteTxn& t) -> caf::error {
    domain::User u;
    if (auto st = t.user(id, u); !st.ok()) return store_error(st, "no such user");
    if (auto err = change(t, u)) return err;
    u.updated_at = now_s();
    if (auto st = t.update_user(u); !st.ok())
      return st.is_conflict() ? make_error(Errc::conflict, "this username is taken") : store_error(st);
    *out = std::move(u);
    return caf::none;
  }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then(
          [=](bool) mutable {
            if (after) after(*out);
            rp.deliver(*out);
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::typed_response_promise<domain::User> update(user_ptr self, ActingUser& by, std::string& id,
                                                UserPatch& patch) {
  auto roles = self->state.roles;
  auto old_role = std::make_shared<std::string>();
  auto audit = self->state.opts.audit;
  auto after = [audit, by, old_role, patch](const domain::User& u) {
    nlohmann::json fields = nlohmann::json::array();
    for (auto [name, set] : {std::pair{"full_name", bool(patch.full_name)}, {"username", bool(patch.username)},
                             {"onboarding", bool(patch.onboarding)}, {"data", bool(patch.data)},
                             {"role", bool(patch.role)}, {"email_verified", bool(patch.email_verified)}})
      if (set) fields.push_back(name);
    audit.publish(audit_event("user_updated", by.client, by.user_id, u.id, {{"fields", fields}}));
    if (*old_role != u.role)
      audit.publish(audit_event("role_changed", by.client, by.user_id, u.id, {{"from", *old_role}, {"to", u.role}}));
  };
  return change_user(self, id, [roles, by, patch, old_role](store::WriteTxn&, domain::User& u) -> caf::error {
    *old_role = u.role;
    bool own = by.user_id == u.id;
    if (!own && !roles->may(by.role, domain::Manage::update, u.role))
      return forbidden("your role may not change this user");
    if (patch.role && *patch.role != u.role) {
      if (!roles->exists(*patch.role)) return make_error(Errc::invalid_request, "unknown role");
      if (!roles->may(by.role, domain::Manage::update, *patch.role))
        return forbidden("your role may not give this role");
      u.role = *patch.role;
    }
    if (patch.username) u.username = *patch.username;  // the store refuses another's (conflict)
    if (patch.full_name) u.full_name = *patch.full_name;
    if (patch.onboarding) u.onboarding = *patch.onboarding;
    if (patch.data) u.data = *patch.data;
    if (patch.email_verified) u.email_verified = *patch.email_verified;
    return caf::none;
  }, after);
}

// Deactivation revokes every session and API key in the same transaction.
caf::typed_response_promise<domain::User> set_active(user_ptr self, ActingUser& by, std::string& id,
                                                    bool active) {
  auto roles = self->state.roles;
  return change_user(self, id, [roles, by, active](store::WriteTxn& t, domain::User& u) -> caf::error {
    if (by.user_id == u.id) return forbidden("you cannot change your own activation");
    if (!roles->may(by.role, domain::Manage::deactivate, u.role))
      return forbidden("your role may not (de)activate this user");
    if (active) {
      u.active = true;
      return caf::none;
    }
    return to_error(flows::deactivate(t, u));
  }, [audit = self->state.opts.audit, by, active](const domain::User& u) {
    audit.publish(audit_event(active ? "user_reactivated" : "user_deactivated", by.client, by.user_id, u.id));
  });
}

caf::typed_response_promise<domain::User> create(user_ptr self, ActingUser& by, NewUser& nu) {
  auto rp = self->make_response_promise<domain::User>();
  auto& roles = *self->state.roles;
  if (!roles.exists(nu.role)) {
    rp.deliver(make_error(Errc::invalid_request, "unknown role"));
    return rp;
  }
  if (!roles.may(by.role, domain::Manage::create, nu.role)) {
    rp.deliver(forbidden("your role may not create users with this role"));
    return rp;
  }
  domain::User u;
  u.email = nu.email;
  u.role = nu.role;
  u.username = nu.username;
  u.full_name = nu.full_name;
  u.data = nu.data;
  add_user(self, std::move(u), std::move(nu.password), rp,
           [rp, by, audit = self->state.opts.audit](const domain::User& added) mutable {
             audit.publish(audit_event("user_created", by.client, by.user_id, added.id, {{"role", added.role}}));
             rp.deliver(added);
           });
  return rp;
}

caf::typed_response_promise<domain::User> put_avatar(user_ptr self, std::string& id,
                                                    domain::Avatar& avatar, std::string& url) {
  return change_user(self, id, [avatar, url](store::WriteTxn& t, domain::User& u) -> caf::error {
    if (auto st = t.put_avatar(u.id, avatar); !st.ok()) return store_error(st);
    u.avatar_url = url;
    return caf::none;
  });
}

// ---- one-time tokens: magic links, email verification, password reset ----

const char* kind_of(const std::string& purpose) {
  return purpose == "magic" ? "magic_link" : purpose == "verify" ? "verify_email" : "reset_password";
}

std::int64_t ttl_of(const config::Auth& a, const std::string& purpose) {
  return purpose == "magic" ? a.magic_link_ttl_s : purpose == "verify" ? a.verify_ttl_s : a.reset_ttl_s;
}

// Answers at once, alike for every email; then, if the email has an active
// account with fewer than auth.max_live_links live links of this purpose,
// issues the token (earlier ones stay valid) and sends the link once the
// token is durable.
caf::result<bool> request_link(user_ptr self, LinkRequest& req) {
  auto user = std::make_shared<domain::User>();
  auto st = find_by_email(*self->state.store, req.email, *user);
  if (st.failed()) return store_error(st);
  if (!st.ok() || !user->active) return true;
  auto token = domain::b64url_encode(domain::random_bytes(32));
  auto now = now_s();
  auto expires = now + ttl_of(self->state.opts.auth, req.purpose);
  // A magic link's redirect and the application's PKCE challenge are bound
  // to the token, never carried in the link.
  bool magic = req.purpose == "magic";
  domain::OneTimeToken otp{req.purpose, user->id, expires, false, magic ? req.redirect_to : "",
                          magic ? req.code_challenge : ""};
  auto issued = std::make_shared<bool>(false);
  WriteOp op{[otp, hash = domain::blake2b256(token), max = self->state.opts.auth.max_live_links, now,
              issued](store::WriteTxn& t) -> caf::error {
    return store_error_if(t.issue_otp(hash, otp, max, now, *issued));
  }};
  static const std::map<std::string, std::string> paths = {
      {"magic", "/auth/magic-link"}, {"verify", "/auth/verify-email"}, {"reset", "/auth/password/reset"}};
  auto link = self->state.opts.public_url + paths.at(req.purpose) + "?token=" + token;
  domain::Notification n{kind_of(req.purpose), user->email, link, expires, req.client.request_id,
                        req.client.trace_id, req.client.span_id};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then([notifier = self->state.notifier, n, audit = self->state.opts.audit, issued,
             ev = audit_event(req.purpose == "magic" ? "magic_link_sent"
                              : req.purpose == "verify" ? "verification_sent" : "reset_link_sent",
                              req.client, "", user->id)](bool) mutable {
              if (!*issued) {  // the owner still has the live ones
                ev.type = "link_suppressed";
                ev.details = {{"kind", n.kind}, {"reason", "live_link_limit"}};
                audit.publish(ev);
                return;
              }
              notifier.send(n);
              audit.publish(ev);
            },
            [id = user->id](caf::error&) { telemetry::log_error("one-time token not stored", {{"user_id", id}}); });
  return true;
}

// How long the code of a magic link with a redirect lives: the browser
// lands on the application, whose backend exchanges it at once.
constexpr std::int64_t kMagicCodeTtlS = 60;

// magic: signs in (and marks the email verified: the link reached it); with
// a bound redirect it opens no session but issues a code, in the same commit
// that uses the link, and answers the redirect URL carrying it.
// code: the application exchanges that code; signs in like magic.
// verify: marks the email verified; the answer carries no tokens.
auth_promise redeem(user_ptr self, std::string& purpose, std::string& token, std::string& verifier,
                    ClientInfo& client) {
  auto rp = self->make_response_promise<AuthResult>();
  auto* db = self->state.store;
  auto out = std::make_shared<domain::User>();
  auto hash = domain::blake2b256(token);
  WriteOp op{[purpose, hash, verifier, out](store::WriteTxn& t) -> caf::error {
    if (auto f = flows::consume_token(t, hash, purpose, now_s(), *out, verifier)) return to_error(f);
    out->email_verified = true;
    out->updated_at = now_s();
    return store_error_if(t.update_user(*out));
  }};
  if (purpose == "magic" || purpose == "code") {
    // The link is used and the session opened in one commit: a 503 leaves
    // the link unused. The session needs its user before the transaction,
    // so the link is looked up first and must still name that user inside.
    auto otp = std::make_shared<domain::OneTimeToken>();
    auto user = std::make_shared<domain::User>();
    store::Status st;
    auto t = db->read(st);
    flows::Outcome found = t ? flows::peek_token(*t, hash, *otp, *user) : flows::store_failure(st);
    t.reset();
    if (found) {
      rp.deliver(to_error(found));
      return rp;
    }
    if (purpose == "magic" && !otp->redirect_to.empty()) {
      // A record's redirect and challenge never change (only `used` is
      // rewritten), so the one read above is the one consumed. The code
      // carries the challenge: its exchange must prove it.
      auto code = domain::b64url_encode(domain::random_bytes(32));
      auto redirect = domain::with_query(otp->redirect_to, "code", code);
      WriteOp with_code{[op = std::move(op.fn), out, code_hash = domain::blake2b256(code),
                         challenge = otp->code_challenge](store::WriteTxn& t) -> caf::error {
        if (auto err = op(t)) return err;
        auto now = now_s();
        domain::OneTimeToken c{"code", out->id, now + kMagicCodeTtlS, false, "", challenge};
        bool issued = false;  // uncapped: each code comes from a link used in this commit
        return store_error_if(t.issue_otp(code_hash, c, std::numeric_limits<int>::max(), now, issued));
      }};
      self->request(self->state.writer, caf::infinite, write_atom::value, std::move(with_code))
          .then(
              [=](bool) mutable {
                self->state.opts.audit.publish(audit_event("magic_link_used", client, out->id, out->id,
                                                           {{"code_issued", true}}));
                rp.deliver(AuthResult{*out, {}, redirect});
              },
              [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    }
    user->email_verified = true;
    WriteOp first{[op = std::move(op.fn), out, id = user->id](store::WriteTxn& t) -> caf::error {
      if (auto err = op(t)) return err;
      return out->id == id ? caf::none : make_error(Errc::invalid_grant, "the link is invalid or has expired");
    }};
    const char* event = purpose == "magic" ? "magic_link_used" : "magic_code_exchanged";
    open_session(self, rp, *user, client, std::move(first), [=](const domain::User& u) {
      self->state.opts.audit.publish(audit_event(event, client, u.id, u.id));
    });
    return rp;
  }
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then(
          [=](bool) mutable {
            self->state.opts.audit.publish(audit_event("email_verified", client, out->id, out->id));
            rp.deliver(AuthResult{*out, {}, {}});
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

// Hashes the new password, then in one transaction: checks the token or the
// current hash, stores the new hash, revokes sessions (all, or all but
// `keep`) when `revoke`, and every API token when `revoke_keys`, clears the
// login back-off. Then sends the security alert, which says what was revoked.
template <class Check>
void set_password(user_ptr self, caf::typed_response_promise<bool> rp, std::string new_password,
                  std::string keep, bool revoke, bool revoke_keys, ClientInfo client, const char* event,
                  Check check) {
  hash_new_password(self, std::move(new_password), rp, [=](std::string phc) mutable {
    auto out = std::make_shared<domain::User>();
    auto counts = std::make_shared<std::pair<int, int>>(0, 0);  // sessions, API tokens
    WriteOp op{[check, phc, keep, revoke, revoke_keys, out, counts](store::WriteTxn& t) -> caf::error {
      *counts = {0, 0};  // a retried op counts afresh
      if (auto err = check(t, *out)) return err;
      out->password_hash = phc;
      out->failed_logins = 0;
      ++out->device_epoch;  // voids every device token issued under the old password
      out->updated_at = now_s();
      if (auto st = t.update_user(*out); !st.ok()) return store_error(st);
      if (revoke)
        if (auto f = flows::revoke_sessions(t, out->id, keep, "password_changed", counts->first)) return to_error(f);
      if (revoke_keys)
        if (auto f = flows::revoke_api_keys(t, out->id, counts->second)) return to_error(f);
      return caf::none;
    }};
    self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
        .then(
            [=](bool) mutable {
              domain::Notification n{"password_changed", out->email, "", 0, client.request_id, {}, {}, {}};
              n.vars = {{"sessions_revoked", std::to_string(counts->first)},
                        {"api_tokens_revoked", std::to_string(counts->second)}};
              self->state.notifier.send(n);
              if (counts->first) telemetry::record_sessions_ended(static_cast<std::size_t>(counts->first));
              self->state.opts.audit.publish(
                  audit_event(event, client, out->id, out->id,
                              {{"other_sessions_revoked", revoke}, {"sessions_revoked", counts->first},
                               {"api_tokens_revoked", counts->second}}));
              rp.deliver(true);
            },
            [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  });
}

caf::typed_response_promise<bool> reset_password(user_ptr self, std::string& token, std::string& password) {
  auto rp = self->make_response_promise<bool>();
  // Recovery: every session and every API token goes (an intruder's too).
  set_password(self, rp, std::move(password), "", true, true, ClientInfo{}, "password_reset",
               [hash = domain::blake2b256(token)](store::WriteTxn& t, domain::User& u) {
                 return to_error(flows::consume_token(t, hash, "reset", now_s(), u));
               });
  return rp;
}

// Verifies the current password first (403 when wrong), like a login.
caf::typed_response_promise<bool> change_password(user_ptr self, PasswordChange& req) {
  auto rp = self->make_response_promise<bool>();
  auto user = std::make_shared<domain::User>();
  store::Status st;
  if (auto t = self->state.store->read(st)) st = t->user(req.user_id, *user);
  if (!st.ok()) {
    rp.deliver(store_error(st, "no such user"));
    return rp;
  }
  // A wrong current password counts twice: on the account's back-off, like
  // a failed login (so this route is no way around the login limits), and
  // on the session's own. Only the session's decides whether this change
  // backs off: the account's is driven by anyone with wrong logins, and the
  // signed-in owner must still be able to change the password. While the
  // session backs off, the answer is that of a wrong password.
  bool waiting = self->state.changes.throttled(req.session_id, now_s());
  HashJob job{true, std::move(req.current_password), user->password_hash};
  self->request(self->state.hasher, caf::infinite, hash_atom::value, std::move(job))
      .then(
          [=](HashResult& r) mutable {
            if (waiting || !r.ok) {
              if (!waiting) {
                record_attempt(self, user->id, true);
                self->state.changes.failed(req.session_id, now_s());
              }
              self->state.opts.audit.publish(audit_event("password_change_failed", req.client, user->id, user->id,
                                                         {{"reason", waiting ? "throttled" : "wrong_password"}}));
              rp.deliver(forbidden("the current password is wrong"));
              return;
            }
            self->state.changes.succeeded(req.session_id);
            auto old = user->password_hash;
            set_password(self, rp, req.new_password, req.session_id, req.revoke_other_sessions,
                         req.revoke_api_tokens, req.client, "password_changed",
                         [id = user->id, old](store::WriteTxn& t, domain::User& u) -> caf::error {
                           domain::User cur;
                           auto st = t.user(id, cur);
                           if (st.failed()) return store_error(st);
                           if (!st.ok() || cur.password_hash != old)
                             return make_error(Errc::conflict, "the password changed meanwhile");
                           u = std::move(cur);
                           return caf::none;
                         });
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

user_actor::behavior_type user_fn(user_ptr self, store::Backend* db, writer_actor writer,
                                  hasher_actor hasher, session_actor sessions,
                                  std::string dummy_phc,
                                  std::shared_ptr<const domain::Roles> roles,
                                  AccountOptions opts, Notifier notifier) {
  auto& st = self->state;
  st.roles = std::move(roles);
  st.opts = std::move(opts);
  st.devices = domain::DeviceFailures(st.opts.backoff, kMaxFailureKeys);
  st.changes = domain::DeviceFailures(st.opts.backoff, kMaxFailureKeys);
  st.notifier = std::move(notifier);
  st.store = db;
  st.writer = std::move(writer);
  st.hasher = std::move(hasher);
  st.sessions = std::move(sessions);
  st.dummy_phc = std::move(dummy_phc);
  return {
      [=](register_atom, RegisterRequest& req) { return register_user(self, req); },
      [=](login_atom, LoginRequest& req) { return login(self, req); },
      [=](update_atom, ActingUser& by, std::string& id, UserPatch& p) { return update(self, by, id, p); },
      [=](active_atom, ActingUser& by, std::string& id, bool on) { return set_active(self, by, id, on); },
      [=](create_atom, ActingUser& by, NewUser& u) { return create(self, by, u); },
      [=](avatar_atom, std::string& id, domain::Avatar& a, std::string& url) {
        return put_avatar(self, id, a, url);
      },
      [=](link_atom, LinkRequest& req) { return request_link(self, req); },
      [=](redeem_atom, std::string& purpose, std::string& token, std::string& verifier, ClientInfo& client) {
        return redeem(self, purpose, token, verifier, client);
      },
      [=](reset_atom, std::string& token, std::string& password) {
        return reset_password(self, token, password);
      },
      [=](passwd_atom, PasswordChange& req) { return change_password(self, req); },
      [=](ping_atom) { return true; },
  };
}

}  // namespace

user_actor spawn_user(caf::actor_system& sys, store::Backend& store, writer_actor writer,
                      hasher_actor hasher, session_actor sessions, std::string dummy_phc,
                      std::shared_ptr<const domain::Roles> roles, AccountOptions options,
                      Notifier notifier) {
  return sys.spawn(user_fn, &store, std::move(writer), std::move(hasher), std::move(sessions),
                   std::move(dummy_phc), std::move(roles), std::move(options), std::move(notifier));
}

}  // namespace gh
