// The actor layer as the HTTP layer sees it: plain requests in, an Expected
// result delivered to a callback. No CAF type appears here, so HTTP code
// compiles without CAF's headers.
//
// Threading: every call returns at once (it enqueues a message); the callback
// runs later on a CAF worker thread, exactly once. Callbacks must not block.
#pragma once

#include "actors/errors.hpp"
#include "actors/logic/keyring.hpp"
#include "config/config.hpp"
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gh {

/// Who is asking: for session records and logs.
struct ClientInfo {
  std::string ip;
  std::string user_agent;
  std::string request_id;
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
};

struct TokenPair {
  std::string access_token;
  int expires_in = 0;
  std::string refresh_token;
  std::string session_id;
};

struct AuthResult {
  store::User user;
  TokenPair tokens;
};

template <class T>
using Callback = std::function<void(Expected<T>)>;

class Services {
 public:
  virtual ~Services() = default;

  /// Starts the actor system and every actor over an open, migrated store.
  /// Loads or creates the signing keys. Returns null with `why` on failure.
  static std::unique_ptr<Services> start(const config::Config& cfg, store::Store& store,
                                         std::string& why);

  virtual void register_user(RegisterRequest req, Callback<AuthResult> done) = 0;
  virtual void login(LoginRequest req, Callback<AuthResult> done) = 0;
  /// Rotates a refresh token (JSON body, cookie or OAuth2 grant alike).
  virtual void refresh(std::string refresh_token, ClientInfo client, Callback<TokenPair> done) = 0;
  /// Revokes session `sid` of `user_id`, or all of them when `all`; delivers
  /// how many were revoked. Another user's session is not_found.
  virtual void revoke(std::string user_id, std::string sid, bool all, std::string reason,
                      Callback<int> done) = 0;
  /// Live sessions of a user.
  virtual void sessions(std::string user_id, Callback<std::vector<store::Session>> done) = 0;
  /// True when the store writer and the actors answer.
  virtual void ready(Callback<bool> done) = 0;

  /// The signing keys (for JWKS and token verification on HTTP threads).
  virtual std::shared_ptr<const logic::KeyRing> keys() const = 0;

  /// Stops every actor and waits for them. Idempotent.
  virtual void stop() = 0;
};

}  // namespace gh
