#include "http/form.hpp"

#include <catch2/catch.hpp>

using gh::http::parse_form;

TEST_CASE("form bodies decode percent escapes and plus", "[form]") {
  std::string why;
  auto f = parse_form("grant_type=password&username=a%40b.com&password=p+w%21", why);
  REQUIRE(f);
  CHECK(f->at("grant_type") == "password");
  CHECK(f->at("username") == "a@b.com");
  CHECK(f->at("password") == "p w!");
  CHECK(parse_form("", why)->empty());
  CHECK(parse_form("flag", why)->at("flag").empty());
}

TEST_CASE("repeated parameters, bad escapes and NULs are refused", "[form]") {
  std::string why;
  CHECK_FALSE(parse_form("a=1&a=2", why));
  CHECK(why.find("repeated") != std::string::npos);
  CHECK_FALSE(parse_form("a=%zz", why));
  CHECK_FALSE(parse_form("a=%4", why));
  CHECK_FALSE(parse_form("a=%", why));
  CHECK_FALSE(parse_form("a=x%00y", why));
  std::string many;
  for (int i = 0; i < 40; ++i) many += "k" + std::to_string(i) + "=v&";
  CHECK_FALSE(parse_form(many, why));
}
