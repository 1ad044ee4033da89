#include "config/config.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>
#include <fstream>

using gh::config::Config;
using gh::config::ConfigError;

namespace {
// A TOML file in the temp folder, removed when the process exits.
std::string write_toml(const std::string& text) {
  static const auto path =
      std::filesystem::temp_directory_path() / ("gh-config-" + std::to_string(::getpid()) + ".toml");
  static const struct Cleanup {
    ~Cleanup() { std::filesystem::remove(path); }
  } cleanup;
  std::ofstream(path) << text;
  return path.string();
}
}  // namespace

TEST_CASE("defaults follow the documented values", "[config]") {
  auto c = Config::load("", {});
  CHECK(c.server.listen == "127.0.0.1:8000");
  CHECK(c.hashing.ops_limit == 2);
  CHECK(c.hashing.mem_limit_kib == 19456);
  CHECK(c.tokens.access_ttl_s == 900);
  CHECK(c.password.min_length == 8);
  CHECK(c.cookie.name == "__Host-gatehouse_refresh");
}

TEST_CASE("the shipped config file loads", "[config]") {
  auto c = Config::load(std::string(GH_SOURCE_DIR) + "/config/gatehouse.toml", {});
  CHECK(c.store.path == "var");
  CHECK(c.config_dir == std::string(GH_SOURCE_DIR) + "/config");
  CHECK(c.resolve(c.password.blocklist) == std::string(GH_SOURCE_DIR) + "/config/common-passwords.txt");
}

TEST_CASE("the file is read and the environment overrides it", "[config]") {
  auto path = write_toml("[server]\nlisten = \"0.0.0.0:9000\"\n[tokens]\naccess_ttl_s = 600\n");
  auto c = Config::load(path, {{"GATEHOUSE_TOKENS_ACCESS_TTL_S", "300"},
                               {"GATEHOUSE_COOKIE_ALLOWED_ORIGINS", "https://a.example,https://b.example"}});
  CHECK(c.server.listen == "0.0.0.0:9000");
  CHECK(c.tokens.access_ttl_s == 300);
  CHECK(c.cookie.allowed_origins == std::vector<std::string>{"https://a.example", "https://b.example"});
}

TEST_CASE("policy strings are checked once and become enums", "[config]") {
  using gh::config::ExistingEmail;
  using gh::config::RateClass;
  CHECK(Config::load("", {}).auth.existing_email == ExistingEmail::conflict);
  auto c = Config::load(write_toml("[auth]\nexisting_email = \"notify\"\n"), {});
  CHECK(c.auth.existing_email == ExistingEmail::notify);
  CHECK(c.auth.hide_existing_email());
  CHECK(Config::load("", {{"GATEHOUSE_AUTH_EXISTING_EMAIL", "notify"}}).auth.hide_existing_email());
  CHECK_THROWS_WITH(Config::load("", {{"GATEHOUSE_AUTH_EXISTING_EMAIL", "Notify"}}),
                    Catch::Contains("auth.existing_email") && Catch::Contains("must be conflict or notify"));
  CHECK_THROWS_WITH(Config::load(write_toml("[auth]\nexisting_email = 1\n"), {}),
                    Catch::Contains("must be conflict or notify"));
  for (auto cls : {RateClass::standard, RateClass::login, RateClass::register_, RateClass::refresh, RateClass::link}) {
    RateClass back;
    REQUIRE(gh::config::parse_rate_class(gh::config::rate_class_name(cls), back));
    CHECK(back == cls);
  }
  CHECK(std::string(gh::config::rate_class_name(RateClass::standard)) == "default");
  RateClass none;
  CHECK_FALSE(gh::config::parse_rate_class("Login", none));
  gh::config::RateLimit rl;
  rl.login_ip = 1, rl.register_ip = 2, rl.refresh_ip = 3, rl.link_ip = 4, rl.default_ip = 5;
  CHECK(rl.ip_per_minute(RateClass::login) == 1);
  CHECK(rl.ip_per_minute(RateClass::register_) == 2);
  CHECK(rl.ip_per_minute(RateClass::refresh) == 3);
  CHECK(rl.ip_per_minute(RateClass::link) == 4);
  CHECK(rl.ip_per_minute(RateClass::standard) == 5);
}

TEST_CASE("unknown keys, wrong types and out-of-range values are errors naming the key", "[config]") {
  CHECK_THROWS_WITH(Config::load(write_toml("[server]\nlisen = \"x\"\n"), {}),
                    Catch::Contains("server.lisen"));
  CHECK_THROWS_WITH(Config::load(write_toml("[tokens]\naccess_ttl_s = \"long\"\n"), {}),
                    Catch::Contains("tokens.access_ttl_s"));
  CHECK_THROWS_WITH(Config::load("", {{"GATEHOUSE_TOKENS_ACCESS_TTL_S", "12abc"}}),
                    Catch::Contains("integer"));
  CHECK_THROWS_WITH(Config::load("", {{"GATEHOUSE_HASHING_OPS_LIMIT", "0"}}), Catch::Contains("between"));
  CHECK_THROWS_WITH(Config::load("", {{"GATEHOUSE_COOKIE_SECURE", "false"}}), Catch::Contains("__Host-"));
  CHECK_THROWS_AS(Config::load(write_toml("not toml [["), {}), ConfigError);
}

TEST_CASE("the store engine: lmdb by default, postgres needs a URL, bad values name the key", "[config]") {
  using gh::config::StoreBackend;
  auto c = Config::load("", {});
  CHECK(c.store.backend == StoreBackend::lmdb);
  CHECK(c.store.url.empty());
  CHECK(c.store.pool_size == 8);
  CHECK(c.store.statement_timeout_ms == 5000);
  CHECK(c.store.lock_timeout_ms == 5000);
  CHECK(c.store.connect_timeout_s == 5);
  CHECK(c.store.max_staleness_ms == 2000);
  c = Config::load(write_toml("[store]\nbackend = \"postgres\"\nurl = \"postgres://gh@db/gh\"\npool_size = 3\n"),
                   {{"GATEHOUSE_STORE_URL", "postgres://gh@other/gh"}});
  CHECK(c.store.backend == StoreBackend::postgres);
  CHECK(c.store.url == "postgres://gh@other/gh");  // the environment wins
  CHECK(c.store.pool_size == 3);
  CHECK_THROWS_WITH(Config::load("", {{"GATEHOUSE_STORE_BACKEND", "postgres"}}),
                    Catch::Contains("'store.url'") && Catch::Contains("GATEHOUSE_STORE_URL"));
  CHECK_THROWS_WITH(Config::load("", {{"GATEHOUSE_STORE_BACKEND", "mysql"}}),
                    Catch::Contains("'store.backend'") && Catch::Contains("lmdb or postgres"));
  CHECK_THROWS_WITH(Config::load(write_toml("[store]\npool_size = 0\n"), {}), Catch::Contains("'store.pool_size'"));
  CHECK_THROWS_WITH(Config::load("", {{"GATEHOUSE_STORE_LOCK_TIMEOUT_MS", "-1"}}),
                    Catch::Contains("'store.lock_timeout_ms'"));
}
