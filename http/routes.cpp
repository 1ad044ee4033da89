// Route handlers. Each parses and validates its request, then hands it to
// the actor layer (gh::Services) and answers from the reply; none blocks.
// Handlers capture only the Responder and plain values in their callbacks:
// the request itself is gone by the time an actor answers.
#include "http/routes.hpp"

#include "domain/clock.hpp"
#include "domain/email.hpp"
#include "http/context.hpp"

namespace gh::http {
namespace {

using Pistache::Http::Method;
using nlohmann::json;

}  // namespace

namespace {

// A new device token for `user`: in the device cookie for a cookie client
// (use_cookie; the HttpOnly cookie is then its only copy), else in the body.
void add_device_token(const App& app, const domain::User& user, bool cookie, json& body, Extra& extra) {
  auto token = app.services.devices().issue(user.email, user.device_epoch, now_s(), app.cfg.rate_limit.device_ttl_s);
  if (cookie) extra.cookies.push_back(device_cookie(app.cfg, token));
  else body["device_token"] = std::move(token);
}

}  // namespace

void answer_auth(const std::shared_ptr<Responder>& res, const App& app, const AuthResult& r, bool cookie,
                 int status) {
  json body = tokens_json(r.tokens, !cookie);
  body["user"] = user_json(r.user);
  Extra extra;
  if (cookie) extra.set_cookie = set_refresh_cookie(app.cfg, r.tokens);
  add_device_token(app, r.user, cookie, body, extra);
  res->set_user(r.user.id);
  res->json(status, body, extra);
}

namespace {

void health(Ctx& c) { c.res->json(200, {{"status", "ok"}}); }

void ready(Ctx& c) {
  c.app.services.ready([res = c.res](Expected<bool> r) {
    if (r.ok() && r.value()) res->json(200, {{"status", "ready"}});
    else res->failure(Failure{Errc::unavailable, "not ready"});
  });
}

void register_user(Ctx& c) {
  auto body = c.json_body({"email", "password", "username", "full_name", "data", "use_cookie"});
  if (!body) return;
  RegisterRequest req;
  std::string raw_email;
  bool cookie = false;
  UserPatch profile;
  if (!get_string(c, *body, "email", raw_email, true) ||
      !get_string(c, *body, "password", req.password, true) || !read_profile(c, *body, profile) ||
      !get_bool(c, *body, "use_cookie", cookie))
    return;
  auto email = email_field(c, raw_email);
  if (!email) return;
  if (auto bad = c.app.policy.check(req.password))
    return c.res->error(422, "invalid_password", *bad);
  req.email = std::move(*email);
  req.username = profile.username.value_or("");
  req.full_name = profile.full_name.value_or("");
  if (profile.data) req.data = *profile.data;
  req.client = c.client;
  c.app.services.register_user(
      std::move(req), [res = c.res, &app = c.app, cookie](Expected<AuthResult> r) {
        bool hide = app.cfg.auth.hide_existing_email();
        if (hide && (r.ok() || r.failure().code == Errc::conflict))  // a lost race is a conflict too
          return res->json(202, {{"status", "accepted"},
                                 {"message", "check your email to finish signing up"}});
        if (!r.ok()) return res->failure(r.failure());
        answer_auth(res, app, r.value(), cookie, 201);
      });
}

// Shared by POST /auth/login and the password grant: a password over the
// byte cap is refused before any hashing, with the same answer as a wrong one.
// A client with a device token for the account is held to its own limits.
template <class OnResult>
void start_login(Ctx& c, std::string email, std::string password, OnResult on_result) {
  auto device = c.device_for(email);
  LoginRequest req{std::move(email), std::move(password), c.client, std::move(device)};
  const auto account = req.email, device_id = req.device;  // req moves into the continuation
  c.check_login_rate(account, device_id, [&app = c.app, req = std::move(req), on_result]() mutable {
    if (req.password.size() > app.policy.max_bytes())
      return on_result(Expected<AuthResult>(Failure{Errc::invalid_credentials, "invalid email or password"}));
    app.services.login(std::move(req), std::move(on_result));
  });
}

void login(Ctx& c) {
  auto body = c.json_body({"email", "password", "use_cookie"});
  if (!body) return;
  std::string raw_email, password;
  bool cookie = false;
  if (!get_string(c, *body, "email", raw_email, true) ||
      !get_string(c, *body, "password", password, true) || !get_bool(c, *body, "use_cookie", cookie))
    return;
  auto email = email_field(c, raw_email);
  if (!email) return;
  start_login(c, std::move(*email), std::move(password),
              [res = c.res, &app = c.app, cookie](Expected<AuthResult> r) {
                if (!r.ok()) return res->failure(r.failure());
                answer_auth(res, app, r.value(), cookie, 200);
              });
}

// POST /auth/token (RFC 6749 §4.3 and §6): OAuth2 error codes throughout.
void token(Ctx& c) {
  auto form = c.form_body();
  if (!form) return;
  auto param = [&](const char* k) {
    auto it = form->find(k);
    return it == form->end() ? std::string() : it->second;
  };
  auto grant = param("grant_type");
  auto oauth_answer = [res = c.res](auto r) {
    if (r.ok()) return;
    const auto& f = r.failure();
    if (f.code == Errc::invalid_credentials)
      return res->error(400, "invalid_grant", "invalid username or password");
    res->failure(f);
  };
  if (grant.empty()) return c.res->error(400, "invalid_request", "grant_type is required");
  if (grant == "password") {
    auto username = param("username"), password = param("password");
    if (username.empty() || password.empty())
      return c.res->error(400, "invalid_request", "username and password are required");
    std::string why;
    auto email = domain::normalize_email(username, why);
    if (!email) return c.res->error(400, "invalid_grant", "invalid username or password");
    start_login(c, std::move(*email), std::move(password),
                [res = c.res, &app = c.app, oauth_answer](Expected<AuthResult> r) {
                  if (!r.ok()) return oauth_answer(std::move(r));
                  auto body = tokens_json(r.value().tokens, true);
                  Extra extra;
                  add_device_token(app, r.value().user, false, body, extra);
                  res->set_user(r.value().user.id);
                  res->json(200, body, extra);
                });
  } else if (grant == "refresh_token") {
    auto refresh = param("refresh_token");
    if (refresh.empty()) return c.res->error(400, "invalid_request", "refresh_token is required");
    c.app.services.refresh(std::move(refresh), c.client,
                           [res = c.res, oauth_answer](Expected<TokenPair> r) {
                             if (!r.ok()) return oauth_answer(std::move(r));
                             res->json(200, tokens_json(r.value(), true));
                           });
  } else {
    c.res->error(400, "unsupported_grant_type", "supported grants: password, refresh_token");
  }
}

// POST /auth/refresh: the token from the JSON body (mobile), or from the
// refresh cookie (web) with the CSRF defence.
void refresh(Ctx& c) {
  std::string token;
  if (!c.req.body().empty() || !c.header("Content-Type").empty()) {
    auto body = c.json_body({"refresh_token"});
    if (!body || !get_string(c, *body, "refresh_token", token, false)) return;
  }
  bool cookie = false;
  if (token.empty()) {
    token = c.refresh_cookie();
    if (token.empty()) return c.res->error(400, "invalid_request", "refresh_token is required");
    if (!c.csrf_ok()) return;
    cookie = true;
  }
  c.app.services.refresh(std::move(token), c.client,
                         [res = c.res, &cfg = c.app.cfg, cookie](Expected<TokenPair> r) {
                           Extra extra;
                           if (!r.ok()) {
                             if (cookie && r.failure().code == Errc::invalid_grant)
                               extra.set_cookie = clear_refresh_cookie(cfg);
                             return res->failure(r.failure(), extra);
                           }
                           if (cookie) extra.set_cookie = set_refresh_cookie(cfg, r.value());
                           res->json(200, tokens_json(r.value(), !cookie), extra);
                         });
}

void logout(Ctx& c) {
  bool all = false, api_tokens = false;
  if (!c.req.body().empty()) {
    auto body = c.json_body({"all", "revoke_api_tokens"});
    if (!body || !get_bool(c, *body, "all", all) || !get_bool(c, *body, "revoke_api_tokens", api_tokens)) return;
  }
  c.app.services.revoke(c.who->user().id, c.who->session_id, all, api_tokens,
                        all ? domain::RevokeReason::logout_all : domain::RevokeReason::logout,
                        c.client, [res = c.res, &cfg = c.app.cfg](Expected<int> r) {
                          if (!r.ok()) return res->failure(r.failure());
                          Extra extra;
                          extra.set_cookie = clear_refresh_cookie(cfg);
                          res->empty(204, extra);
                        });
}

void list_sessions(Ctx& c) {
  c.app.services.sessions(c.who->user().id, [res = c.res, current = c.who->session_id](
                                              Expected<std::vector<domain::Session>> r) {
    if (!r.ok()) return res->failure(r.failure());
    auto list = json::array();
    for (auto& s : r.value())
      list.push_back(json{{"id", s.id},
                          {"created_at", rfc3339(s.created_at)},
                          {"last_used_at", rfc3339(s.last_used_at)},
                          {"expires_at", rfc3339(s.expires_at)},
                          {"ip", s.ip},
                          {"user_agent", s.user_agent},
                          {"current", s.id == current}});
    res->json(200, {{"sessions", list}});
  });
}

void revoke_session(Ctx& c) {
  c.app.services.revoke(c.who->user().id, c.params.at(0), false, false, domain::RevokeReason::revoked_by_user, c.client,
                        [res = c.res](Expected<int> r) {
                          if (!r.ok()) return res->failure(r.failure());
                          res->empty(204);
                        });
}

void jwks(Ctx& c) { c.res->json(200, c.app.services.keys()->jwks()); }

void discovery(Ctx& c) {
  const auto& iss = c.app.cfg.tokens.issuer;
  c.res->json(200, {{"issuer", iss},
                    {"jwks_uri", iss + "/.well-known/jwks.json"},
                    {"token_endpoint", iss + "/auth/token"},
                    {"grant_types_supported", {"password", "refresh_token"}},
                    {"token_endpoint_auth_methods_supported", {"none"}},
                    {"response_types_supported", {"token"}},
                    {"subject_types_supported", {"public"}},
                    {"id_token_signing_alg_values_supported", {"EdDSA"}}});
}

}  // namespace

void install_routes(Router& r) {
  const auto anyone = Access::anyone();
  r.add(Method::Get, "/health", anyone, health);
  r.add(Method::Get, "/ready", anyone, ready);
  r.add(Method::Post, "/auth/register", anyone, register_user, config::RateClass::register_);
  r.add(Method::Post, "/auth/login", anyone, login, config::RateClass::login);
  r.add(Method::Post, "/auth/token", anyone, token, config::RateClass::login);
  r.add(Method::Post, "/auth/refresh", anyone, refresh, config::RateClass::refresh);
  r.add(Method::Post, "/auth/logout", Access::bearer_session(), logout);
  r.add(Method::Get, "/auth/sessions", Access::bearer_session(), list_sessions);
  r.add(Method::Delete, "/auth/sessions/{id}", Access::bearer_session(), revoke_session);
  r.add(Method::Get, "/.well-known/jwks.json", anyone, jwks);
  r.add(Method::Get, "/.well-known/openid-configuration", anyone, discovery);
  install_profile_routes(r);
  install_admin_routes(r);
  install_link_routes(r);
}

}  // namespace gh::http
