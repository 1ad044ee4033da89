// The contract tests run against the LMDB engine.
#include "tests/contract/backend_factory.hpp"

#include "store/lmdb/backend.hpp"

#include <catch2/catch.hpp>

namespace gh::contract {

const char* backend_name() { return "lmdb"; }

std::unique_ptr<store::Backend> make_backend(const std::string& dir) {
  store::Status st;
  auto b = store::lmdb::open({dir, std::size_t{64} << 20}, st);
  INFO(st.to_string());
  REQUIRE(b);
  return b;
}

}  // namespace gh::contract
