// Small pure pieces: the token cache, the router and the log line format.
#include "actors/logic/token_cache.hpp"
#include "http/router.hpp"
#include "telemetry/log.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace gh;

TEST_CASE("the token cache finds what it verified and stays bounded", "[cache]") {
  logic::TokenCache cache(1024);
  logic::AccessClaims c;
  c.sub = "u1";
  cache.insert("token-1", c);
  REQUIRE(cache.find("token-1"));
  CHECK(cache.find("token-1")->sub == "u1");
  CHECK_FALSE(cache.find("token-2"));
  for (int i = 0; i < 100000; ++i) cache.insert("t" + std::to_string(i), c);
  CHECK(cache.size() <= 1024);
  CHECK(cache.find("t99999"));
  logic::TokenCache off(0);
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
