// The PostgreSQL test binary: starts the throwaway cluster, runs the tests,
// stops it (tests/support/pg_cluster.hpp).
#define CATCH_CONFIG_RUNNER
#include "tests/support/pg_cluster.hpp"

#include <catch2/catch.hpp>

#include <iostream>

int main(int argc, char** argv) {
  std::string why;
  if (!gh::testing::cluster().start(why)) {
    std::cerr << "cannot start a PostgreSQL cluster: " << why << "\n";
    return 1;
  }
  int rc = Catch::Session().run(argc, argv);
  gh::testing::cluster().stop();
  return rc;
}
