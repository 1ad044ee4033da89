#include "http/context.hpp"

#include "domain/ascii.hpp"
#include "domain/clock.hpp"
#include "domain/email.hpp"
#include "domain/username.hpp"
#include "domain/flows/outcome.hpp"
#include "domain/redirect.hpp"
#include "http/form.hpp"
#include "http/json_body.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace gh::http {
namespace {

// "application/json; charset=utf-8" -> "application/json"
std::string media_type(const std::string& content_type) {
  auto s = domain::ascii_lower(std::string_view(content_type).substr(0, content_type.find(';')));
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

std::string Ctx::header(const std::string& name) const {
  if (authorization && domain::ascii_iequals(name, "Authorization")) return *authorization;
  // Pistache keeps the raw text of every header it parsed (typed ones too).
  auto raw = req.headers().tryGetRaw(name);
  return raw ? raw->value() : std::string();
}

std::optional<nlohmann::json> Ctx::json_body(std::initializer_list<const char*> allowed) {
  if (media_type(header("Content-Type")) != "application/json") {
    res->error(415, "unsupported_media_type", "the body must be application/json");
    return std::nullopt;
  }
  if (req.body().size() > app.cfg.server.max_body_bytes) {
    res->error(413, "payload_too_large", "the body is larger than " + std::to_string(app.cfg.server.max_body_bytes) + " bytes");
    return std::nullopt;
  }
  std::string why;
  auto body = parse_json_object(req.body(), app.cfg.server.max_json_depth, why);
  if (!body) {
    res->error(400, "invalid_request", why);
    return std::nullopt;
  }
  for (auto& item : body->items()) {
    const std::string& key = item.key();
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
      res->error(400, "invalid_request", "unknown field '" + key.substr(0, 64) + "'");
      return std::nullopt;
    }
  }
  return body;
}

std::optional<std::map<std::string, std::string>> Ctx::form_body() {
  if (media_type(header("Content-Type")) != "application/x-www-form-urlencoded") {
    res->error(415, "unsupported_media_type", "the body must be application/x-www-form-urlencoded");
    return std::nullopt;
  }
  if (req.body().size() > app.cfg.server.max_body_bytes) {
    res->error(413, "payload_too_large", "the body is too large");
    return std::nullopt;
  }
  std::string why;
  auto form = parse_form(req.body(), why);
  if (!form) res->error(400, "invalid_request", why);
  return form;
}

namespace {
double steady_now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

namespace {

// A decision of bucket `key`: a span where the check guards real work
// (logins, writes, emailed links; on cheap reads it would cost more than the
// check), the refusal counted, and one audit record per burst of refusals.
void note(App& app, const ClientInfo& client, const std::string& key, int per_minute, const domain::RateDecision& d) {
  const auto bucket = key.substr(0, key.find('|'));
  if (!client.span_id.empty() && key.rfind("default|", 0) != 0) {
    telemetry::SpanTimer span(client.trace_id, client.span_id, "rate_limit.check");
    span.attr("gatehouse.bucket", bucket);
    span.attr("gatehouse.allowed", d.allowed);
    span.end();
  }
  if (d.allowed) return;
  telemetry::record_rate_limited(bucket);
  if (!d.first_refusal) return;
  domain::AuditEvent e;
  e.type = "rate_limited";
  e.request_id = client.request_id;
  e.trace_id = client.trace_id;
  e.ip = client.ip;
  e.user_agent = client.user_agent.substr(0, 256);
  e.details = {{"bucket", bucket}, {"limit_per_minute", per_minute}};
  app.services.audit(std::move(e));
}

// 429 with Retry-After and the RateLimit-* headers of `d`.
void too_many(Responder& res, const domain::RateDecision& d) {
  Extra extra;
  extra.retry_after_s = std::max(1, d.retry_after_s);
  extra.ratelimit_limit = d.limit;
  extra.ratelimit_remaining = d.remaining;
  extra.ratelimit_reset_s = d.reset_s;
  res.error(429, "rate_limited", "too many requests; retry after " + std::to_string(extra.retry_after_s) + " s",
            extra);
}

}  // namespace

domain::RateDecision Ctx::take(const std::string& key, int per_minute) {
  auto d = app.limiter.take(key, {double(per_minute), double(per_minute)}, steady_now_s());
  note(app, client, key, per_minute, d);
  return d;
}

bool Ctx::within_limit(const std::string& key, int per_minute) {
  return !app.cfg.rate_limit.enabled || take(key, per_minute).allowed;
}

bool Ctx::rate_ok(const std::string& key, int per_minute) {
  if (!app.cfg.rate_limit.enabled) return true;
  auto d = take(key, per_minute);
  if (!d.allowed) too_many(*res, d);
  return d.allowed;
}

void Ctx::check_login_rate(const std::string& email, const std::string& device, std::function<void()> then) {
  const auto& rl = app.cfg.rate_limit;
  if (!rl.enabled) return then();
  if (!device.empty()) {
    if (rate_ok("login|device|" + device, rl.login_device)) then();
    return;
  }
  std::vector<BucketTake> buckets{
      {"login|acct|" + email, {double(rl.login_account), double(rl.login_account)}},
      {"login|ipacct|" + limit_ip + "|" + email, {double(rl.login_ip_account), double(rl.login_ip_account)}}};
  if (!app.store.shared_buckets()) {
    for (auto& b : buckets)
      if (!rate_ok(b.key, static_cast<int>(b.spec.per_minute))) return;
    return then();
  }
  // Shared by every instance: taken in the store, off this thread.
  app.services.take_shared(buckets, [&app = app, res = res, client = client, buckets,
                                     then = std::move(then)](Expected<SharedDecision> r) {
    if (!r.ok()) return then();  // fails open: the login itself still needs the store
    const auto& [d, i] = r.value();
    note(app, client, buckets[i].key, static_cast<int>(buckets[i].spec.per_minute), d);
    if (d.allowed) return then();
    too_many(*res, d);
  });
}

std::string Ctx::device_for(const std::string& email) const {
  auto token = header("X-Gatehouse-Device");
  if (token.empty()) {
    const auto& jar = req.cookies();
    if (jar.has(app.cfg.cookie.device_name)) token = jar.get(app.cfg.cookie.device_name).value;
  }
  if (token.empty()) return {};
  // The epoch is the account's now: a password change or reset since the
  // token was issued voids it (store unavailable or no account: unknown client).
  domain::User user;
  store::Status st;
  if (auto t = app.store.read(st)) st = t->user_by_email(email, user);
  if (!st.ok()) return {};
  return app.services.devices().verify(token, email, user.device_epoch, now_s()).value_or("");
}

std::unique_ptr<store::ReadTxn> Ctx::read_txn() {
  store::Status st;
  auto t = app.store.read(st);
  if (!t) res->failure(flows::store_failure(st));
  return t;
}

bool Ctx::read_ok(const store::Status& st, const char* missing) {
  if (st.ok()) return true;
  res->failure(flows::store_failure(st, missing));
  return false;
}

bool Ctx::allowed(const std::string& permission) const {
  if (!who || !app.roles->has(who->user().role, permission)) return false;
  const auto& sc = who->scopes;
  return sc.empty() || std::find(sc.begin(), sc.end(), permission) != sc.end();
}

std::string Ctx::refresh_cookie() const {
  const auto& jar = req.cookies();
  return jar.has(app.cfg.cookie.name) ? jar.get(app.cfg.cookie.name).value : std::string();
}

bool Ctx::csrf_ok() {
  // A custom header cannot be sent cross-origin without a CORS preflight,
  // which Gatehouse never grants; the Origin check is defence in depth.
  if (header("X-Gatehouse-CSRF").empty()) {
    res->error(403, "forbidden", "cookie-authenticated requests need the X-Gatehouse-CSRF header");
    return false;
  }
  auto origin = header("Origin");
  if (origin.empty()) return true;
  const auto& allowed = app.cfg.cookie.allowed_origins;
  if (origin == domain::origin_of(app.cfg.tokens.issuer) ||
      std::find(allowed.begin(), allowed.end(), origin) != allowed.end())
    return true;
  res->error(403, "forbidden", "this origin may not use the refresh cookie");
  return false;
}

bool get_string(Ctx& c, const nlohmann::json& body, const char* key, std::string& out,
                bool required) {
  auto it = body.find(key);
  if (it == body.end() || (it->is_null() && !required)) {
    if (!required) return true;
    c.res->error(400, "invalid_request", std::string("'") + key + "' is required");
    return false;
  }
  if (!it->is_string()) {
    c.res->error(400, "invalid_request", std::string("'") + key + "' must be a string");
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool get_bool(Ctx& c, const nlohmann::json& body, const char* key, bool& out) {
  auto it = body.find(key);
  if (it == body.end()) return true;
  if (!it->is_boolean()) {
    c.res->error(400, "invalid_request", std::string("'") + key + "' must be true or false");
    return false;
  }
  out = it->get<bool>();
  return true;
}

namespace {

bool has_control(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    auto u = static_cast<unsigned char>(ch);
    return u < 0x20 || u == 0x7f;
  });
}

constexpr std::size_t kMaxDataBytes = 4096;
constexpr std::size_t kMaxTextBytes = 200;

}  // namespace

std::optional<std::string> email_field(Ctx& c, const std::string& raw) {
  std::string why;
  auto email = domain::normalize_email(raw, why);
  if (!email) c.res->error(400, "invalid_request", why);
  return email;
}

bool read_profile(Ctx& c, const nlohmann::json& body, UserPatch& out) {
  std::string s;
  auto text = [&](const char* key, std::optional<std::string>& dst) {
    if (!body.contains(key)) return true;
    if (!get_string(c, body, key, s, false)) return false;
    if (s.size() > kMaxTextBytes || has_control(s)) {
      c.res->error(400, "invalid_request",
                   std::string("'") + key + "' must be at most 200 bytes without control characters");
      return false;
    }
    dst = s;
    return true;
  };
  if (!text("full_name", out.full_name) || !text("username", out.username) ||
      !text("onboarding", out.onboarding))
    return false;
  if (out.username && !out.username->empty() && !domain::valid_username(*out.username)) {
    c.res->error(400, "invalid_request", domain::kUsernameRule);
    return false;
  }
  if (auto it = body.find("data"); it != body.end() && !it->is_null()) {
    if (!it->is_object() || it->dump().size() > kMaxDataBytes) {
      c.res->error(400, "invalid_request", "'data' must be an object of at most 4096 bytes");
      return false;
    }
    out.data = *it;
  }
  return true;
}

std::string rfc3339(std::int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string user_json_text(const domain::User& u) {
  std::string out;
  out.reserve(512);
  auto field = [&](const char* key) {
    out += out.empty() ? "{\"" : ",\"";
    out += key;
    out += "\":";
  };
  auto text = [&](const char* key, const std::string& v) { field(key), telemetry::append_json_string(out, v); };
  auto text_or_null = [&](const char* key, const std::string& v) {
    if (v.empty()) field(key), out += "null";
    else text(key, v);
  };
  auto flag = [&](const char* key, bool v) { field(key), out += v ? "true" : "false"; };
  // Keys in the order nlohmann's objects keep them (sorted).
  flag("active", u.active);
  text_or_null("avatar_url", u.avatar_url);
  text("created_at", rfc3339(u.created_at));
  field("data");
  out += u.data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text("email", u.email);
  flag("email_verified", u.email_verified);
  text_or_null("full_name", u.full_name);
  text("id", u.id);
  text("onboarding", u.onboarding);
  text("role", u.role);
  text("updated_at", rfc3339(u.updated_at));
  text_or_null("username", u.username);
  out += '}';
  return out;
}

nlohmann::json user_json(const domain::User& u) { return nlohmann::json::parse(user_json_text(u)); }

nlohmann::json public_user_json(const domain::User& u) {
  auto opt = [](const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); };
  return {{"username", opt(u.username)}, {"full_name", opt(u.full_name)}, {"avatar_url", opt(u.avatar_url)}};
}

nlohmann::json tokens_json(const TokenPair& t, bool include_refresh) {
  nlohmann::json j = {{"access_token", t.access_token},
                      {"token_type", "Bearer"},
                      {"expires_in", t.expires_in}};
  if (include_refresh) j["refresh_token"] = t.refresh_token;
  return j;
}

namespace {
std::string cookie_attrs(const config::Config& cfg) {
  return std::string("; Path=/") + (cfg.cookie.secure ? "; Secure" : "") +
         "; HttpOnly; SameSite=" + cfg.cookie.same_site;
}
}  // namespace

std::string set_refresh_cookie(const config::Config& cfg, const TokenPair& t) {
  return cfg.cookie.name + "=" + t.refresh_token + cookie_attrs(cfg) +
         "; Max-Age=" + std::to_string(cfg.tokens.refresh_ttl_s);
}

std::string clear_refresh_cookie(const config::Config& cfg) {
  return cfg.cookie.name + "=" + cookie_attrs(cfg) + "; Max-Age=0";
}

Pistache::Http::Cookie device_cookie(const config::Config& cfg, const std::string& token) {
  Pistache::Http::Cookie c(cfg.cookie.device_name, token);
  c.path = "/";
  c.maxAge = cfg.rate_limit.device_ttl_s;
  c.secure = cfg.cookie.secure;
  c.httpOnly = true;
  c.ext["SameSite"] = cfg.cookie.same_site;
  return c;
}

}  // namespace gh::http
