#include "http/context.hpp"
#include "http/json_body.hpp"

#include <catch2/catch.hpp>

using gh::http::parse_json_object;

namespace {
bool parses(std::string_view body, std::string* why_out = nullptr) {
  std::string why;
  bool ok = parse_json_object(body, 16, why).has_value();
  if (why_out) *why_out = why;
  return ok;
}
}  // namespace

TEST_CASE("a well-formed object parses", "[json]") {
  std::string why;
  auto j = parse_json_object(R"({"email":"a@b.c","n":[1,2,{"x":null}]})", 16, why);
  REQUIRE(j);
  CHECK((*j)["email"] == "a@b.c");
}

TEST_CASE("syntax errors, non-objects and bad numbers are refused", "[json]") {
  for (std::string bad : {"", "{", R"({"a":})", "[1,2]", "\"str\"", "42", R"({"a":1e999})",
                          R"({"a":-1e999})", R"({"a":1}garbage)", "{'a':1}"})
    CHECK_FALSE(parses(bad));
}

TEST_CASE("a repeated key in any object is refused", "[json]") {
  std::string why;
  CHECK_FALSE(parses(R"({"email":"a","email":"b"})", &why));
  CHECK(why.find("duplicate") != std::string::npos);
  CHECK_FALSE(parses(R"({"d":{"x":1,"x":2}})"));
  CHECK(parses(R"({"a":{"x":1},"b":{"x":2}})"));
}

TEST_CASE("nesting beyond the limit is refused cheaply, even 100000 deep", "[json]") {
  std::string deep(100000, '[');
  std::string why;
  CHECK_FALSE(parses("{\"a\":" + deep, &why));
  CHECK(why.find("deeper") != std::string::npos);
  std::string ok = "{\"a\":" + std::string(14, '[') + std::string(14, ']') + "}";
  CHECK(parses(ok));
}

TEST_CASE("invalid UTF-8, overlong forms and lone surrogates are refused", "[json]") {
  CHECK_FALSE(parses("{\"a\":\"\xff\"}"));
  CHECK_FALSE(parses("{\"a\":\"\xc0\xaf\"}"));        // overlong '/'
  CHECK_FALSE(parses("{\"a\":\"\xed\xa0\x80\"}"));    // encoded surrogate
  CHECK_FALSE(parses(R"({"a":"\ud800"})"));           // lone surrogate escape
  CHECK(parses(R"({"a":"\ud83d\ude00"})"));           // a valid pair
  CHECK(parses("{\"a\":\"\xf0\x9f\x98\x80\"}"));
}

TEST_CASE("a user is written as the same JSON nlohmann would write", "[json]") {
  gh::domain::User u;
  u.id = "0123456789abcdef0123456789abcdef";
  u.email = "a@example.com";
  u.full_name = "Zoë \"Q\" \\ \x01\n\t\x0b\b\r\f名前";
  u.username = "";  // null
  u.data = {{"k", {1, "two", nullptr}}};
  u.created_at = 0;
  u.updated_at = 1700000000;
  nlohmann::json expected = {{"id", u.id},
                             {"email", u.email},
                             {"email_verified", false},
                             {"role", "user"},
                             {"username", nullptr},
                             {"full_name", u.full_name},
                             {"avatar_url", nullptr},
                             {"onboarding", "new"},
                             {"active", true},
                             {"data", u.data},
                             {"created_at", "1970-01-01T00:00:00Z"},
                             {"updated_at", "2023-11-14T22:13:20Z"}};
  CHECK(gh::http::user_json_text(u) == expected.dump());
  CHECK(gh::http::user_json(u) == expected);
  // Bytes that are not UTF-8 become U+FFFD, never invalid JSON.
  for (std::string bad : {std::string("\xff"), std::string("a\xc3"), std::string("\xed\xa0\x80"),
                          std::string("\xf4\x90\x80\x80"), std::string("\xe0\x80\x80")}) {
    u.full_name = bad;
    auto parsed = nlohmann::json::parse(gh::http::user_json_text(u));
    CHECK(parsed["full_name"].get<std::string>().find("\xef\xbf\xbd") != std::string::npos);
  }
}
