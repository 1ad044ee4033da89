// Small pure pieces: the token cache, the router and the log line format.
#include "domain/entities.hpp"
#include "domain/token_cache.hpp"
#include "http/router.hpp"
#include "telemetry/log.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>

using namespace gh;

TEST_CASE("the token cache finds what it verified and stays bounded", "[cache]") {
  domain::TokenCache cache(1024);
  domain::AccessClaims c;
  c.sub = "u1";
  cache.insert("token-1", c);
  REQUIRE(cache.find("token-1"));
  CHECK(cache.find("token-1")->sub == "u1");
  CHECK_FALSE(cache.find("token-2"));
  for (int i = 0; i < 100000; ++i) cache.insert("t" + std::to_string(i), c);
  CHECK(cache.size() <= 1024);
  CHECK(cache.find("t99999"));
  domain::TokenCache off(0);
  off.insert("x", c);
  CHECK_FALSE(off.find("x"));
}

TEST_CASE("the router matches params and lists allowed methods", "[router]") {
  using Pistache::Http::Method;
  http::Router r;
  int hit = 0;
  r.add(Method::Get, "/auth/sessions", http::Access::signed_in(), [&](http::Ctx&) { hit = 1; });
  r.add(Method::Delete, "/auth/sessions/{id}", http::Access::signed_in(), [&](http::Ctx&) { hit = 2; });
  r.add(Method::Post, "/auth/login", http::Access::anyone(), [&](http::Ctx&) { hit = 3; });
  auto m = r.match(Method::Delete, "/auth/sessions/abc");
  REQUIRE(m.handler);
  CHECK(m.params == std::vector<std::string>{"abc"});
  CHECK(m.route == "/auth/sessions/{id}");
  auto wrong = r.match(Method::Get, "/auth/login");
  CHECK_FALSE(wrong.handler);
  CHECK(wrong.allow == "POST");
  CHECK_FALSE(r.match(Method::Get, "/nope").handler);
  CHECK(r.match(Method::Get, "/nope").allow.empty());
  CHECK_FALSE(r.match(Method::Delete, "/auth/sessions/").handler);
  CHECK_FALSE(r.match(Method::Get, "/auth/sessions/abc/extra").handler);
}

TEST_CASE("log lines are one JSON object with escaped fields", "[log]") {
  auto line = telemetry::format_line(telemetry::Level::warn, "m\"sg\n",
                                     {{"ip", "1.2.3.4"}, {"ua", "bad \xff utf8\x01"}}, 1'700'000'000'123);
  CHECK(line.find('\n') == std::string::npos);
  auto j = nlohmann::json::parse(line);
  CHECK(j["ts"] == "2023-11-14T22:13:20.123Z");
  CHECK(j["level"] == "warn");
  CHECK(j["msg"] == "m\"sg\n");
  CHECK(j["ip"] == "1.2.3.4");
  CHECK(line.rfind("{\"ts\":", 0) == 0);
}

#include "telemetry/trace.hpp"

