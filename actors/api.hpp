// The actor layer as the HTTP layer sees it: plain requests in, an Expected
// result delivered to a callback. No CAF type appears here, so HTTP code
// compiles without CAF's headers.
//
// Threading: every call returns at once (it enqueues a message); the callback
// runs later on a CAF worker thread, exactly once. Callbacks must not block.
#pragma once

#include "actors/audit_feed.hpp"
#include "domain/errors.hpp"
#include "domain/audit.hpp"
#include "domain/device.hpp"
#include "domain/keyring.hpp"
#include "domain/roles.hpp"
#include "config/config.hpp"
#include "domain/flows/settings.hpp"
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gh {

/// Who is asking: for session records and logs.
struct ClientInfo {
  std::string ip;
  std::string user_agent;
  std::string request_id;
  std::string trace_id;  ///< W3C trace of the request ("" when none)
  std::string span_id;   ///< the request's server span: parent of actor-hop spans
};

struct RegisterRequest {
  std::string email;     ///< normalised
  std::string password;  ///< policy-checked
  std::string username;
  std::string full_name;
  nlohmann::json data = nlohmann::json::object();
  ClientInfo client;
};

struct LoginRequest {
  std::string email;  ///< normalised
  std::string password;
  ClientInfo client;
  /// The id of a valid device token for this email ("" for an unknown
  /// client): the login is then held to the device's own back-off instead
  /// of the account's (see domain/device.hpp).
  std::string device;
};

struct TokenPair {
  std::string access_token;
  int expires_in = 0;
  std::string refresh_token;
  std::string session_id;
};

struct AuthResult {
  domain::User user;
  TokenPair tokens;
  /// A magic link with a bound redirect: no tokens, and the browser goes
  /// here (the redirect with ?code=…, exchanged by the application).
  std::string redirect_to;
};

/// Who acts on another account, for the management matrix.
struct ActingUser {
  std::string user_id;
  std::string role;
  ClientInfo client;  ///< for the audit record
};

/// A change to a user (domain/flows/settings.hpp): fields left empty are not
/// touched; `role` and `email_verified` are for administrators (HTTP refuses
/// them on /auth/me).
using UserPatch = flows::ProfilePatch;

/// An account created by an administrator.
struct NewUser {
  std::string email;  ///< normalised
  std::string password;
  std::string role = "user";
  std::string username, full_name;
  nlohmann::json data = nlohmann::json::object();
};

struct ApiKeyRequest {
  std::string name;
  std::vector<std::string> scopes;       ///< validated permissions
  std::vector<std::string> allowed_ips;  ///< validated CIDRs
  std::int64_t expires_in_s = 0;         ///< 0: never
};

struct NewApiKey {
  domain::ApiKey key;
  std::string secret;  ///< shown once; only its hash is stored
};

/// Asks for an emailed link: a magic sign-in link, an email verification or a
/// password reset. Answered at once and alike whether the email exists.
struct LinkRequest {
  std::string purpose;  ///< "magic", "verify" or "reset"
  std::string email;    ///< normalised
  std::string redirect_to;  ///< magic links: an allowed URL, or empty
  ClientInfo client;
  std::string code_challenge;  ///< with redirect_to: PKCE S256 challenge (domain/pkce.hpp)
};

struct PasswordChange {
  std::string user_id;
  std::string session_id;  ///< kept when revoking the others
  std::string current_password;
  std::string new_password;  ///< policy-checked
  bool revoke_other_sessions = false;
  bool revoke_api_tokens = false;  ///< also revoke every API token of the user
  ClientInfo client;
};

/// One bucket of a limit that several instances share (store::SharedBuckets).
struct BucketTake {
  std::string key;
  domain::BucketSpec spec;
};

/// What taking a list of shared buckets decided: the first refusal, or the
/// last bucket's decision when all allowed.
struct SharedDecision {
  domain::RateDecision decision;
  std::size_t bucket = 0;  ///< the index of the bucket that decided
};

template <class T>
using Callback = std::function<void(Expected<T>)>;

class Services {
 public:
  virtual ~Services() = default;

  /// Starts the actor system and every actor over an open, migrated store.
  /// Loads or creates the signing keys. Returns null with `why` on failure.
  static std::unique_ptr<Services> start(const config::Config& cfg, store::Backend& store,
                                         std::shared_ptr<const domain::Roles> roles,
                                         std::string& why);

  virtual void register_user(RegisterRequest req, Callback<AuthResult> done) = 0;
  virtual void login(LoginRequest req, Callback<AuthResult> done) = 0;
  /// Rotates a refresh token (JSON body, cookie or OAuth2 grant alike).
  virtual void refresh(std::string refresh_token, ClientInfo client, Callback<TokenPair> done) = 0;
  /// Revokes session `sid` of `user_id`, or all of them when `all`, and
  /// every API token of the user when `api_tokens` (same transaction);
  /// delivers how many sessions were revoked. Another user's session is
  /// not_found.
  virtual void revoke(std::string user_id, std::string sid, bool all, bool api_tokens,
                      domain::RevokeReason reason, ClientInfo client, Callback<int> done) = 0;
  /// Live sessions of a user.
  virtual void sessions(std::string user_id, Callback<std::vector<domain::Session>> done) = 0;
  /// Changes a profile (the caller's own, or another's within the matrix).
  virtual void update_user(ActingUser by, std::string user_id, UserPatch patch,
                           Callback<domain::User> done) = 0;
  /// Deactivates (revoking every session and API key) or reactivates a user.
  virtual void set_active(ActingUser by, std::string user_id, bool active,
                          Callback<domain::User> done) = 0;
  /// Creates an account with a role, within the matrix.
  virtual void create_user(ActingUser by, NewUser user, Callback<domain::User> done) = 0;
  /// Stores an avatar and points the user's avatar_url at `url`.
  virtual void put_avatar(std::string user_id, domain::Avatar avatar, std::string url,
                          Callback<domain::User> done) = 0;

  virtual void create_api_key(std::string user_id, ApiKeyRequest req, ClientInfo client,
                              Callback<NewApiKey> done) = 0;
  /// Revokes key `key_id` of `user_id` (another user's key is not_found).
  virtual void revoke_api_key(std::string user_id, std::string key_id, ClientInfo client,
                              Callback<int> done) = 0;

  /// Issues a one-time token and sends its link, if the email has an account.
  virtual void request_link(LinkRequest req, Callback<bool> done) = 0;
  /// Uses a magic-link token (single use) and verifies the email. Without a
  /// bound redirect it signs in; with one it answers no tokens but the
  /// redirect URL carrying a short-lived code (redirect_to).
  virtual void redeem_magic_link(std::string token, ClientInfo client, Callback<AuthResult> done) = 0;
  /// Signs in with the code of a magic link with a redirect (single use,
  /// 60 s) and the PKCE verifier of its challenge; the code is used in the
  /// commit that opens the session. A wrong verifier is refused like a bad
  /// code and leaves the code unused.
  virtual void exchange_magic_code(std::string code, std::string verifier, ClientInfo client,
                                   Callback<AuthResult> done) = 0;
  /// Marks the email of the token's user verified (single use).
  virtual void verify_email(std::string token, ClientInfo client, Callback<bool> done) = 0;
  /// Sets a new (policy-checked) password with a reset token; revokes every
  /// session and API token and sends a security alert.
  virtual void reset_password(std::string token, std::string new_password, ClientInfo client,
                              Callback<bool> done) = 0;
  /// Changes the password after checking the current one (forbidden if wrong).
  virtual void change_password(PasswordChange req, Callback<bool> done) = 0;

  /// Publishes an audit event from outside the actors (e.g. rate limited).
  virtual void audit(domain::AuditEvent e) = 0;
  /// Takes one token from each of `buckets` in order, stopping at the first
  /// refusal, in the store's shared buckets, off the HTTP threads (the
  /// rate-limit actor). A bucket the store cannot answer for lets the
  /// request through (rate limits fail open). Only when the store has
  /// shared buckets.
  virtual void take_shared(std::vector<BucketTake> buckets, Callback<SharedDecision> done) = 0;
  /// Committed audit records, live (for GET /admin/audit/stream).
  virtual AuditFeed& audit_feed() = 0;

  /// True when the store writer and the actors answer.
  virtual void ready(Callback<bool> done) = 0;

  /// The signing keys (for JWKS and token verification on HTTP threads).
  virtual std::shared_ptr<const domain::KeyRing> keys() const = 0;
  /// Issues and checks device tokens (login limits, on HTTP threads).
  virtual const domain::DeviceTokens& devices() const = 0;

  /// Stops every actor and waits for them. Idempotent.
  virtual void stop() = 0;
};

}  // namespace gh
