#include "actors/accounts.hpp"
#include "actors/actors.hpp"

#include "domain/base64url.hpp"
#include "domain/retention.hpp"
#include "domain/rotation.hpp"

#include "telemetry/metrics.hpp"
#include "telemetry/trace.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <algorithm>

namespace gh {
namespace {

struct session_state {
  config::Tokens cfg;
  config::Limits limits;
  store::Store* store = nullptr;
  writer_actor writer;
  token_actor tokens;
  std::string secret;  ///< rotation secret (32 bytes)
  Auditor audit;
  static inline const char* name = "gh.sessions";
};

using session_ptr = session_actor::stateful_pointer<session_state>;
using pair_promise = caf::typed_response_promise<TokenPair>;

caf::error bad_grant(const char* why) { return make_error(Errc::invalid_grant, why); }
caf::error store_error() { return make_error(Errc::unavailable, "the store is unavailable; retry later"); }

// Signs an access token for the family and answers with the pair.
void answer_with_pair(session_ptr self, pair_promise rp, const ClientInfo& client, std::string user_id,
                      std::string role, std::string sid, std::string refresh) {
  auto ttl = self->state.cfg.access_ttl_s;
  telemetry::SpanTimer span(client.trace_id, client.span_id, "token.sign");
  self->request(self->state.tokens, caf::infinite, issue_atom::value, std::move(user_id),
                std::move(role), sid)
      .then(
          [=](std::string& jwt) mutable {
            span.end();
            rp.deliver(TokenPair{std::move(jwt), ttl, refresh, sid});
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

// Opens a session for `user`. `first` (may be empty) runs before it in the
// same transaction: a sign-up inserts the user there, a magic link consumes
// itself, so the two are one commit and a 503 never leaves half of it.
// At limits.sessions_per_user live sessions, the least recently used ones
// are deleted in the same transaction, with their refresh tokens and index
// entries (audited as revoked, reason "session_limit"): a login is never
// refused for the cap, the devices in use keep their sessions, and one
// account cannot pile up sessions in the store. A token of a deleted
// session is unknown: invalid_grant, as for a revoked one.
pair_promise create(session_ptr self, domain::User& user, ClientInfo& client, WriteOp& first) {
  auto rp = self->make_response_promise<TokenPair>();
  auto& st = self->state;
  auto now = now_s();
  domain::Session s;
  s.id = domain::random_id();
  s.user_id = user.id;
  s.token_hash.clear();
  s.rotated_at = s.created_at = s.last_used_at = now;
  s.expires_at = now + st.cfg.refresh_ttl_s;
  s.ip = client.ip;
  s.user_agent = client.user_agent.substr(0, 256);
  std::string refresh = domain::new_refresh_token();
  s.token_hash = domain::blake2b256(refresh);
  auto* store = st.store;
  auto evicted = std::make_shared<std::vector<std::string>>();
  WriteOp op{[store, s, evicted, cap = st.limits.sessions_per_user, first = std::move(first.fn)](store::Txn& t) -> caf::error {
    if (first)
      if (auto err = first(t)) return err;
    evicted->clear();
    auto mine = store->sessions_of(t, s.user_id);
    for (auto i : domain::sessions_over_cap(mine, now_s(), cap)) {
      if (store->del_session(t, mine[i])) return store_error();
      evicted->push_back(mine[i].id);
    }
    if (store->put_session(t, s) ||
        store->put_refresh(t, s.token_hash, {s.id, s.generation, s.expires_at}))
      return store_error();
    return caf::none;
  }};
  telemetry::SpanTimer commit(client.trace_id, client.span_id, "store.commit");
  self->request(st.writer, caf::infinite, write_atom::value, std::move(op))
      .then(
          [=](bool) mutable {
            commit.end();
            telemetry::record_session_opened();
            if (!evicted->empty()) {
              telemetry::record_sessions_ended(evicted->size());
              self->state.audit.publish(audit_event("session_revoked", client, user.id, user.id,
                                                    {{"reason", "session_limit"}, {"sessions", evicted->size()},
                                                     {"session_ids", *evicted}}));
            }
            answer_with_pair(self, rp, client, user.id, user.role, s.id, refresh);
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

// What the rotation transaction decided, handed from the writer thread back
// to this actor (the writer's reply orders the two).
struct RotationOutcome {
  domain::RefreshDecision decision = domain::RefreshDecision::invalid;
  std::string next_token, user_id, role, sid;
};

pair_promise refresh(session_ptr self, std::string& token, ClientInfo& client) {
  auto rp = self->make_response_promise<TokenPair>();
  auto& st = self->state;
  auto out = std::make_shared<RotationOutcome>();
  auto* store = st.store;
  std::int64_t grace = st.cfg.rotation_grace_s;
  WriteOp op{[store, out, token, grace, secret = st.secret, ip = client.ip](store::Txn& t) -> caf::error {
    auto now = now_s();
    auto hash = domain::blake2b256(token);
    auto ref = store->refresh(t, hash);
    auto s = ref ? store->session(t, ref->session_id) : std::nullopt;
    auto d = domain::decide_refresh(ref ? &*ref : nullptr, s ? &*s : nullptr, now, grace);
    out->decision = d;
    if (d == domain::RefreshDecision::invalid)
      return bad_grant("the refresh token is invalid or expired");
    if (d == domain::RefreshDecision::reuse) {  // revoke the family, then refuse
      out->user_id = s->user_id;
      out->sid = s->id;
      s->revoked = true;
      s->revoke_reason = "reuse";
      return store->put_session(t, *s) ? store_error() : caf::none;
    }
    auto user = store->user(t, s->user_id);
    if (!user || !user->active) return bad_grant("the refresh token is invalid or expired");
    auto next = domain::next_refresh_token(secret, token);
    auto next_hash = domain::blake2b256(next);
    if (d == domain::RefreshDecision::grace_replay) {
      if (next_hash != s->token_hash) return bad_grant("the refresh token is invalid or expired");
    } else {
      s->generation += 1;
      s->token_hash = next_hash;
      s->rotated_at = s->last_used_at = now;
      s->ip = ip;
      if (store->put_session(t, *s) ||
          store->put_refresh(t, next_hash, {s->id, s->generation, s->expires_at}))
        return store_error();
    }
    out->next_token = std::move(next);
    out->user_id = user->id;
    out->role = user->role;
    out->sid = s->id;
    return caf::none;
  }};
  telemetry::SpanTimer commit(client.trace_id, client.span_id, "store.commit");
  self->request(st.writer, caf::infinite, write_atom::value, std::move(op))
      .then(
          [=](bool) mutable {
            commit.end();
            if (out->decision == domain::RefreshDecision::reuse) {
              telemetry::record_sessions_ended(1);
              self->state.audit.publish(audit_event("refresh_reuse_detected", client, "", out->user_id,
                                                    {{"session_id", out->sid}}));
              rp.deliver(bad_grant("refresh token reuse detected; the session was revoked"));
              return;
            }
            self->state.audit.publish(audit_event("refresh", client, out->user_id, out->user_id,
                                                  {{"session_id", out->sid},
                                                   {"grace_replay", out->decision == domain::RefreshDecision::grace_replay}}));
            answer_with_pair(self, rp, client, out->user_id, out->role, out->sid, out->next_token);
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::typed_response_promise<int> revoke(session_ptr self, std::string& user_id, std::string& sid,
                                        bool all, bool api_tokens, std::string& reason) {
  auto rp = self->make_response_promise<int>();
  auto* store = self->state.store;
  auto count = std::make_shared<int>(0);
  auto keys = std::make_shared<int>(0);
  WriteOp op{[=](store::Txn& t) -> caf::error {
    *count = *keys = 0;
    if (api_tokens && revoke_api_keys(*store, t, user_id, *keys)) return store_error();
    std::vector<domain::Session> targets;
    if (all) {
      targets = store->sessions_of(t, user_id);
    } else {
      auto s = store->session(t, sid);
      if (!s || s->user_id != user_id) return make_error(Errc::not_found, "no such session");
      targets.push_back(std::move(*s));
    }
    for (auto& s : targets) {
      if (s.revoked) continue;
      s.revoked = true;
      s.revoke_reason = reason;
      if (store->put_session(t, s)) return store_error();
      ++*count;
    }
    return caf::none;
  }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then([=](bool) mutable {
              telemetry::record_sessions_ended(static_cast<std::size_t>(*count));
              self->state.audit.publish(audit_event(reason == "revoked_by_user" ? "session_revoked" : "logout",
                                                    ClientInfo{}, user_id, user_id,
                                                    {{"reason", reason}, {"sessions", *count},
                                                     {"api_tokens_revoked", *keys},
                                                     {"session_id", all ? std::string() : sid}}));
              rp.deliver(*count);
            },
            [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<std::vector<domain::Session>> list(session_ptr self, const std::string& user_id) {
  int rc = 0;
  auto t = self->state.store->read(rc);
  if (rc) return store_error();
  auto now = now_s();
  std::vector<domain::Session> live;
  for (auto& s : self->state.store->sessions_of(t, user_id))
    if (!s.revoked && s.expires_at > now) live.push_back(std::move(s));
  return live;
}

caf::typed_response_promise<NewApiKey> create_key(session_ptr self, std::string& user_id,
                                                  ApiKeyRequest& req) {
  auto rp = self->make_response_promise<NewApiKey>();
  auto* store = self->state.store;
  auto now = now_s();
  NewApiKey out;
  out.secret = "gh_" + domain::b64url_encode(domain::random_bytes(32));
  out.key.id = domain::random_id();
  out.key.user_id = user_id;
  out.key.name = req.name;
  out.key.scopes = req.scopes;
  out.key.allowed_ips = req.allowed_ips;
  out.key.created_at = now;
  out.key.expires_at = req.expires_in_s > 0 ? now + req.expires_in_s : 0;
  WriteOp op{[store, key = out.key, hash = domain::blake2b256(out.secret),
              cap = self->state.limits.api_tokens_per_user](store::Txn& t) -> caf::error {
    auto mine = store->api_keys_of(t, key.user_id);
    auto live = std::count_if(mine.begin(), mine.end(),
                              [now = now_s()](const auto& k) { return domain::api_key_live(k.second, now); });
    if (live >= cap)
      return make_error(Errc::conflict, "this account already has " + std::to_string(cap) +
                                            " live API tokens, the most allowed; revoke one first");
    return store->put_api_key(t, hash, key) ? store_error() : caf::none;
  }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then(
          [=](bool) mutable {
            self->state.audit.publish(audit_event("api_token_created", ClientInfo{}, out.key.user_id,
                                                  out.key.user_id, {{"token_id", out.key.id}, {"name", out.key.name}}));
            rp.deliver(out);
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::typed_response_promise<int> revoke_key(session_ptr self, std::string& user_id,
                                            std::string& key_id) {
  auto rp = self->make_response_promise<int>();
  auto* store = self->state.store;
  WriteOp op{[store, user_id, key_id](store::Txn& t) -> caf::error {
    for (auto& [hash, k] : store->api_keys_of(t, user_id)) {
      if (k.id != key_id) continue;
      k.revoked = true;
      return store->put_api_key(t, hash, k) ? store_error() : caf::none;
    }
    return make_error(Errc::not_found, "no such API token");
  }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then([=](bool) mutable {
              self->state.audit.publish(audit_event("api_token_revoked", ClientInfo{}, user_id, user_id,
                                                    {{"token_id", key_id}}));
              rp.deliver(1);
            },
            [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

session_actor::behavior_type session_fn(session_ptr self, config::Tokens cfg, config::Limits limits,
                                        store::Store* store, writer_actor writer, token_actor tokens,
                                        std::string secret, Auditor audit) {
  auto& st = self->state;
  st.limits = limits;
  st.audit = std::move(audit);
  st.cfg = std::move(cfg);
  st.store = store;
  st.writer = std::move(writer);
  st.tokens = std::move(tokens);
  st.secret = std::move(secret);
  return {
      [=](create_atom, domain::User& u, ClientInfo& c, WriteOp& first) { return create(self, u, c, first); },
      [=](refresh_atom, std::string& token, ClientInfo& c) { return refresh(self, token, c); },
      [=](revoke_atom, std::string& user_id, std::string& sid, bool all, bool api_tokens,
          std::string& reason) {
        return revoke(self, user_id, sid, all, api_tokens, reason);
      },
      [=](list_atom, std::string& user_id) { return list(self, user_id); },
      [=](newkey_atom, std::string& user_id, ApiKeyRequest& r) { return create_key(self, user_id, r); },
      [=](delkey_atom, std::string& user_id, std::string& key_id) {
        return revoke_key(self, user_id, key_id);
      },
  };
}

}  // namespace

session_actor spawn_session(caf::actor_system& sys, const config::Tokens& cfg, const config::Limits& limits,
                            store::Store& store, writer_actor writer, token_actor tokens,
                            std::string rotation_secret, Auditor audit) {
  return sys.spawn(session_fn, cfg, limits, &store, std::move(writer), std::move(tokens),
                   std::move(rotation_secret), std::move(audit));
}

}  // namespace gh
