// Roles and the management matrix; CIDR allowlists.
#include "domain/cidr.hpp"
#include "domain/roles.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace gh::domain;

TEST_CASE("built-in roles: admin manages everyone, manager manages users, user nobody", "[roles]") {
  auto r = Roles::builtin();
  CHECK(r.has("admin", "users:write"));
  CHECK(r.has("admin", "anything:else"));
  CHECK(r.has("manager", "users:read"));
  CHECK_FALSE(r.has("user", "users:read"));
  CHECK(r.may("admin", Manage::update, "admin"));
  CHECK(r.may("manager", Manage::create, "user"));
  CHECK_FALSE(r.may("manager", Manage::update, "admin"));
  CHECK_FALSE(r.may("manager", Manage::update, "manager"));
  CHECK_FALSE(r.may("manager", Manage::deactivate, "admin"));
  CHECK_FALSE(r.may("user", Manage::update, "user"));
  CHECK_FALSE(r.may("admin", Manage::create, "emperor"));
  CHECK_FALSE(r.may("ghost", Manage::create, "user"));
}

TEST_CASE("the shipped roles.toml adds a custom role and keeps the built-ins", "[roles]") {
  auto r = Roles::load(std::string(GH_SOURCE_DIR) + "/config/roles.toml");
  CHECK(r.exists("support"));
  CHECK(r.has("support", "users:read"));
  CHECK_FALSE(r.has("support", "users:write"));
  CHECK_FALSE(r.may("support", Manage::update, "user"));
  CHECK(r.may("manager", Manage::deactivate, "user"));
}

TEST_CASE("a roles file with an unknown key or target role is refused", "[roles]") {
  auto path = std::filesystem::temp_directory_path() / ("gh-roles-" + std::to_string(::getpid()) + ".toml");
  std::ofstream(path) << "[roles.x]\nmanage = [\"user\"]\n";
  CHECK_THROWS_WITH(Roles::load(path), Catch::Contains("unknown key"));
  std::ofstream(path) << "[roles.x]\ncreate = [\"nobody\"]\n";
  CHECK_THROWS_WITH(Roles::load(path), Catch::Contains("unknown role"));
  std::filesystem::remove(path);
}

TEST_CASE("CIDR ranges match IPv4, IPv6 and mapped addresses", "[cidr]") {
  auto v4 = Cidr::parse("10.1.0.0/16");
  REQUIRE(v4);
  CHECK(v4->contains("10.1.2.3"));
  CHECK_FALSE(v4->contains("10.2.0.1"));
  CHECK(v4->contains("::ffff:10.1.9.9"));
  CHECK_FALSE(v4->contains("not an ip"));
  CHECK(Cidr::parse("192.168.1.7")->contains("192.168.1.7"));
  CHECK_FALSE(Cidr::parse("192.168.1.7")->contains("192.168.1.8"));
  CHECK(Cidr::parse("10.0.0.0/9")->contains("10.127.255.255"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/9")->contains("10.128.0.0"));
  auto v6 = Cidr::parse("2001:db8::/32");
  REQUIRE(v6);
  CHECK(v6->contains("2001:db8:1::1"));
  CHECK_FALSE(v6->contains("2001:db9::1"));
  CHECK_FALSE(v6->contains("10.1.2.3"));
  CHECK(Cidr::parse("0.0.0.0/0")->contains("8.8.8.8"));
  for (auto bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::/129", "10.0.0.0/8x", "host"})
    CHECK_FALSE(Cidr::parse(bad));
}

#include "domain/rate_limit.hpp"

TEST_CASE("a token bucket allows its burst, then refills at its rate", "[ratelimit]") {
  BucketSpec spec{60, 3};  // one a second, burst 3
  TokenBucket b;
  double retry = 0;
  CHECK(b.take(spec, 100.0, retry));
  CHECK(b.take(spec, 100.0, retry));
  CHECK(b.take(spec, 100.0, retry));
  CHECK_FALSE(b.take(spec, 100.0, retry));
  CHECK(retry == Approx(1.0));
  CHECK_FALSE(b.take(spec, 100.5, retry));
  CHECK(retry == Approx(0.5));
  CHECK(b.take(spec, 101.0, retry));
  CHECK(b.seconds_to_full(spec, 101.0) == Approx(3.0));
  CHECK(b.seconds_to_full(spec, 200.0) == 0);
}

TEST_CASE("the limiter keys buckets apart and reports the RateLimit fields", "[ratelimit]") {
  RateLimiter rl(1 << 16);
  BucketSpec spec{120, 2};
  CHECK(rl.take("a", spec, 0).allowed);
  auto d = rl.take("a", spec, 0);
  CHECK(d.allowed);
  CHECK(d.remaining == 0);
  d = rl.take("a", spec, 0);
  CHECK_FALSE(d.allowed);
  CHECK(d.limit == 2);
  CHECK(d.retry_after_s == 1);
  CHECK(d.reset_s == 1);
  CHECK(rl.take("b", spec, 0).allowed);
}

TEST_CASE("a flood of distinct keys keeps the limiter bounded", "[ratelimit]") {
  RateLimiter rl(10'000);
  BucketSpec spec{60, 60};
  for (int i = 0; i < 1'000'000; ++i)
    rl.take("ip|" + std::to_string(i * 2654435761u), spec, i / 1000.0);
  CHECK(rl.size() <= 10'000);
  // A hot key that keeps being limited survives the churn around it.
  RateLimiter hot(10'000);
  for (int i = 0; i < 60; ++i) hot.take("attacker", spec, 0);
  CHECK_FALSE(hot.take("attacker", spec, 0).allowed);
}

#include "domain/backoff.hpp"

TEST_CASE("the login back-off grows, caps, and is forgotten after its window", "[backoff]") {
  Backoff b{5, 900, 3600};
  CHECK(b.delay_s(4) == 0);
  CHECK(b.delay_s(5) == 1);
  CHECK(b.delay_s(8) == 8);
  CHECK(b.delay_s(100) == 900);
  CHECK_FALSE(b.throttled(4, 1000, 1000));
  CHECK(b.throttled(7, 1000, 1003));
  CHECK_FALSE(b.throttled(7, 1000, 1004));  // 2^2 s have passed: the owner may try
  CHECK(b.throttled(100, 1000, 1899));
  CHECK_FALSE(b.throttled(100, 1000, 1900));
  CHECK(b.live_count(9, 1000, 4600) == 9);
  CHECK(b.live_count(9, 1000, 4601) == 0);
}
