// Test hooks of the PostgreSQL engine: for tests and tools only; flows never
// include it.
#pragma once

#include "store/store.hpp"

#include <string>
#include <vector>

namespace gh::store::postgres::testing {

/// Applies every migration file (the tables) without stamping the store's
/// contract version: a new, empty store as the contract tests expect one
/// (schema_version() 0, writable). Not under the migration lock.
Status create_tables(Backend& b);
/// Runs `sql` (a simple query) in a transaction of its own, committed;
/// `rows` (optional) gets the first column of each result row, as text.
Status exec(Backend& b, const std::string& sql, std::vector<std::string>* rows = nullptr);

}  // namespace gh::store::postgres::testing
