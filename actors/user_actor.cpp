#include "actors/actors.hpp"

#include "actors/logic/base64url.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "telemetry/log.hpp"

namespace gh {
namespace {

struct user_state {
  store::Store* store = nullptr;
  writer_actor writer;
  hasher_actor hasher;
  session_actor sessions;
  std::string dummy_phc;  ///< verified for unknown emails: same cost as a real one
  static inline const char* name = "gh.users";
};

using user_ptr = user_actor::stateful_pointer<user_state>;
using auth_promise = caf::typed_response_promise<AuthResult>;

caf::error bad_login() { return make_error(Errc::invalid_credentials, "invalid email or password"); }

std::optional<store::User> find_by_email(store::Store& db, const std::string& email) {
  int rc = 0;
  auto t = db.read(rc);
  if (rc) return std::nullopt;
  auto id = db.user_id_by_email(t, email);
  return id ? db.user(t, *id) : std::nullopt;
}

// Opens a session for a user whose credentials checked out, and answers.
void open_session(user_ptr self, auth_promise rp, store::User user, ClientInfo client) {
  self->request(self->state.sessions, caf::infinite, create_atom::value, user, std::move(client))
      .then([=](TokenPair& t) mutable { rp.deliver(AuthResult{user, std::move(t)}); },
            [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

// Stores a hash made with the current parameters, unless the password
// changed meanwhile. Best effort: the login does not wait for it.
void upgrade_hash(user_ptr self, const store::User& user, std::string new_phc) {
  auto* db = self->state.store;
  WriteOp op{[db, id = user.id, old = user.password_hash, new_phc](store::Txn& t) -> caf::error {
    auto u = db->user(t, id);
    if (!u || u->password_hash != old) return caf::none;
    u->password_hash = new_phc;
    u->updated_at = now_s();
    return db->put_user(t, *u) ? make_error(Errc::unavailable, "store") : caf::none;
  }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then([](bool) {}, [id = user.id](caf::error&) {
        telemetry::log_warn("password rehash not stored", {{"user_id", id}});
      });
}

auth_promise login(user_ptr self, LoginRequest& req) {
  auto rp = self->make_response_promise<AuthResult>();
  auto user = find_by_email(*self->state.store, req.email);
  HashJob job{true, std::move(req.password), user ? user->password_hash : self->state.dummy_phc};
  self->request(self->state.hasher, caf::infinite, hash_atom::value, std::move(job))
      .then(
          [=](HashResult& r) mutable {
            if (!user || !r.ok || !user->active) {
              rp.deliver(bad_login());
              return;
            }
            if (!r.phc.empty()) upgrade_hash(self, *user, r.phc);
            open_session(self, rp, *user, req.client);
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

auth_promise register_user(user_ptr self, RegisterRequest& req) {
  auto rp = self->make_response_promise<AuthResult>();
  auto* db = self->state.store;
  // Cheap early answer; the write below checks again inside its transaction.
  if (find_by_email(*db, req.email)) {
    rp.deliver(make_error(Errc::conflict, "an account with this email already exists"));
    return rp;
  }
  HashJob job{false, std::move(req.password), {}};
  self->request(self->state.hasher, caf::infinite, hash_atom::value, std::move(job))
      .then(
          [=](HashResult& r) mutable {
            if (!r.ok) {
              rp.deliver(make_error(Errc::internal, "internal error"));
              return;
            }
            auto now = now_s();
            store::User u;
            u.id = logic::random_id();
            u.email = req.email;
            u.password_hash = std::move(r.phc);
            u.username = req.username;
            u.full_name = req.full_name;
            u.data = req.data;
            u.created_at = u.updated_at = now;
            WriteOp op{[db, u](store::Txn& t) -> caf::error {
              if (db->user_id_by_email(t, u.email))
                return make_error(Errc::conflict, "an account with this email already exists");
              if (!u.username.empty() && db->user_id_by_username(t, u.username))
                return make_error(Errc::conflict, "this username is taken");
              return db->put_user(t, u) ? make_error(Errc::unavailable, "the store is unavailable")
                                        : caf::none;
            }};
            self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
                .then([=](bool) mutable { open_session(self, rp, u, req.client); },
                      [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

user_actor::behavior_type user_fn(user_ptr self, store::Store* db, writer_actor writer,
                                  hasher_actor hasher, session_actor sessions,
                                  std::string dummy_phc) {
  auto& st = self->state;
  st.store = db;
  st.writer = std::move(writer);
  st.hasher = std::move(hasher);
  st.sessions = std::move(sessions);
  st.dummy_phc = std::move(dummy_phc);
  return {
      [=](register_atom, RegisterRequest& req) { return register_user(self, req); },
      [=](login_atom, LoginRequest& req) { return login(self, req); },
      [=](ping_atom) { return true; },
  };
}

}  // namespace

user_actor spawn_user(caf::actor_system& sys, store::Store& store, writer_actor writer,
                      hasher_actor hasher, session_actor sessions, std::string dummy_phc) {
  return sys.spawn(user_fn, &store, std::move(writer), std::move(hasher), std::move(sessions),
                   std::move(dummy_phc));
}

}  // namespace gh
