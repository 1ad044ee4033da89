// Role-scoped user management. The route table says which permission each
// route needs (checked before the handler runs); the management matrix —
// which target roles the caller's role may create, update or deactivate — is
// checked by the user actor inside the write transaction, against the
// target's role as stored.
#include "domain/base64url.hpp"
#include "http/context.hpp"
#include "http/routes.hpp"
#include "http/assets.hpp"
#include "telemetry/metrics.hpp"
#include "telemetry/trace.hpp"

#include <map>

namespace gh::http {
namespace {

using Pistache::Http::Method;
using nlohmann::json;

ActingUser acting(const Ctx& c) { return {c.who->user().id, c.who->user().role, c.client}; }

auto answer_user(const std::shared_ptr<Responder>& res, int status) {
  return [res, status](Expected<domain::User> r) {
    if (!r.ok()) return res->failure(r.failure());
    res->json_text(status, user_json_text(r.value()));
  };
}

std::string query(const Ctx& c, const char* name) {
  auto v = c.req.query().get(name);
  return v ? *v : std::string();
}

// GET /admin/users?cursor=&limit=&email_prefix=&role=  (email order)
void list_users(Ctx& c) {
  int limit = 50;
  if (auto l = query(c, "limit"); !l.empty()) {
    try {
      limit = std::stoi(l);
    } catch (...) {
      limit = 0;
    }
    if (limit < 1 || limit > 200) return c.res->error(400, "invalid_request", "limit must be 1-200");
  }
  auto cursor = query(c, "cursor"), prefix = query(c, "email_prefix"), role = query(c, "role");
  auto t = c.read_txn();
  if (!t) return;
  auto users = json::array();
  std::string next;
  bool from_cursor = !cursor.empty() && cursor >= prefix;
  auto st = t->users_by_email(from_cursor ? cursor : prefix, from_cursor, [&](const domain::User& u) {
    if (u.email.compare(0, prefix.size(), prefix) != 0) return false;
    if (!role.empty() && u.role != role) return true;
    if (static_cast<int>(users.size()) == limit) {
      next = users.back()["email"];
      return false;
    }
    users.push_back(user_json(u));
    return true;
  });
  if (!c.read_ok(st)) return;
  c.res->json(200, {{"users", users}, {"next_cursor", next.empty() ? json() : json(next)}});
}

void get_user(Ctx& c) {
  auto t = c.read_txn();
  if (!t) return;
  domain::User u;
  if (!c.read_ok(t->user(c.params.at(0), u), "no such user")) return;
  c.res->json_text(200, user_json_text(u));
}

void create_user(Ctx& c) {
  auto body = c.json_body({"email", "password", "role", "username", "full_name", "data"});
  if (!body) return;
  NewUser nu;
  std::string raw_email;
  UserPatch profile;
  if (!get_string(c, *body, "email", raw_email, true) ||
      !get_string(c, *body, "password", nu.password, true) ||
      !get_string(c, *body, "role", nu.role, false) || !read_profile(c, *body, profile))
    return;
  auto email = email_field(c, raw_email);
  if (!email) return;
  if (nu.role.empty()) nu.role = "user";
  if (auto bad = c.app.policy.check(nu.password)) return c.res->error(422, "invalid_password", *bad);
  nu.email = std::move(*email);
  nu.username = profile.username.value_or("");
  nu.full_name = profile.full_name.value_or("");
  if (profile.data) nu.data = *profile.data;
  c.app.services.create_user(acting(c), std::move(nu), answer_user(c.res, 201));
}

void patch_user(Ctx& c) {
  auto body = c.json_body({"role", "full_name", "username", "onboarding", "data", "email_verified"});
  if (!body) return;
  UserPatch patch;
  std::string role;
  bool verified = false;
  if (!read_profile(c, *body, patch) || !get_string(c, *body, "role", role, false) ||
      !get_bool(c, *body, "email_verified", verified))
    return;
  if (body->contains("role")) patch.role = role;
  if (body->contains("email_verified")) patch.email_verified = verified;
  c.app.services.update_user(acting(c), c.params.at(0), std::move(patch), answer_user(c.res, 200));
}

void deactivate(Ctx& c) {
  c.app.services.set_active(acting(c), c.params.at(0), false, answer_user(c.res, 200));
}

void reactivate(Ctx& c) {
  c.app.services.set_active(acting(c), c.params.at(0), true, answer_user(c.res, 200));
}

// GET /admin/audit?after=SEQ&limit=N&type=…&user=…  (sequence order)
void list_audit(Ctx& c) {
  std::uint64_t after = 0;
  int limit = 100;
  try {
    if (auto a = query(c, "after"); !a.empty()) after = std::stoull(a);
    if (auto l = query(c, "limit"); !l.empty()) limit = std::stoi(l);
  } catch (...) {
    return c.res->error(400, "invalid_request", "after and limit must be numbers");
  }
  if (limit < 1 || limit > 1000) return c.res->error(400, "invalid_request", "limit must be 1-1000");
  auto type = query(c, "type"), user = query(c, "user");
  auto t = c.read_txn();
  if (!t) return;
  auto events = json::array();
  std::uint64_t last = after;
  auto st = t->audit_after(after, [&](const store::AuditRecord& r) {
    last = r.seq;
    auto e = json::parse(r.canonical, nullptr, false);
    if (!e.is_object()) return true;
    if (!type.empty() && e.value("type", "") != type) return true;
    if (!user.empty() && e.value("subject_user_id", "") != user && e.value("actor_user_id", "") != user)
      return true;
    e["seq"] = r.seq;
    events.push_back(std::move(e));
    return static_cast<int>(events.size()) < limit;
  });
  if (!c.read_ok(st)) return;
  c.res->json(200, {{"events", events}, {"next_after", last}});
}

// The dashboard page itself carries no data, so anyone may load it; every
// number on it comes from /admin/metrics and the admin APIs, called with the
// admin's access token (typed in, or passed as #token=… in the URL).
void dashboard(Ctx& c) { c.res->page(200, kDashboardHtml, "text/html; charset=utf-8"); }
void dashboard_js(Ctx& c) { c.res->page(200, kDashboardJs, "text/javascript; charset=utf-8"); }
void dashboard_css(Ctx& c) { c.res->page(200, kDashboardCss, "text/css; charset=utf-8"); }

// GET /admin/metrics: the Prometheus exposition for the dashboard, behind a
// permission. Scrapers use the metrics listener ([metrics] listen) instead:
// the API port has no anonymous /metrics, since the counters tell existing
// accounts from unknown ones.
void admin_metrics(Ctx& c) {
  c.res->raw(200, telemetry::metrics_text(), "text/plain; version=0.0.4; charset=utf-8", 0);
}

// GET /admin/traces?limit=N: recent spans grouped by trace, newest trace last.
void list_traces(Ctx& c) {
  int limit = 500;
  try {
    if (auto l = query(c, "limit"); !l.empty()) limit = std::stoi(l);
  } catch (...) {
    limit = 0;
  }
  if (limit < 1 || limit > 2048) return c.res->error(400, "invalid_request", "limit must be 1-2048");
  std::vector<std::string> order;
  std::map<std::string, json> traces;
  for (auto& s : telemetry::recent_spans(static_cast<std::size_t>(limit))) {
    auto [it, fresh] = traces.try_emplace(s.trace_id, json::array());
    if (fresh) order.push_back(s.trace_id);
    it->second.push_back(telemetry::span_json(s));
  }
  auto out = json::array();
  for (auto& id : order) out.push_back({{"trace_id", id}, {"spans", traces[id]}});
  c.res->json(200, {{"traces", out}});
}

// GET /admin/audit/stream: Server-Sent Events of audit records (`id` = the
// sequence number, `event: audit`), after `Last-Event-ID` (or ?after=).
// Each answer is one write: the records already there, or else the first
// batch committed while it waits (at most kStreamWaitMs, and half of the
// answer timeout); then it ends with a
// `retry` hint and the client reconnects with Last-Event-ID (EventSource does
// so by itself). One write per answer because Pistache 0.0.5's chunked
// streams, written from an actor thread, crashed its transport.
constexpr std::int64_t kStreamWaitMs = 5000;

std::string sse_event(std::uint64_t seq, const std::string& data) {
  return "id: " + std::to_string(seq) + "\nevent: audit\ndata: " + data + "\n\n";
}

void stream_audit(Ctx& c) {
  std::uint64_t after = 0;
  try {
    auto from = c.header("Last-Event-ID");
    if (from.empty()) from = query(c, "after");
    if (!from.empty()) after = std::stoull(from);
  } catch (...) {
    return c.res->error(400, "invalid_request", "Last-Event-ID must be a sequence number");
  }
  auto res = c.res;
  auto answer = [res](const std::string& events) {
    res->raw(200, "retry: 500\n\n" + events, "text/event-stream", 0);
  };
  auto done = std::make_shared<std::atomic<bool>>(false);
  // Under Pistache's answer timeout (server.header_timeout_ms), or the wait would end in a 408.
  auto wait_ms = std::min<std::int64_t>(kStreamWaitMs, c.app.cfg.server.header_timeout_ms / 2);
  auto waited_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  c.app.services.audit_feed().subscribe(
      // Live: the first batch with something new answers; heartbeats (empty
      // batches, every second) end the wait.
      [answer, done, after, waited_until](const std::vector<std::string>& lines) {
        if (done->load()) return false;
        std::string events;
        for (auto& line : lines) {
          auto j = json::parse(line, nullptr, false);
          auto seq = j.is_object() ? j.value("seq", std::uint64_t{0}) : 0;
          if (seq > after) events += sse_event(seq, line);
        }
        if (events.empty() && std::chrono::steady_clock::now() < waited_until) return true;
        done->store(true);
        answer(events.empty() ? ": no new records\n\n" : events);
        return false;
      },
      [&] {  // under the feed's lock: everything published so far is committed, so visible here
        store::Status st;
        auto t = c.app.store.read(st);
        if (!t) return;
        std::string events;
        t->audit_after(after, [&](const store::AuditRecord& r) {
          events += sse_event(r.seq, domain::audit_line(r.canonical, r.seq, r.hash));
          return events.size() < 256 * 1024;
        });
        if (events.empty()) return;
        done->store(true);
        answer(events);
      });
}

}  // namespace

void install_admin_routes(Router& r) {
  r.add(Method::Get, "/admin/audit/stream", Access::needs("audit:read"), stream_audit);
  r.add(Method::Get, "/admin/traces", Access::needs("traces:read"), list_traces);
  r.add(Method::Get, "/admin/dashboard", Access::anyone(), dashboard);
  r.add(Method::Get, "/admin/metrics", Access::needs("metrics:read"), admin_metrics);
  r.add(Method::Get, "/admin/dashboard.js", Access::anyone(), dashboard_js);
  r.add(Method::Get, "/admin/dashboard.css", Access::anyone(), dashboard_css);
  r.add(Method::Get, "/admin/audit", Access::needs("audit:read"), list_audit);
  const auto read = Access::needs("users:read"), write = Access::needs("users:write");
  r.add(Method::Get, "/admin/users", read, list_users);
  r.add(Method::Post, "/admin/users", write, create_user);
  r.add(Method::Get, "/admin/users/{id}", read, get_user);
  r.add(Method::Patch, "/admin/users/{id}", write, patch_user);
  r.add(Method::Post, "/admin/users/{id}/deactivate", write, deactivate);
  r.add(Method::Post, "/admin/users/{id}/reactivate", write, reactivate);
}

}  // namespace gh::http
