// Emailed links: magic sign-in, email verification, password reset, and the
// password change. Requests for a link answer 202 alike whether the email has
// an account. GET on a link only shows a page (mail scanners follow links);
// the page's button POSTs the token, which is what consumes it.
//
// A magic link's redirect is bound to its token when the link is asked for
// (allowed origins, http(s) only) and never read from the link's URL. Using
// such a link gives the page the redirect URL with a 60-second code, which
// the application's backend exchanges for tokens: no token is ever in a URL.
// The code is bound to the application's browser session by PKCE (RFC 7636,
// S256 only): a redirect needs a code_challenge, the exchange its verifier.
#include "domain/base64url.hpp"
#include "domain/clock.hpp"
#include "domain/mail.hpp"
#include "domain/pkce.hpp"
#include "domain/redirect.hpp"
#include "http/assets.hpp"
#include "http/context.hpp"
#include "http/routes.hpp"

namespace gh::http {
namespace {

using Pistache::Http::Method;
using nlohmann::json;

void accepted(const std::shared_ptr<Responder>& res) {
  res->json(202, {{"status", "accepted"},
                  {"message", "if an account exists for this email, a message is on its way"}});
}

// POST /auth/magic-link and /auth/password/forgot. A magic link's redirect
// needs the application's PKCE challenge (S256).
void ask_link(Ctx& c, const char* purpose) {
  const bool magic = std::string(purpose) == "magic";
  auto body = magic ? c.json_body({"email", "redirect_to", "code_challenge", "code_challenge_method"})
                    : c.json_body({"email", "redirect_to"});
  if (!body) return;
  std::string raw, redirect, challenge, method;
  if (!get_string(c, *body, "email", raw, true) || !get_string(c, *body, "redirect_to", redirect, false) ||
      !get_string(c, *body, "code_challenge", challenge, false) ||
      !get_string(c, *body, "code_challenge_method", method, false))
    return;
  auto email = email_field(c, raw);
  if (!email) return;
  if (!redirect.empty() &&
      !domain::redirect_allowed(redirect, c.app.cfg.public_.url, c.app.cfg.auth.redirect_origins))
    return c.res->error(400, "invalid_request", "redirect_to must be an http(s) URL of an allowed origin");
  if (magic && redirect.empty() && (!challenge.empty() || !method.empty()))
    return c.res->error(400, "invalid_request", "code_challenge goes with redirect_to");
  if (magic && !redirect.empty()) {
    if (!method.empty() && method != "S256")
      return c.res->error(400, "invalid_request", "code_challenge_method must be S256");
    if (!domain::pkce_challenge_valid(challenge))
      return c.res->error(400, "invalid_request",
                          "redirect_to needs code_challenge: base64url SHA-256 of the code verifier (43 chars)");
  }
  // Per account and purpose, over the limit: no mail, and the usual answer.
  // A 429 would block the owner's own request and tell it apart; the links
  // already sent stay valid (auth.max_live_links).
  if (!c.within_limit(std::string("link|acct|") + purpose + "|" + *email, c.app.cfg.rate_limit.link_account))
    return accepted(c.res);
  c.app.services.request_link(LinkRequest{purpose, *email, redirect, c.client, challenge},
                              [res = c.res](Expected<bool>) { accepted(res); });
}

void magic_link(Ctx& c) { ask_link(c, "magic"); }
void forgot_password(Ctx& c) { ask_link(c, "reset"); }

void send_verification(Ctx& c) {
  if (c.who->user().email_verified) return c.res->json(200, {{"status", "already_verified"}});
  c.app.services.request_link(LinkRequest{"verify", c.who->user().email, "", c.client, ""},
                              [res = c.res](Expected<bool>) { accepted(res); });
}

// The page a link opens. The token reaches the script through an escaped
// data attribute, never as code; the script and style are files
// (/auth/link.js, /auth/link.css) so the page's CSP allows no inline code.
// `who` (magic links) names the account the click signs in to, against
// login CSRF: empty when the token is not live, and the page says so.
void link_page(Ctx& c, const char* title, const char* action, bool password_field,
               const std::optional<std::string>& who = std::nullopt) {
  auto v = c.req.query().get("token");
  auto token = v ? *v : std::string();
  std::string html = R"(<!doctype html><html lang="en"><head><meta charset="utf-8"><title>)" + std::string(title) +
                     R"(</title><meta name="viewport" content="width=device-width">)" +
                     R"(<link rel="stylesheet" href="/auth/link.css"></head><body><h1>)" + title + "</h1>";
  if (who && who->empty()) {
    html += R"(<p id="m">This link is invalid or has expired.</p></body></html>)";
    return c.res->page(200, html, "text/html; charset=utf-8");
  }
  if (who)
    html += R"(<p id="who">This signs you in as <strong>)" + domain::html_escape(*who) +
            R"(</strong>. If that is not your account, close this page.</p>)";
  html += R"(<form id="f" data-action=")" + std::string(action) + R"(" data-token=")" + domain::html_escape(token) +
          R"(")" + (who ? R"( data-cookie="1")" : "") + ">" +
          (password_field ? R"(<p><label>New password <input type="password" name="p" required minlength="8" autocomplete="new-password"></label></p>)" : "") +
          R"(<button type="submit">Continue</button></form><p id="m"></p><script src="/auth/link.js"></script></body></html>)";
  c.res->page(200, html, "text/html; charset=utf-8");
}

