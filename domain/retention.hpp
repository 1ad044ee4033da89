// What one user may keep, and when a record is dead: the rules of the
// per-user quotas ([limits]) and of the background prune (actors/janitor.cpp),
// as pure functions of the records and `now`.
#pragma once

#include "domain/entities.hpp"

#include <functional>

#include <cstdint>
#include <vector>

namespace gh::domain {

/// Which records of each table are dead, as the background prune asks.
struct PruneRules {
  std::function<bool(const Session&)> session;
  std::function<bool(const RefreshRef&)> refresh;
  std::function<bool(const ApiKey&)> api_key;
  std::function<bool(const OneTimeToken&)> otp;
};

/// A session counts against the cap while it can still be refreshed.
bool session_live(const domain::Session& s, std::int64_t now);
/// An API token counts against the cap while it can still be used.
bool api_key_live(const domain::ApiKey& k, std::int64_t now);

/// Indexes into `sessions` (all of one user's) of the live sessions to
/// revoke so that one more fits under `cap`: the least recently used first
/// (ties: the older, then by id), none while fewer than `cap` are live.
std::vector<std::size_t> sessions_over_cap(const std::vector<domain::Session>& sessions, std::int64_t now, int cap);

/// Dead records, given how long an expired record is kept (`retention_s`):
///  - a session (revoked or not) and each refresh token of it: from its
///    absolute expiry + retention. A revoked family is kept until then so
///    that presenting one of its tokens is still recognised as reuse.
///  - an API token: revoked (nothing reads it again: a revoked or unknown
///    key is the same 401, and listings hide it), or expired + retention.
///  - a one-time token: used (a used or unknown token gets the same answer),
///    or expired + retention.
PruneRules prune_rules(std::int64_t now, std::int64_t retention_s);

}  // namespace gh::domain
