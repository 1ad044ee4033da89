// Test hooks of the LMDB engine: raw access to its tables, for tamper tests
// (editing the audit table), fault tests (garbage bytes where a record should
// be) and counting entries. For tests and tools only; flows never include it.
#pragma once

#include "store/store.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gh::store::lmdb::testing {

/// The bytes under `key` in table `table` (an on-disk name: "users", "audit"…).
/// not_found when there are none; unavailable for an unknown table or a
/// backend that is not an LMDB one.
Status raw_get(const Backend& b, std::string_view table, std::string_view key, std::string& out);
/// Writes (in a transaction of its own, committed) or deletes raw bytes.
Status raw_put(Backend& b, std::string_view table, std::string_view key, std::string_view value);
Status raw_del(Backend& b, std::string_view table, std::string_view key);
/// How many entries the table holds.
Status entries(const Backend& b, std::string_view table, std::size_t& out);
/// The audit table's key of record `seq`.
std::string audit_key(std::uint64_t seq);

}  // namespace gh::store::lmdb::testing
