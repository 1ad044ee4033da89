// The contract tests (tests/contract/) are written against store/store.hpp
// only; each engine links them with a factory of its own (lmdb_factory.cpp
// today), so the same tests run unchanged against every backend.
#pragma once

#include "store/store.hpp"

#include <memory>
#include <string>

namespace gh::contract {

/// The engine under test, for test names and messages ("lmdb").
const char* backend_name();

/// A new, empty store kept in folder `dir` (which may not exist yet);
/// the test fails (REQUIRE) when it cannot be made.
std::unique_ptr<store::Backend> make_backend(const std::string& dir);

}  // namespace gh::contract