TEST_CASE("traceparent parsing is strict and round-trips", "[trace]") {
  auto c = telemetry::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  REQUIRE(c);
  CHECK(c->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(c->span_id == "00f067aa0ba902b7");
  CHECK(c->sampled);
  CHECK(telemetry::format_traceparent(*c) == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  for (auto bad : {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                   "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                   "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                   "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                   "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
                   "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    CHECK_FALSE(telemetry::parse_traceparent(bad));
  CHECK(telemetry::new_trace_id().size() == 32);
  CHECK(telemetry::new_span_id().size() == 16);
}

TEST_CASE("the sampler decides from the trace id; errors and slow answers are always kept", "[trace]") {
  telemetry::configure_sampling(0.5, 100);
  CHECK(telemetry::sample_new_trace("4bf92f3577b34da6a3" + std::string("00000000000001")));
  CHECK_FALSE(telemetry::sample_new_trace(std::string(18, 'a') + "ffffffffffffff"));
  int kept = 0;
  for (int i = 0; i < 2000; ++i) kept += telemetry::sample_new_trace(telemetry::new_trace_id());
  CHECK(kept > 800);
  CHECK(kept < 1200);
  CHECK(telemetry::always_record(500, 1));
  CHECK(telemetry::always_record(200, 150));
  CHECK_FALSE(telemetry::always_record(404, 1));
  telemetry::configure_sampling(0.0, 0);
  CHECK_FALSE(telemetry::sample_new_trace(telemetry::new_trace_id()));
  CHECK_FALSE(telemetry::always_record(200, 1e9));
  telemetry::configure_sampling(1.0, 0);
  CHECK(telemetry::sample_new_trace(telemetry::new_trace_id()));
}

TEST_CASE("a span ends on every path: copies share it, the last one dropped ends it as an error", "[trace]") {
  auto trace = telemetry::new_trace_id(), parent = telemetry::new_span_id();
  auto count = [&](const std::string& name) {
    int n = 0;
    for (auto& s : telemetry::recent_spans(4096)) n += s.trace_id == trace && s.name == name;
    return n;
  };
  {
    telemetry::SpanTimer a(trace, parent, "ended");
    auto b = a;  // as in an actor's callback
    b.end();
    a.end();
  }
  CHECK(count("ended") == 1);
  std::string id;
  {
    telemetry::SpanTimer a(trace, parent, "dropped");
    id = a.span_id();
    auto b = a;
  }
  auto spans = telemetry::recent_spans(4096);
  auto it = std::find_if(spans.begin(), spans.end(), [&](auto& s) { return s.span_id == id; });
  REQUIRE(it != spans.end());
  CHECK(it->error);
  // No parent (an unsampled request), or no trace: nothing is recorded.
  telemetry::SpanTimer orphan(trace, "", "orphan");
  CHECK_FALSE(orphan.recording());
  CHECK(orphan.span_id().empty());
  orphan.end();
  CHECK(count("orphan") == 0);
}

TEST_CASE("OTLP JSON uses hex ids, string nanos and integer enums", "[trace]") {
  telemetry::Span s;
  s.trace_id = std::string(32, 'a');
  s.span_id = std::string(16, 'b');
  s.parent_span_id = std::string(16, 'c');
  s.name = "GET /health";
  s.kind = telemetry::SpanKind::server;
  s.start_ns = 1'700'000'000'000'000'000;
  s.end_ns = s.start_ns + 5;
  s.attributes = {{"http.response.status_code", 200}, {"http.route", "/health"}};
  auto j = telemetry::otlp_request({s}, "gatehouse");
  auto& span = j["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  CHECK(span["traceId"] == s.trace_id);
  CHECK(span["parentSpanId"] == s.parent_span_id);
  CHECK(span["kind"] == 2);
  CHECK(span["startTimeUnixNano"] == "1700000000000000000");
  CHECK(span["status"]["code"] == 0);
  CHECK(span["attributes"][0]["value"]["intValue"] == "200");
  CHECK(j["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"] == "gatehouse");
}

TEST_CASE("revoke reasons keep the names the store and the audit records hold") {
  using domain::RevokeReason;
  const std::pair<RevokeReason, std::string> names[] = {
      {RevokeReason::logout, "logout"},
      {RevokeReason::logout_all, "logout_all"},
      {RevokeReason::revoked_by_user, "revoked_by_user"},
      {RevokeReason::session_limit, "session_limit"},
      {RevokeReason::reuse, "reuse"},
      {RevokeReason::password_changed, "password_changed"},
      {RevokeReason::deactivated, "deactivated"},
  };
  for (auto& [reason, name] : names) {
    CHECK(domain::revoke_reason_name(reason) == name);
    RevokeReason back;
    REQUIRE(domain::parse_revoke_reason(name, back));
    CHECK(back == reason);
  }
  RevokeReason none;
  CHECK_FALSE(domain::parse_revoke_reason("Logout", none));
}
