// Roles and the management matrix; CIDR allowlists.
#include "actors/logic/cidr.hpp"
#include "actors/logic/roles.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace gh::logic;

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
