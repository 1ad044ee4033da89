#include "domain/rotation.hpp"

#include <catch2/catch.hpp>

using namespace gh::domain;
using gh::domain::RefreshRef;
using gh::domain::Session;

namespace {
Session family(std::uint64_t generation, std::int64_t rotated_at) {
  Session s;
  s.id = "s1";
  s.user_id = "u1";
  s.generation = generation;
  s.rotated_at = rotated_at;
  s.expires_at = 10'000;
  return s;
}
}  // namespace

TEST_CASE("the live token rotates", "[rotation]") {
  auto s = family(3, 100);
  RefreshRef ref{"s1", 3, 10'000};
  CHECK(decide_refresh(&ref, &s, 200, 5) == RefreshDecision::rotate);
}

TEST_CASE("the previous token inside the grace window replays, outside it is reuse", "[rotation]") {
  auto s = family(3, 100);
  RefreshRef prev{"s1", 2, 10'000};
  CHECK(decide_refresh(&prev, &s, 105, 5) == RefreshDecision::grace_replay);
  CHECK(decide_refresh(&prev, &s, 106, 5) == RefreshDecision::reuse);
  CHECK(decide_refresh(&prev, &s, 100, 0) == RefreshDecision::reuse);
}

TEST_CASE("older tokens are always reuse", "[rotation]") {
  auto s = family(3, 100);
  RefreshRef old{"s1", 1, 10'000};
  CHECK(decide_refresh(&old, &s, 101, 60) == RefreshDecision::reuse);
}

TEST_CASE("unknown tokens and revoked or expired families are invalid", "[rotation]") {
  auto s = family(0, 100);
  RefreshRef ref{"s1", 0, 10'000};
  CHECK(decide_refresh(nullptr, &s, 101, 5) == RefreshDecision::invalid);
  CHECK(decide_refresh(&ref, nullptr, 101, 5) == RefreshDecision::invalid);
  RefreshRef other{"s2", 0, 10'000};
  CHECK(decide_refresh(&other, &s, 101, 5) == RefreshDecision::invalid);
  s.revoked = true;
  CHECK(decide_refresh(&ref, &s, 101, 5) == RefreshDecision::invalid);
  s.revoked = false;
  CHECK(decide_refresh(&ref, &s, 10'000, 5) == RefreshDecision::invalid);
}

TEST_CASE("successor tokens are deterministic per secret and look random", "[rotation]") {
  auto t = new_refresh_token();
  CHECK(t.size() == 43);
  CHECK(new_refresh_token() != t);
  std::string secret(32, 's');
  CHECK(next_refresh_token(secret, t) == next_refresh_token(secret, t));
  CHECK(next_refresh_token(secret, t) != next_refresh_token(std::string(32, 'x'), t));
  CHECK(next_refresh_token(secret, t) != t);
  CHECK(next_refresh_token(secret, t).size() == 43);
}
