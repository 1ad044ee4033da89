// The contract tests run against the PostgreSQL engine, on the throwaway
// cluster the test main starts (tests/support/pg_cluster.hpp). Each store is
// a new database, copied from a template that holds the tables (the
// migration files applied, the contract version not stamped: "new, empty").
#include "tests/contract/backend_factory.hpp"

#include "store/postgres/backend.hpp"
#include "store/postgres/testing.hpp"
#include "tests/support/pg_cluster.hpp"

#include <catch2/catch.hpp>

namespace gh::contract {

const char* backend_name() { return "postgres"; }

namespace {
std::unique_ptr<store::Backend> open_db(const std::string& name) {
  store::Status st;
  store::postgres::Options o;
  o.url = testing::cluster().url(name);
  o.pool_size = 6;
  auto b = store::postgres::open(o, st);
  INFO(st.to_string());
  REQUIRE(b);
  return b;
}

const std::string& template_db() {
  static std::string name = [] {
    std::string why;
    auto n = testing::cluster().create_database("gh_template", why);
    INFO(why);
    REQUIRE(!n.empty());
    auto b = open_db(n);
    auto st = store::postgres::testing::create_tables(*b);
    INFO(st.to_string());
    REQUIRE(st.ok());
    return n;  // b closes: a template must have no connections
  }();
  return name;
}
}  // namespace

std::unique_ptr<store::Backend> make_backend(const std::string&) {
  std::string why;
  auto name = testing::cluster().create_database("gh_contract", why, template_db());
  INFO(why);
  REQUIRE(!name.empty());
  return open_db(name);
}

}  // namespace gh::contract
