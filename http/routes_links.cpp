// Emailed links: magic sign-in, email verification, password reset, and the
// password change. Requests for a link answer 202 alike whether the email has
// an account. GET on a link only shows a page (mail scanners follow links);
// the page's button POSTs the token, which is what consumes it.
#include "actors/logic/mail.hpp"
#include "http/context.hpp"
#include "http/routes.hpp"

namespace gh::http {
namespace {

using Pistache::Http::Method;
using nlohmann::json;

std::string origin_of(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  auto path = url.find_first_of("/?#", scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

void accepted(const std::shared_ptr<Responder>& res) {
  res->json(202, {{"status", "accepted"},
                  {"message", "if an account exists for this email, a message is on its way"}});
}

// POST /auth/magic-link and /auth/password/forgot.
void ask_link(Ctx& c, const char* purpose) {
  auto body = c.json_body({"email", "redirect_to"});
  if (!body) return;
  std::string raw, redirect;
  if (!get_string(c, *body, "email", raw, true) || !get_string(c, *body, "redirect_to", redirect, false)) return;
  auto email = email_field(c, raw);
  if (!email) return;
  if (!redirect.empty()) {
    const auto& allowed = c.app.cfg.auth.redirect_origins;
    auto o = origin_of(redirect);
    if (o.empty() || (o != origin_of(c.app.cfg.public_.url) &&
                      std::find(allowed.begin(), allowed.end(), o) == allowed.end()))
      return c.res->error(400, "invalid_request", "redirect_to is not an allowed origin");
  }
  if (!c.rate_ok(std::string("link|acct|") + *email, c.app.cfg.rate_limit.login_account)) return;
  c.app.services.request_link(LinkRequest{purpose, *email, redirect, c.client},
                              [res = c.res](Expected<bool>) { accepted(res); });
}

void magic_link(Ctx& c) { ask_link(c, "magic"); }
void forgot_password(Ctx& c) { ask_link(c, "reset"); }

void send_verification(Ctx& c) {
  if (c.who->user.email_verified) return c.res->json(200, {{"status", "already_verified"}});
  c.app.services.request_link(LinkRequest{"verify", c.who->user.email, "", c.client},
                              [res = c.res](Expected<bool>) { accepted(res); });
}

// The page a link opens. Values reach the script through escaped data
// attributes, never as code.
void link_page(Ctx& c, const char* title, const char* action, bool password_field) {
  auto q = [&](const char* k) {
    auto v = c.req.query().get(k);
    return v ? *v : std::string();
  };
  std::string html = R"(<!doctype html><html><head><meta charset="utf-8"><title>)" + std::string(title) +
                     R"(</title><meta name="viewport" content="width=device-width"></head>
<body style="font-family:sans-serif;max-width:28rem;margin:3rem auto">
<h1>)" + title + R"(</h1>
<form id="f" data-action=")" + action + R"(" data-token=")" + logic::html_escape(q("token")) +
                     R"(" data-redirect=")" + logic::html_escape(q("redirect_to")) + R"(">)" +
                     (password_field ? R"(<p><label>New password <input type="password" name="p" required minlength="8" autocomplete="new-password"></label></p>)" : "") +
                     R"(<button type="submit">Continue</button></form><p id="m"></p>
<script>
const f = document.getElementById('f'), m = document.getElementById('m');
f.addEventListener('submit', async (e) => {
  e.preventDefault();
  const body = {token: f.dataset.token};
  if (f.p) body.new_password = f.p.value;
  if (f.dataset.action.endsWith('/verify')) body.use_cookie = true;
  const r = await fetch(f.dataset.action, {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  const j = await r.json();
  if (!r.ok) { m.textContent = j.error_description || 'This link is invalid or has expired.'; return; }
  if (f.dataset.redirect && j.access_token) {
    location.href = f.dataset.redirect + '#access_token=' + encodeURIComponent(j.access_token);
  } else { m.textContent = 'Done. You can close this page.'; f.hidden = true; }
});
</script></body></html>)";
  c.res->raw(200, html, "text/html; charset=utf-8", 0);
}

void magic_page(Ctx& c) { link_page(c, "Sign in", "/auth/magic-link/verify", false); }
void verify_page(Ctx& c) { link_page(c, "Confirm your email", "/auth/verify-email", false); }
void reset_page(Ctx& c) { link_page(c, "Choose a new password", "/auth/password/reset", true); }

void redeem_magic(Ctx& c) {
  auto body = c.json_body({"token", "use_cookie"});
  if (!body) return;
  std::string token;
  bool cookie = false;
  if (!get_string(c, *body, "token", token, true) || !get_bool(c, *body, "use_cookie", cookie)) return;
  c.app.services.redeem_magic_link(std::move(token), c.client,
                                   [res = c.res, &cfg = c.app.cfg, cookie](Expected<AuthResult> r) {
                                     if (!r.ok()) return res->failure(r.failure());
                                     answer_auth(res, cfg, r.value(), cookie, 200);
                                   });
}

void verify_email(Ctx& c) {
  auto body = c.json_body({"token"});
  if (!body) return;
  std::string token;
  if (!get_string(c, *body, "token", token, true)) return;
  c.app.services.verify_email(std::move(token), [res = c.res](Expected<bool> r) {
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
  c.app.services.reset_password(std::move(token), std::move(password), [res = c.res](Expected<bool> r) {
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
  req.user_id = c.who->user.id;
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
  r.add(Method::Post, "/auth/magic-link", anyone, magic_link, "link");
  r.add(Method::Get, "/auth/magic-link", anyone, magic_page);
  r.add(Method::Post, "/auth/magic-link/verify", anyone, redeem_magic, "login");
  r.add(Method::Post, "/auth/verify-email/send", Access::signed_in(), send_verification, "link");
  r.add(Method::Get, "/auth/verify-email", anyone, verify_page);
  r.add(Method::Post, "/auth/verify-email", anyone, verify_email, "login");
  r.add(Method::Post, "/auth/password/forgot", anyone, forgot_password, "link");
  r.add(Method::Get, "/auth/password/reset", anyone, reset_page);
  r.add(Method::Post, "/auth/password/reset", anyone, reset_password, "login");
  r.add(Method::Post, "/auth/password/change", Access::bearer_session(), change_password, "login");
}

}  // namespace gh::http
