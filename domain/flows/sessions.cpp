#include "domain/flows/sessions.hpp"

#include "domain/base64url.hpp"
#include "domain/retention.hpp"

#include <algorithm>

namespace gh::flows {
namespace {

Failure bad_grant() { return fail(Errc::invalid_grant, "the refresh token is invalid or expired"); }

}  // namespace

NewSession new_session(const domain::User& user, const std::string& ip, const std::string& user_agent,
                       std::int64_t now, std::int64_t refresh_ttl_s) {
  NewSession n;
  auto& s = n.session;
  s.id = domain::random_id();
  s.user_id = user.id;
  s.rotated_at = s.created_at = s.last_used_at = now;
  s.expires_at = now + refresh_ttl_s;
  s.ip = ip;
  s.user_agent = user_agent.substr(0, 256);
  n.refresh_token = domain::new_refresh_token();
  s.token_hash = domain::blake2b256(n.refresh_token);
  return n;
}

Outcome open_session(store::WriteTxn& t, const domain::Session& s, int cap, std::int64_t now,
                     std::vector<std::string>& evicted) {
  evicted.clear();
  std::vector<domain::Session> mine;
  if (auto f = check(t.sessions_of(s.user_id, mine))) return f;
  for (auto i : domain::sessions_over_cap(mine, now, cap)) {
    if (auto f = check(t.delete_session(mine[i]))) return f;
    evicted.push_back(mine[i].id);
  }
  if (auto f = check(t.put_session(s))) return f;
  return check(t.put_refresh(s.token_hash, {s.id, s.generation, s.expires_at}));
}

Outcome rotate(store::WriteTxn& t, const std::string& token, const std::string& secret, const std::string& ip,
               std::int64_t now, std::int64_t grace_s, Rotation& out) {
  auto hash = domain::blake2b256(token);
  domain::RefreshRef ref;
  domain::Session s;
  auto st = t.refresh(hash, ref);
  if (st.failed()) return store_failure(st);
  bool have_ref = st.ok(), have_session = false;
  if (have_ref) {
    auto ss = t.session(ref.session_id, s);
    if (ss.failed()) return store_failure(ss);
    have_session = ss.ok();
  }
  out.decision = domain::decide_refresh(have_ref ? &ref : nullptr, have_session ? &s : nullptr, now, grace_s);
  if (out.decision == domain::RefreshDecision::invalid) return bad_grant();
  if (out.decision == domain::RefreshDecision::reuse) {  // revoke the family; the caller refuses after commit
    out.user_id = s.user_id;
    out.session_id = s.id;
    s.revoked = true;
    s.revoke_reason = domain::revoke_reason_name(domain::RevokeReason::reuse);
    return check(t.put_session(s));
  }
  domain::User user;
  auto us = t.user(s.user_id, user);
  if (us.failed()) return store_failure(us);
  if (!us.ok() || !user.active) return bad_grant();
  auto next = domain::next_refresh_token(secret, token);
  auto next_hash = domain::blake2b256(next);
  if (out.decision == domain::RefreshDecision::grace_replay) {
    if (next_hash != s.token_hash) return bad_grant();
  } else {
    s.generation += 1;
    s.token_hash = next_hash;
    s.rotated_at = s.last_used_at = now;
    s.ip = ip;
    if (auto f = check(t.put_session(s))) return f;
    if (auto f = check(t.put_refresh(next_hash, {s.id, s.generation, s.expires_at}))) return f;
  }
  out.next_token = std::move(next);
  out.user_id = user.id;
  out.role = user.role;
  out.session_id = s.id;
  return done();
}

Outcome revoke_sessions(store::WriteTxn& t, const std::string& user_id, const std::string& keep,
                        domain::RevokeReason reason, int& count) {
  std::vector<domain::Session> sessions;
  if (auto f = check(t.sessions_of(user_id, sessions))) return f;
  for (auto& s : sessions) {
    if (s.revoked || s.id == keep) continue;
    s.revoked = true;
    s.revoke_reason = domain::revoke_reason_name(reason);
    if (auto f = check(t.put_session(s))) return f;
    ++count;
  }
  return done();
}

Outcome revoke_api_keys(store::WriteTxn& t, const std::string& user_id, int& count) {
  std::vector<std::pair<std::string, domain::ApiKey>> keys;
  if (auto f = check(t.api_keys_of(user_id, keys))) return f;
  for (auto& [hash, k] : keys) {
    if (k.revoked) continue;
    k.revoked = true;
    if (auto f = check(t.put_api_key(hash, k))) return f;
    ++count;
  }
  return done();
}

Outcome revoke(store::WriteTxn& t, const std::string& user_id, const std::string& session_id, bool all,
               bool api_tokens, domain::RevokeReason reason, Revocation& out) {
  out = {};
  if (api_tokens)
    if (auto f = revoke_api_keys(t, user_id, out.api_tokens)) return f;
  if (all) return revoke_sessions(t, user_id, "", reason, out.sessions);
  domain::Session s;
  auto st = t.session(session_id, s);
  if (st.is_not_found() || (st.ok() && s.user_id != user_id)) return fail(Errc::not_found, "no such session");
  if (!st.ok()) return store_failure(st);
  if (s.revoked) return done();
  s.revoked = true;
  s.revoke_reason = domain::revoke_reason_name(reason);
  if (auto f = check(t.put_session(s))) return f;
  out.sessions = 1;
  return done();
}

Outcome live_sessions(const store::ReadTxn& t, const std::string& user_id, std::int64_t now,
                      std::vector<domain::Session>& out) {
  std::vector<domain::Session> all;
  if (auto f = check(t.sessions_of(user_id, all))) return f;
  out.clear();
  for (auto& s : all)
    if (!s.revoked && s.expires_at > now) out.push_back(std::move(s));
  return done();
}

Outcome add_api_key(store::WriteTxn& t, const std::string& secret_hash, const domain::ApiKey& key, int cap,
                    std::int64_t now) {
  std::vector<std::pair<std::string, domain::ApiKey>> mine;
  if (auto f = check(t.api_keys_of(key.user_id, mine))) return f;
  auto live = std::count_if(mine.begin(), mine.end(),
                            [now](const auto& k) { return domain::api_key_live(k.second, now); });
  if (live >= cap)
    return fail(Errc::conflict, "this account already has " + std::to_string(cap) +
                                    " live API tokens, the most allowed; revoke one first");
  return check(t.put_api_key(secret_hash, key));
}

Outcome revoke_api_key(store::WriteTxn& t, const std::string& user_id, const std::string& key_id) {
  std::vector<std::pair<std::string, domain::ApiKey>> mine;
  if (auto f = check(t.api_keys_of(user_id, mine))) return f;
  for (auto& [hash, k] : mine) {
    if (k.id != key_id) continue;
    k.revoked = true;
    return check(t.put_api_key(hash, k));
  }
  return fail(Errc::not_found, "no such API token");
}

}  // namespace gh::flows
