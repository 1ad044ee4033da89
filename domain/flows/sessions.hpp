// The session flow: opening a session (one login on one device), rotating its
// refresh token with reuse detection, revoking sessions, and the personal API
// tokens. Each step runs inside one store transaction the caller provides (the
// writer's batch online, a write() offline) and decides with domain/rotation
// and domain/retention.
#pragma once

#include "domain/flows/outcome.hpp"
#include "domain/rotation.hpp"
#include "store/store.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace gh::flows {

/// A new session of `user` (no store access): its record and the refresh
/// token, whose hash the record keeps.
struct NewSession {
  domain::Session session;
  std::string refresh_token;
};
NewSession new_session(const domain::User& user, const std::string& ip, const std::string& user_agent,
                       std::int64_t now, std::int64_t refresh_ttl_s);

/// Writes `s` and its refresh token. At `cap` live sessions of the user the
/// least recently used ones are deleted first (their ids in `evicted`): a
/// login is never refused for the cap.
Outcome open_session(store::WriteTxn& t, const domain::Session& s, int cap, std::int64_t now,
                     std::vector<std::string>& evicted);

/// What a rotation decided.
struct Rotation {
  domain::RefreshDecision decision = domain::RefreshDecision::invalid;
  std::string next_token, user_id, role, session_id;
};
/// Rotates `token`: the next token of its family, or the same next token
/// again within `grace_s` (a replay), or, for an older token, revokes the
/// whole family (reuse: answered invalid_grant by the caller after commit, so
/// the revocation is kept). Unknown, expired, revoked or inactive: invalid_grant.
Outcome rotate(store::WriteTxn& t, const std::string& token, const std::string& secret, const std::string& ip,
               std::int64_t now, std::int64_t grace_s, Rotation& out);

/// Revokes every live session of `user_id` but `keep` (may be empty) with
/// `reason`; adds how many to `count`. The one revocation loop.
Outcome revoke_sessions(store::WriteTxn& t, const std::string& user_id, const std::string& keep,
                        domain::RevokeReason reason, int& count);
/// Revokes every live API token of `user_id`; adds how many to `count`.
Outcome revoke_api_keys(store::WriteTxn& t, const std::string& user_id, int& count);

/// Revokes session `session_id` of `user_id` (another user's: not_found), or
/// all of them when `all`, and every API token when `api_tokens`.
struct Revocation {
  int sessions = 0, api_tokens = 0;
};
Outcome revoke(store::WriteTxn& t, const std::string& user_id, const std::string& session_id, bool all,
               bool api_tokens, domain::RevokeReason reason, Revocation& out);

/// The live sessions of a user.
Outcome live_sessions(const store::ReadTxn& t, const std::string& user_id, std::int64_t now,
                      std::vector<domain::Session>& out);

/// Stores a new API token (its secret's hash), unless the user already has
/// `cap` live ones (conflict).
Outcome add_api_key(store::WriteTxn& t, const std::string& secret_hash, const domain::ApiKey& key, int cap,
                    std::int64_t now);
/// Revokes token `key_id` of `user_id` (another user's: not_found).
Outcome revoke_api_key(store::WriteTxn& t, const std::string& user_id, const std::string& key_id);

}  // namespace gh::flows
