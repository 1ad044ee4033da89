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
