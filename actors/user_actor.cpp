// The user actor: registration, login, links, settings and administration as
// messages. The rules are the flows' (domain/flows/); this actor owns the
// order of the steps across its peers (hasher, writer, sessions, notifier),
// the in-memory back-off of devices and password changes, and the audit
// events, each published once what it reports is committed.
#include "actors/actors.hpp"
#include "domain/flows/admin.hpp"
#include "domain/flows/links.hpp"
#include "domain/flows/login.hpp"
#include "domain/flows/registration.hpp"
#include "domain/flows/settings.hpp"

#include "domain/base64url.hpp"
#include "domain/device_failures.hpp"
#include "domain/redirect.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"
#include "telemetry/trace.hpp"

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
  flows::LinkPolicy links;
  Notifier notifier;
  domain::DeviceFailures devices;   ///< password logins, by device id (domain/device.hpp)
  domain::DeviceFailures changes;   ///< /auth/password/change, by session id
  static inline const char* name = "gh.users";
};

using user_ptr = user_actor::stateful_pointer<user_state>;
using auth_promise = caf::typed_response_promise<AuthResult>;
using user_promise = caf::typed_response_promise<domain::User>;
using Step = std::function<flows::Outcome(store::WriteTxn&)>;

flows::Actor actor_of(const ActingUser& by) { return {by.user_id, by.role}; }

