// Bearer-token authentication for the server's own routes, done on the HTTP
// thread without an actor round trip: the JWT signature (skipped when the
// token cache already verified it), then iss/aud/exp, then — in one call of
// the store contract, Backend::principal — the session (not revoked, not
// expired, same user) and the user (still active). A logout or deactivation
// therefore takes effect on the very next request; a store failure is 503.
// The session and user are kept per session id while the engine's change
// stamp for both stays the same (any write to either changes it before the
// write is acknowledged), so a repeated check reads nothing.
#pragma once

#include "actors/api.hpp"
#include "domain/jwt.hpp"
#include "domain/sharded_cache.hpp"
#include "domain/token_cache.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gh::http {

/// The token of an `Authorization: Bearer <token>` value (scheme matched
/// case-insensitively, spaces around the token dropped; it points into
/// `authorization`), or nullopt with `why` when absent or another scheme.
std::optional<std::string_view> bearer_token(std::string_view authorization, std::string& why);

/// The user a check found, shared with the principal cache: never modified
/// but for `me_json`, GET /auth/me's answer, rendered by its first caller
/// (read and set with std::atomic_load / std::atomic_store).
struct Account {
  domain::User user;
  mutable std::shared_ptr<const std::string> me_json;
};

struct Principal {
  std::shared_ptr<const Account> account;
  std::string session_id;          ///< empty when authenticated by API key
  std::string api_key_id;          ///< empty when authenticated by access token
  std::vector<std::string> scopes;  ///< API-key scopes; empty: the role's full rights

  const domain::User& user() const { return account->user; }
};

class AuthCheck {
 public:
  AuthCheck(const config::Config& cfg, store::Backend& db, Services& services);

  /// `authorization` is the raw Authorization header ("" if absent). Only the
  /// header is accepted: tokens in the query string or body are ignored.
  Expected<Principal> check(std::string_view authorization);

  /// An API key from the X-API-Key header, used from address `ip`: known, not
  /// revoked or expired, `ip` inside its allowlist, owner still active.
  Expected<Principal> check_api_key(std::string_view key, std::string_view ip);

 private:
  /// What a token check needs of a session and its user, as read at `stamp`
  /// (Backend::change_stamp): good while the stamp stays the same.
  struct Cached {
    std::uint64_t stamp = 0;
    std::string user_id;  ///< the session's
    std::int64_t expires_at = 0;
    bool revoked = false;
    std::shared_ptr<const Account> account;
  };

  store::Backend& db_;
  Services& services_;
  domain::VerifyOptions opts_;
  domain::TokenCache cache_;
  domain::ShardedCache<Cached> principals_;  ///< by session id
};

}  // namespace gh::http
