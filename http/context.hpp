// What a route handler gets: the request, its Responder, the path params,
// who is asking, and the shared application objects; plus the parsing and
// validation helpers every handler uses. A helper that returns nullopt has
// already answered the request with the error.
#pragma once

#include "actors/api.hpp"
#include "domain/cidr.hpp"
#include "domain/password.hpp"
#include "domain/rate_limit.hpp"
#include "domain/roles.hpp"
#include "http/auth_check.hpp"
#include "http/response.hpp"

#include <pistache/http.h>

#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace gh::http {

/// Shared by every handler; built once at start-up, read-only afterwards.
struct App {
  const config::Config& cfg;
  store::Backend& store;
  Services& services;
  domain::PasswordPolicy policy;
  AuthCheck auth;
  std::shared_ptr<const domain::Roles> roles;
  domain::RateLimiter limiter;
  std::vector<domain::Cidr> trusted_proxies;
};

struct Ctx {
  const Pistache::Http::Request& req;
  std::shared_ptr<Responder> res;
  std::vector<std::string> params;
  ClientInfo client;
  App& app;
  /// Who is calling, for routes that are not Access::anyone() (set by the
  /// server before the handler runs).
  std::optional<Principal> who;
  /// The client in rate-limit keys: its IP, or its IPv6 network
  /// (rate_limit.ipv6_prefix).
  std::string limit_ip;
  /// The Authorization value when the body guard took its line off the raw
  /// bytes before Pistache parsed them; nullopt: Pistache's headers have it.
  std::optional<std::string> authorization;

  /// A request header's value ("" if absent), whether Pistache parsed it or not.
  std::string header(const std::string& name) const;

  /// The body as a JSON object whose keys are all in `allowed`; checks the
  /// Content-Type (415), syntax and limits (400).
  std::optional<nlohmann::json> json_body(std::initializer_list<const char*> allowed);
  /// The body as a form (application/x-www-form-urlencoded).
  std::optional<std::map<std::string, std::string>> form_body();
  /// Takes one token from the bucket `key` (rate `per_minute`); when empty,
  /// answers 429 with Retry-After and RateLimit-* headers and returns false.
  bool rate_ok(const std::string& key, int per_minute);
  /// Takes one token from `key`, counting, tracing and auditing a refusal.
  domain::RateDecision take(const std::string& key, int per_minute);
  /// Takes one token like rate_ok (counted, traced and audited alike) but
  /// answers nothing: false when the bucket is empty.
  bool within_limit(const std::string& key, int per_minute);
  /// The limits of a password login for `email`: those of the device when
  /// `device` (a verified device id) is set, else the account's and the
  /// IP + account's, which every unknown client shares (in the store's
  /// shared buckets when it has them: every instance's logins count). Runs
  /// `then` when they allow the login, else answers 429; `then` may run
  /// later, on another thread, after this Ctx is gone.
  void check_login_rate(const std::string& email, const std::string& device, std::function<void()> then);
  /// The id of the device token this request carries (device cookie, or the
  /// X-Gatehouse-Device header for clients without cookies) when it is valid
  /// for `email` at the account's current device epoch (one user read, only
  /// when a token is sent); else "".
  std::string device_for(const std::string& email) const;

  /// A short read-only store transaction, or answers 503 and returns null.
  std::unique_ptr<store::ReadTxn> read_txn();
  /// True for ok; else answers the Status (404 with `missing`, 503 for a
  /// store failure) and returns false.
  bool read_ok(const store::Status& st, const char* missing = "not found");

  /// May the caller use `permission`? Its role must grant it and, for an API
  /// key with scopes, the scopes must name it.
  bool allowed(const std::string& permission) const;
  /// The refresh cookie's value ("" if absent).
  std::string refresh_cookie() const;
  /// True when a cookie-authenticated request passes the CSRF defence; else
  /// answers 403 and returns false.
  bool csrf_ok();
};

/// Field access on a parsed body. Each returns false after answering 400
/// when the field has the wrong type (or is missing and required).
bool get_string(Ctx& c, const nlohmann::json& body, const char* key, std::string& out,
                bool required);
bool get_bool(Ctx& c, const nlohmann::json& body, const char* key, bool& out);

/// The normalised email, or answers 400 with the reason.
std::optional<std::string> email_field(Ctx& c, const std::string& raw);

/// Reads and validates the profile fields of a body (full_name, username,
/// onboarding, data) into `out`; answers 400 and returns false on a bad one.
bool read_profile(Ctx& c, const nlohmann::json& body, UserPatch& out);

/// JSON views of records. A user is written as text directly (GET /auth/me
/// is the hottest route); user_json() parses that text where a user is part
/// of a larger document, so there is one definition of the document.
std::string user_json_text(const domain::User& u);
nlohmann::json user_json(const domain::User& u);
/// Only what anyone may see: username, full_name, avatar_url.
nlohmann::json public_user_json(const domain::User& u);
nlohmann::json tokens_json(const TokenPair& t, bool include_refresh);
std::string rfc3339(std::int64_t unix_s);

/// Set-Cookie values for the refresh cookie, and for clearing it.
std::string set_refresh_cookie(const config::Config& cfg, const TokenPair& t);
std::string clear_refresh_cookie(const config::Config& cfg);
/// The device cookie carrying `token` (HttpOnly; Secure and SameSite as the
/// refresh cookie; lives as long as the token).
Pistache::Http::Cookie device_cookie(const config::Config& cfg, const std::string& token);

}  // namespace gh::http
