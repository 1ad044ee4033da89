// The PostgreSQL engine: the store contract (store/store.hpp) kept in a
// PostgreSQL 15 database through libpq, so several Gatehouse instances can
// share one state. The only code that names libpq is in this folder.
//
// Tables: store/postgres/migrations/*.sql, applied by migrate() (`gatehouse
// migrate`) under an advisory lock, in one transaction; the table
// schema_version lists the files applied. open() never changes the schema.
//
// Transactions: each one is a pooled connection with BEGIN … COMMIT. A
// ReadTxn is REPEATABLE READ READ ONLY (the contract's consistent snapshot);
// a write transaction is READ COMMITTED and first takes a transaction-scoped
// advisory lock shared by every writer of the database, so writes are
// serialised as the LMDB engine's are (one writer at a time, across
// processes too). A batch is one transaction, each operation in a savepoint.
// principal() is one autocommit statement (a join).
//
// Errors: a unique violation (SQLSTATE 23505) is conflict; a lost or refused
// connection, a statement or lock timeout, anything the server refuses is
// unavailable; a row that does not decode is corrupt.
#pragma once

#include "store/store.hpp"

#include <memory>
#include <string>

namespace gh::store::postgres {

struct Options {
  /// A libpq connection URI or key=value string, e.g.
  /// postgres://gatehouse@db/gatehouse. The password comes from it or from
  /// PGPASSWORD / ~/.pgpass (libpq's rules); it is never logged.
  std::string url;
  /// Most connections open at once (each transaction holds one).
  int pool_size = 8;
  /// Server-side limits per statement and per lock wait, ms (0 = none).
  int statement_timeout_ms = 5000;
  int lock_timeout_ms = 5000;
  /// Seconds to wait for a connection to be made (libpq connect_timeout).
  int connect_timeout_s = 5;
  /// How long a transaction waits for a pooled connection when all are in
  /// use, ms; then unavailable.
  int pool_wait_ms = 5000;
  /// How long a token check may trust the principal cache after the last
  /// sign of life of the change listener (LISTEN/NOTIFY, listener.hpp), ms;
  /// past it, and while the listener is down, every check reads through.
  /// 0: never cache.
  int max_staleness_ms = 2000;
};

/// Connects (one connection, to check the URL and the server) and returns
/// the backend; null with the reason in `st` (unavailable) when it cannot.
/// The schema is not checked: see schema_version().
std::unique_ptr<Backend> open(const Options& opts, Status& st);

/// The newest migration this build has (the version a current schema is at).
int built_migration();

}  // namespace gh::store::postgres
