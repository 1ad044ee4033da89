#include "actors/actors.hpp"
#include "domain/flows/sessions.hpp"

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
  store::Backend* store = nullptr;
  writer_actor writer;
  token_actor tokens;
  std::string secret;  ///< rotation secret (32 bytes)
  Auditor audit;
  static inline const char* name = "gh.sessions";
};

using session_ptr = session_actor::stateful_pointer<session_state>;
using pair_promise = caf::typed_response_promise<TokenPair>;

caf::error bad_grant(const char* why) { return make_error(Errc::invalid_grant, why); }

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
  auto fresh = flows::new_session(user, client.ip, client.user_agent, now_s(), st.cfg.refresh_ttl_s);
  auto s = fresh.session;
  auto refresh = fresh.refresh_token;
  auto evicted = std::make_shared<std::vector<std::string>>();
  WriteOp op{[s, evicted, cap = st.limits.sessions_per_user, first = std::move(first.fn)](store::WriteTxn& t) -> caf::error {
    if (first)
      if (auto err = first(t)) return err;
    return to_error(flows::open_session(t, s, cap, now_s(), *evicted));
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
                                                    {{"reason", domain::revoke_reason_name(domain::RevokeReason::session_limit)},
                                                     {"sessions", evicted->size()},
                                                     {"session_ids", *evicted}}));
            }
            answer_with_pair(self, rp, client, user.id, user.role, s.id, refresh);
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

pair_promise refresh(session_ptr self, std::string& token, ClientInfo& client) {
  auto rp = self->make_response_promise<TokenPair>();
  auto& st = self->state;
  auto out = std::make_shared<flows::Rotation>();
  WriteOp op{[out, token, grace = std::int64_t{st.cfg.rotation_grace_s}, secret = st.secret,
              ip = client.ip](store::WriteTxn& t) -> caf::error {
    return to_error(flows::rotate(t, token, secret, ip, now_s(), grace, *out));
  }};
  telemetry::SpanTimer commit(client.trace_id, client.span_id, "store.commit");
  self->request(st.writer, caf::infinite, write_atom::value, std::move(op))
      .then(
          [=](bool) mutable {
            commit.end();
            if (out->decision == domain::RefreshDecision::reuse) {
              telemetry::record_sessions_ended(1);
              self->state.audit.publish(audit_event("refresh_reuse_detected", client, "", out->user_id,
                                                    {{"session_id", out->session_id}}));
              rp.deliver(bad_grant("refresh token reuse detected; the session was revoked"));
              return;
            }
            self->state.audit.publish(audit_event("refresh", client, out->user_id, out->user_id,
                                                  {{"session_id", out->session_id},
                                                   {"grace_replay", out->decision == domain::RefreshDecision::grace_replay}}));
            answer_with_pair(self, rp, client, out->user_id, out->role, out->session_id, out->next_token);
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::typed_response_promise<int> revoke(session_ptr self, std::string& user_id, std::string& sid,
                                        bool all, bool api_tokens, domain::RevokeReason reason,
                                        ClientInfo& client) {
  auto rp = self->make_response_promise<int>();
  auto out = std::make_shared<flows::Revocation>();
  WriteOp op{[=](store::WriteTxn& t) -> caf::error {
    return to_error(flows::revoke(t, user_id, sid, all, api_tokens, reason, *out));
  }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then([=](bool) mutable {
              telemetry::record_sessions_ended(static_cast<std::size_t>(out->sessions));
              self->state.audit.publish(audit_event(reason == domain::RevokeReason::revoked_by_user ? "session_revoked" : "logout",
                                                    client, user_id, user_id,
                                                    {{"reason", domain::revoke_reason_name(reason)},
                                                     {"sessions", out->sessions},
                                                     {"api_tokens_revoked", out->api_tokens},
                                                     {"session_id", all ? std::string() : sid}}));
              rp.deliver(out->sessions);
            },
            [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<std::vector<domain::Session>> list(session_ptr self, const std::string& user_id) {
  store::Status st;
  auto t = self->state.store->read(st);
  if (!t) return store_error(st);
  std::vector<domain::Session> live;
  if (auto f = flows::live_sessions(*t, user_id, now_s(), live)) return to_error(f);
  return live;
}

caf::typed_response_promise<NewApiKey> create_key(session_ptr self, std::string& user_id,
                                                  ApiKeyRequest& req, ClientInfo& client) {
  auto rp = self->make_response_promise<NewApiKey>();
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
  WriteOp op{[key = out.key, hash = domain::blake2b256(out.secret),
              cap = self->state.limits.api_tokens_per_user](store::WriteTxn& t) -> caf::error {
    return to_error(flows::add_api_key(t, hash, key, cap, now_s()));
  }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then(
          [=](bool) mutable {
            self->state.audit.publish(audit_event("api_token_created", client, out.key.user_id,
                                                  out.key.user_id, {{"token_id", out.key.id}, {"name", out.key.name}}));
            rp.deliver(out);
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::typed_response_promise<int> revoke_key(session_ptr self, std::string& user_id,
                                            std::string& key_id, ClientInfo& client) {
  auto rp = self->make_response_promise<int>();
  WriteOp op{[user_id, key_id](store::WriteTxn& t) -> caf::error {
    return to_error(flows::revoke_api_key(t, user_id, key_id));
  }};
  self->request(self->state.writer, caf::infinite, write_atom::value, std::move(op))
      .then([=](bool) mutable {
              self->state.audit.publish(audit_event("api_token_revoked", client, user_id, user_id,
                                                    {{"token_id", key_id}}));
              rp.deliver(1);
            },
            [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

session_actor::behavior_type session_fn(session_ptr self, config::Tokens cfg, config::Limits limits,
                                        store::Backend* store, writer_actor writer, token_actor tokens,
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
          domain::RevokeReason reason, ClientInfo& c) {
        return revoke(self, user_id, sid, all, api_tokens, reason, c);
      },
      [=](list_atom, std::string& user_id) { return list(self, user_id); },
      [=](newkey_atom, std::string& user_id, ApiKeyRequest& r, ClientInfo& c) {
        return create_key(self, user_id, r, c);
      },
      [=](delkey_atom, std::string& user_id, std::string& key_id, ClientInfo& c) {
        return revoke_key(self, user_id, key_id, c);
      },
  };
}

}  // namespace

session_actor spawn_session(caf::actor_system& sys, const config::Tokens& cfg, const config::Limits& limits,
                            store::Backend& store, writer_actor writer, token_actor tokens,
                            std::string rotation_secret, Auditor audit) {
  return sys.spawn(session_fn, cfg, limits, &store, std::move(writer), std::move(tokens),
                   std::move(rotation_secret), std::move(audit));
}

}  // namespace gh