// Runs `step` in the writer's batch, then `ok` once it is durable; a refusal
// or a failure goes to `rp`. The step runs on the writer thread: it captures
// values and shared state only.
template <class Promise, class Ok>
void commit(user_ptr self, Promise rp, Step step, Ok ok) {
  WriteOp op{[step = std::move(step)](store::WriteTxn& t) -> caf::error { return to_error(step(t)); }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then([=](bool) mutable { ok(); }, [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

// Best effort, not awaited: a failure is only logged.
void commit_later(user_ptr self, Step step, const char* what, std::string user_id) {
  WriteOp op{[step = std::move(step)](store::WriteTxn& t) -> caf::error { return to_error(step(t)); }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then([](bool) {}, [what, user_id](caf::error&) { telemetry::log_warn(what, {{"user_id", user_id}}); });
}

// Opens a session for `user` and answers with it; `first` runs in the same
// transaction, before the session is written (see the session actor's
// create). `done` runs once both are committed.
template <class Done>
void open_session(user_ptr self, auth_promise rp, domain::User user, ClientInfo client, Step first, Done done) {
  WriteOp op;
  if (first) op.fn = [first = std::move(first)](store::WriteTxn& t) -> caf::error { return to_error(first(t)); };
  self->request(self->state.sessions, caf::infinite, create_atom::value, user, std::move(client), std::move(op))
      .then(
          [=](TokenPair& t) mutable {
            done(user);
            rp.deliver(AuthResult{user, std::move(t), {}});
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

// Counts a failed login (failed = true) or clears the count after a success.
// Not awaited: the answer does not wait for it, so every failure answers in
// the same time; group commit makes it durable within one fsync.
void record_attempt(user_ptr self, const std::string& id, bool failed) {
  commit_later(self, [id, failed, backoff = self->state.opts.backoff](store::WriteTxn& t) {
    return flows::record_attempt(t, id, failed, backoff, now_s());
  }, "login attempt not recorded", id);
}

// Most devices, and sessions changing their password, whose failures are
// remembered (domain/device_failures.hpp says which go first beyond it).
constexpr std::size_t kMaxFailureKeys = 100'000;

// ---- login ----

auth_promise login(user_ptr self, LoginRequest& req) {
  auto rp = self->make_response_promise<AuthResult>();
  auto& st = self->state;
  std::optional<domain::User> user;
  if (auto f = flows::find_by_email(*st.store, req.email, user)) {
    rp.deliver(to_error(f));
    return rp;
  }
  bool waiting = user && flows::backing_off(st.opts.backoff, st.devices, req.device, *user, now_s());
  HashJob job{true, std::move(req.password), user ? user->password_hash : st.dummy_phc};
  telemetry::SpanTimer span(req.client.trace_id, req.client.span_id, "hash.verify");
  self->request(st.hasher, caf::infinite, hash_atom::value, std::move(job))
      .then(
          [=](HashResult& r) mutable {
            span.end();
            auto& st = self->state;
            flows::LoginFacts facts;
            facts.known = bool(user);
            facts.waiting = waiting;
            facts.password_ok = r.ok;
            facts.by_device = !req.device.empty();
            facts.rehash = !r.phc.empty();
            facts.allow_unverified = st.opts.auth.allow_unverified_login;
            if (user) {
              facts.active = user->active;
              facts.email_verified = user->email_verified;
              facts.had_failures = user->failed_logins != 0;
            }
            auto d = flows::decide_login(facts);
            auto id = user ? user->id : std::string();
            if (d.count_account_failure) record_attempt(self, id, true);
            if (d.count_device_failure) st.devices.failed(req.device, now_s());
            if (d.clear_device) st.devices.succeeded(req.device);
            if (d.clear_account) record_attempt(self, id, false);
            if (d.upgrade_hash)  // the login does not wait for it
              commit_later(self, [id, old = user->password_hash, phc = r.phc](store::WriteTxn& t) {
                return flows::upgrade_hash(t, id, old, phc, now_s());
              }, "password rehash not stored", id);
            if (!d.open_session) {
              if (d.verdict != flows::LoginVerdict::unverified) {
                telemetry::record_login(d.reason());
                st.opts.audit.publish(audit_event("login_failed", req.client, "", id,
                                                  {{"reason", d.reason()}, {"email", req.email}}));
              }
              rp.deliver(to_error(d.answer()));
              return;
            }
            // Published once the session is committed: a 503 there is no login.
            open_session(self, rp, *user, req.client, Step{}, [self, client = req.client](const domain::User& u) {
              self->state.opts.audit.publish(audit_event("login_succeeded", client, u.id, u.id));
              telemetry::record_login("succeeded");
            });
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

// ---- registration and creation ----

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

caf::result<bool> request_link(user_ptr self, LinkRequest& req);

// auth.existing_email = "conflict": an existing email answers 409; a new
// account gets a session at once, in the commit that inserts it.
// auth.existing_email = "notify": nothing tells the two apart. Both cost one
// hash; a new account gets no session but a verification mail, an existing
// one's owner gets an "account exists" mail; both answer with an AuthResult
// without tokens (HTTP: 202 accepted).
auth_promise register_user(user_ptr self, RegisterRequest& req) {
  auto rp = self->make_response_promise<AuthResult>();
  auto policy = self->state.opts.auth.existing_email;
  auto path = flows::SignUpPath::create;
  domain::User existing;
  if (auto f = flows::decide_sign_up(*self->state.store, req.email, policy, path, existing)) {
    rp.deliver(to_error(f));
    return rp;
  }
  if (path == flows::SignUpPath::notify_existing) {
    // The same hash a new account costs, so the answer takes as long.
    hash_new_password(self, std::move(req.password), rp, [=, to = existing.email, rid = req.client.request_id](std::string) mutable {
      self->state.notifier.send({"account_exists", to, "", 0, rid, {}, {}, {}});
      rp.deliver(AuthResult{});
    });
    return rp;
  }
  flows::SignUp draft{req.email, req.username, req.full_name, "user", req.data};
  hash_new_password(self, std::move(req.password), rp, [=, client = req.client](std::string phc) mutable {
    auto added = flows::new_account(draft, std::move(phc), now_s());
    Step insert = [added](store::WriteTxn& t) { return flows::insert_account(t, added); };
    auto registered = [self, client](const domain::User& u) {
      self->state.opts.audit.publish(audit_event("register", client, u.id, u.id));
    };
    if (flows::session_on_sign_up(policy)) {  // the user and its first session in one commit
      open_session(self, rp, added, client, std::move(insert), registered);
      return;
    }
    commit(self, rp, std::move(insert), [=]() mutable {
      registered(added);
      LinkRequest verify{"verify", added.email, "", client, ""};
      request_link(self, verify);
      rp.deliver(AuthResult{});
    });
  });
  return rp;
}

user_promise create(user_ptr self, ActingUser& by, NewUser& nu) {
  auto rp = self->make_response_promise<domain::User>();
  auto roles = self->state.roles;
  if (auto f = flows::may_create(*roles, actor_of(by), nu.role)) {
    rp.deliver(to_error(f));
    return rp;
  }
  flows::SignUp draft{nu.email, nu.username, nu.full_name, nu.role, nu.data};
  hash_new_password(self, std::move(nu.password), rp, [=](std::string phc) mutable {
    auto added = flows::new_account(draft, std::move(phc), now_s());
    commit(self, rp, [roles, by = actor_of(by), added](store::WriteTxn& t) {
      return flows::create_user(t, *roles, by, added);
    }, [=]() mutable {
      self->state.opts.audit.publish(audit_event("user_created", by.client, by.user_id, added.id,
                                                 {{"role", added.role}}));
      rp.deliver(added);
    });
  });
  return rp;
}

// ---- profile and administration ----

// Runs a step that leaves the stored user in `*out`, answers with it, and
// calls `after` (may be empty) once it is committed.
user_promise change_user(user_ptr self, std::function<flows::Outcome(store::WriteTxn&, domain::User&)> step,
                         std::function<void(const domain::User&)> after = {}) {
  auto rp = self->make_response_promise<domain::User>();
  auto out = std::make_shared<domain::User>();
  commit(self, rp, [step = std::move(step), out](store::WriteTxn& t) { return step(t, *out); }, [=]() mutable {
    if (after) after(*out);
    rp.deliver(*out);
  });
  return rp;
}

user_promise update(user_ptr self, ActingUser& by, std::string& id, UserPatch& patch) {
  auto old_role = std::make_shared<std::string>();
  auto after = [audit = self->state.opts.audit, by, old_role, patch](const domain::User& u) {
    audit.publish(audit_event("user_updated", by.client, by.user_id, u.id, {{"fields", flows::patched_fields(patch)}}));
    if (*old_role != u.role)
      audit.publish(audit_event("role_changed", by.client, by.user_id, u.id, {{"from", *old_role}, {"to", u.role}}));
  };
  return change_user(self, [roles = self->state.roles, by = actor_of(by), id, patch, old_role](store::WriteTxn& t,
                                                                                              domain::User& out) {
    return flows::update_user(t, *roles, by, id, patch, now_s(), out, *old_role);
  }, after);
}

user_promise set_active(user_ptr self, ActingUser& by, std::string& id, bool active) {
  return change_user(self, [roles = self->state.roles, by = actor_of(by), id, active](store::WriteTxn& t,
                                                                                     domain::User& out) {
    return flows::set_active(t, *roles, by, id, active, now_s(), out);
  }, [audit = self->state.opts.audit, by, active](const domain::User& u) {
    audit.publish(audit_event(active ? "user_reactivated" : "user_deactivated", by.client, by.user_id, u.id));
  });
}

user_promise put_avatar(user_ptr self, std::string& id, domain::Avatar& avatar, std::string& url) {
  return change_user(self, [id, avatar, url](store::WriteTxn& t, domain::User& out) {
    return flows::set_avatar(t, id, avatar, url, now_s(), out);
  });
}

// ---- one-time tokens: magic links, email verification, password reset ----

// Answers at once, alike for every email; then, if the email has an active
// account with fewer than auth.max_live_links live links of this purpose,
// issues the token (earlier ones stay valid) and sends the link once the
// token is durable.
caf::result<bool> request_link(user_ptr self, LinkRequest& req) {
  auto& st = self->state;
  std::optional<domain::User> user;
  if (auto f = flows::find_by_email(*st.store, req.email, user)) return to_error(f);
  if (!flows::link_recipient(user)) return true;
  auto now = now_s();
  auto link = flows::new_link(st.links, req.purpose, user->id, now, req.redirect_to, req.code_challenge);
  auto issued = std::make_shared<bool>(false);
  WriteOp op{[link, policy = st.links, now, issued](store::WriteTxn& t) -> caf::error {
    return to_error(flows::issue_link(t, link, policy, now, *issued));
  }};
  domain::Notification n{flows::link_kind(req.purpose), user->email,
                         st.opts.public_url + flows::link_path(req.purpose) + "?token=" + link.token,
                         link.record.expires_at, req.client.request_id, req.client.trace_id, req.client.span_id, {}};
  self->request(st.writer, caf::infinite, write_atom::value, std::move(op))
      .then([notifier = st.notifier, n, audit = st.opts.audit, issued,
             ev = audit_event(flows::link_sent_event(req.purpose), req.client, "", user->id)](bool) mutable {
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

// magic: signs in (and marks the email verified: the link reached it); with
// a bound redirect it opens no session but issues a code, in the same commit
// that uses the link, and answers the redirect URL carrying it.
// code: the application exchanges that code; signs in like magic.
// verify: marks the email verified; the answer carries no tokens.
auth_promise redeem(user_ptr self, std::string& purpose, std::string& token, std::string& verifier,
                    ClientInfo& client) {
  auto rp = self->make_response_promise<AuthResult>();
  auto out = std::make_shared<domain::User>();
  auto hash = domain::blake2b256(token);
  if (purpose != "magic" && purpose != "code") {
    commit(self, rp, [purpose, hash, out](store::WriteTxn& t) {
      return flows::redeem(t, hash, purpose, now_s(), *out);
    }, [=]() mutable {
      self->state.opts.audit.publish(audit_event("email_verified", client, out->id, out->id));
      rp.deliver(AuthResult{*out, {}, {}});
    });
    return rp;
  }
  // The link is used and the session opened in one commit: a 503 leaves
  // the link unused. The session needs its user before the transaction,
  // so the link is looked up first and must still name that user inside.
  domain::OneTimeToken otp;
  domain::User user;
  store::Status st;
  auto t = self->state.store->read(st);
  flows::Outcome found = t ? flows::peek_token(*t, hash, otp, user) : flows::store_failure(st);
  t.reset();
  if (found) {
    rp.deliver(to_error(found));
    return rp;
  }
  if (purpose == "magic" && !otp.redirect_to.empty()) {
    // A record's redirect and challenge never change (only `used` is
    // rewritten), so the one read above is the one consumed. The code
    // carries the challenge: its exchange must prove it.
    auto code = domain::b64url_encode(domain::random_bytes(32));
    auto redirect = domain::with_query(otp.redirect_to, "code", code);
    commit(self, rp, [hash, code, challenge = otp.code_challenge, out](store::WriteTxn& t) {
      return flows::redeem_with_code(t, hash, code, challenge, now_s(), *out);
    }, [=]() mutable {
      self->state.opts.audit.publish(audit_event("magic_link_used", client, out->id, out->id, {{"code_issued", true}}));
      rp.deliver(AuthResult{*out, {}, redirect});
    });
    return rp;
  }
  user.email_verified = true;
  const char* event = purpose == "magic" ? "magic_link_used" : "magic_code_exchanged";
  open_session(self, rp, user, client, [purpose, hash, verifier, out, id = user.id](store::WriteTxn& t) {
    return flows::redeem_for(t, hash, purpose, id, now_s(), *out, verifier);
  }, [=](const domain::User& u) {
    self->state.opts.audit.publish(audit_event(event, client, u.id, u.id));
  });
  return rp;
}

// ---- passwords ----

// Hashes the new password, then runs `step` with it (a flow that stores it
// and revokes), then sends the security alert, which says what was revoked.
using PasswordStep =
    std::function<flows::Outcome(store::WriteTxn&, const std::string& phc, domain::User&, flows::Revocation&)>;

void set_password(user_ptr self, caf::typed_response_promise<bool> rp, std::string new_password, bool others,
                  ClientInfo client, const char* event, PasswordStep step) {
  hash_new_password(self, std::move(new_password), rp, [=](std::string phc) mutable {
    auto out = std::make_shared<domain::User>();
    auto counts = std::make_shared<flows::Revocation>();
    commit(self, rp, [step, phc, out, counts](store::WriteTxn& t) { return step(t, phc, *out, *counts); },
           [=]() mutable {
             domain::Notification n{"password_changed", out->email, "", 0, client.request_id, {}, {}, {}};
             n.vars = {{"sessions_revoked", std::to_string(counts->sessions)},
                       {"api_tokens_revoked", std::to_string(counts->api_tokens)}};
             self->state.notifier.send(n);
             if (counts->sessions) telemetry::record_sessions_ended(static_cast<std::size_t>(counts->sessions));
             self->state.opts.audit.publish(
                 audit_event(event, client, out->id, out->id,
                             {{"other_sessions_revoked", others}, {"sessions_revoked", counts->sessions},
                              {"api_tokens_revoked", counts->api_tokens}}));
             rp.deliver(true);
           });
  });
}

caf::typed_response_promise<bool> reset_password(user_ptr self, std::string& token, std::string& password,
                                                 ClientInfo& client) {
  auto rp = self->make_response_promise<bool>();
  set_password(self, rp, std::move(password), true, client, "password_reset",
               [hash = domain::blake2b256(token)](store::WriteTxn& t, const std::string& phc, domain::User& u,
                                                  flows::Revocation& counts) {
                 return flows::reset_password(t, hash, phc, now_s(), u, counts);
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
              rp.deliver(make_error(Errc::forbidden, "the current password is wrong"));
              return;
            }
            self->state.changes.succeeded(req.session_id);
            flows::PasswordRevocation what{req.revoke_other_sessions, req.revoke_api_tokens, req.session_id};
            set_password(self, rp, req.new_password, req.revoke_other_sessions, req.client, "password_changed",
                         [id = user->id, old = user->password_hash, what](store::WriteTxn& t, const std::string& phc,
                                                                          domain::User& u, flows::Revocation& counts) {
                           return flows::change_password(t, id, old, phc, what, now_s(), u, counts);
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
  st.links = {st.opts.auth.magic_link_ttl_s, st.opts.auth.verify_ttl_s, st.opts.auth.reset_ttl_s,
              st.opts.auth.max_live_links};
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
      [=](reset_atom, std::string& token, std::string& password, ClientInfo& client) {
        return reset_password(self, token, password, client);
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