// The email of the account a magic-link token signs in to; "" when the
// token is not usable (domain::otp_usable, the rule consuming it applies).
// Reads only.
std::optional<std::string> magic_link_account(Ctx& c) {
  auto v = c.req.query().get("token");
  auto t = c.read_txn();
  if (!t) return std::nullopt;
  domain::OneTimeToken otp;
  domain::User u;
  auto st = t->otp(domain::blake2b256(v ? *v : std::string()), otp);
  if (st.ok()) st = t->user(otp.user_id, u);
  if (st.failed()) {
    c.read_ok(st);
    return std::nullopt;
  }
  return st.ok() && domain::otp_usable(otp, &u, "magic", now_s()) ? u.email : std::string();
}

void magic_page(Ctx& c) {
  auto who = magic_link_account(c);
  if (!who) return;  // answered 503
  link_page(c, "Sign in", "/auth/magic-link/verify", false, who);
}
void verify_page(Ctx& c) { link_page(c, "Confirm your email", "/auth/verify-email", false); }
void reset_page(Ctx& c) { link_page(c, "Choose a new password", "/auth/password/reset", true); }

void link_js(Ctx& c) { c.res->page(200, kLinkJs, "text/javascript; charset=utf-8"); }
void link_css(Ctx& c) { c.res->page(200, kLinkCss, "text/css; charset=utf-8"); }

void redeem_magic(Ctx& c) {
  auto body = c.json_body({"token", "use_cookie"});
  if (!body) return;
  std::string token;
  bool cookie = false;
  if (!get_string(c, *body, "token", token, true) || !get_bool(c, *body, "use_cookie", cookie)) return;
  c.app.services.redeem_magic_link(std::move(token), c.client,
                                   [res = c.res, &app = c.app, cookie](Expected<AuthResult> r) {
                                     if (!r.ok()) return res->failure(r.failure());
                                     if (!r.value().redirect_to.empty()) {
                                       res->set_user(r.value().user.id);
                                       return res->json(200, {{"status", "redirect"},
                                                              {"redirect_to", r.value().redirect_to}});
                                     }
                                     answer_auth(res, app, r.value(), cookie, 200);
                                   });
}

// POST /auth/magic-link/exchange {code, code_verifier}: the application's
// backend turns the code from its redirect into tokens, like a login, with
// the verifier it kept for that browser session. A verifier that does not
// prove the code's challenge gets the answer of a bad code (invalid_grant)
// and leaves the code unused.
void exchange_code(Ctx& c) {
  auto body = c.json_body({"code", "code_verifier"});
  if (!body) return;
  std::string code, verifier;
  if (!get_string(c, *body, "code", code, true) || !get_string(c, *body, "code_verifier", verifier, true)) return;
  if (!domain::pkce_verifier_valid(verifier))
    return c.res->error(400, "invalid_request", "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]");
  c.app.services.exchange_magic_code(std::move(code), std::move(verifier), c.client,
                                     [res = c.res, &app = c.app](Expected<AuthResult> r) {
                                       if (!r.ok()) return res->failure(r.failure());
                                       answer_auth(res, app, r.value(), false, 200);
                                     });
}

