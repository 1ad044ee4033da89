#include "domain/email.hpp"

#include <catch2/catch.hpp>

using gh::domain::normalize_email;

namespace {
std::string norm(std::string_view in) {
  std::string why;
  auto r = normalize_email(in, why);
  return r ? *r : "ERR:" + why;
}
}  // namespace

TEST_CASE("emails are trimmed and lowercased into one account", "[email]") {
  CHECK(norm("Alice@Example.COM") == "alice@example.com");
  CHECK(norm("  alice@example.com\t") == "alice@example.com");
  CHECK(norm("a.b+tag@sub.example.org") == "a.b+tag@sub.example.org");
  CHECK(norm("admin@localhost") == "admin@localhost");
}

TEST_CASE("malformed emails are refused with a reason", "[email]") {
  for (std::string bad : {"", "   ", "no-at-sign", "@example.com", "a@", "a@@b.com", "a b@c.com",
                          "a@exa mple.com", ".a@b.com", "a.@b.com", "a..b@c.com", "a@-b.com",
                          "a@b..com", "\"q\"@b.com", "a@b_c.com", "a@bücher.de"})
    CHECK(norm(bad).rfind("ERR:", 0) == 0);
  CHECK(norm(std::string("a\0b@c.com", 9)).rfind("ERR:", 0) == 0);
  CHECK(norm("a\r\nb@c.com").rfind("ERR:", 0) == 0);
}

TEST_CASE("length limits: 254 octets overall, 64 for the local part", "[email]") {
  CHECK(norm(std::string(64, 'a') + "@b.com").rfind("ERR:", 0) != 0);
  CHECK(norm(std::string(65, 'a') + "@b.com").rfind("ERR:", 0) == 0);
  std::string longest = std::string(64, 'a') + "@" + std::string(63, 'd') + "." + std::string(63, 'd') + "." +
                        std::string(61, 'd');
  REQUIRE(longest.size() == 254);
  CHECK(norm(longest).rfind("ERR:", 0) != 0);
  CHECK(norm(longest + "d").rfind("ERR:", 0) == 0);
}