void verify_email(Ctx& c) {
  auto body = c.json_body({"token"});
  if (!body) return;
  std::string token;
  if (!get_string(c, *body, "token", token, true)) return;
  c.app.services.verify_email(std::move(token), c.client, [res = c.res](Expected<bool> r) {
    if (!r.ok()) return res->failure(r.failure());
    res->json(200, {{"status", "verified"}});
  });
}

void reset_password(Ctx& c) {
  auto body = c.json_body({"token", "new_password"});
  if (!body) return;
  std::string token, password;
  if (!get_string(c, *body, "token", token, true) || !get_string(c, *body, "new_password", password, true))
    return;
  if (auto bad = c.app.policy.check(password)) return c.res->error(422, "invalid_password", *bad);
  c.app.services.reset_password(std::move(token), std::move(password), c.client, [res = c.res](Expected<bool> r) {
    if (!r.ok()) return res->failure(r.failure());
    res->json(200, {{"status", "password_changed"}});
  });
}

void change_password(Ctx& c) {
  auto body = c.json_body({"current_password", "new_password", "revoke_other_sessions", "revoke_api_tokens"});
  if (!body) return;
  PasswordChange req;
  if (!get_string(c, *body, "current_password", req.current_password, true) ||
      !get_string(c, *body, "new_password", req.new_password, true) ||
      !get_bool(c, *body, "revoke_other_sessions", req.revoke_other_sessions) ||
      !get_bool(c, *body, "revoke_api_tokens", req.revoke_api_tokens))
    return;
  if (auto bad = c.app.policy.check(req.new_password)) return c.res->error(422, "invalid_password", *bad);
  if (req.current_password.size() > c.app.policy.max_bytes())
    return c.res->error(403, "forbidden", "the current password is wrong");
  req.user_id = c.who->user().id;
  req.session_id = c.who->session_id;
  req.client = c.client;
  c.app.services.change_password(std::move(req), [res = c.res](Expected<bool> r) {
    if (!r.ok()) return res->failure(r.failure());
    res->json(200, {{"status", "password_changed"}});
  });
}

}  // namespace

void install_link_routes(Router& r) {
  const auto anyone = Access::anyone();
  r.add(Method::Post, "/auth/magic-link", anyone, magic_link, config::RateClass::link);
  r.add(Method::Get, "/auth/magic-link", anyone, magic_page);
  r.add(Method::Post, "/auth/magic-link/verify", anyone, redeem_magic, config::RateClass::login);
  // Not the per-IP login class: an application's backend is one address
  // exchanging every sign-in of its users, and a code (256 random bits,
  // single use, 60 s, PKCE-bound) cannot be guessed. The default class.
  r.add(Method::Post, "/auth/magic-link/exchange", anyone, exchange_code);
  r.add(Method::Get, "/auth/link.js", anyone, link_js);
  r.add(Method::Get, "/auth/link.css", anyone, link_css);
  r.add(Method::Post, "/auth/verify-email/send", Access::signed_in(), send_verification, config::RateClass::link);
  r.add(Method::Get, "/auth/verify-email", anyone, verify_page);
  r.add(Method::Post, "/auth/verify-email", anyone, verify_email, config::RateClass::login);
  r.add(Method::Post, "/auth/password/forgot", anyone, forgot_password, config::RateClass::link);
  r.add(Method::Get, "/auth/password/reset", anyone, reset_page);
  r.add(Method::Post, "/auth/password/reset", anyone, reset_password, config::RateClass::login);
  r.add(Method::Post, "/auth/password/change", Access::bearer_session(), change_password, config::RateClass::login);
}

}  // namespace gh::http
