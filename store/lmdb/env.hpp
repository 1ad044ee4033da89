// RAII wrappers over the LMDB C API: environment, transactions and cursors.
//
// Threading: the environment is opened with MDB_NOTLS, so a read transaction
// may be used by any one thread at a time and moved between threads (actors
// migrate between CAF workers). Write transactions are only ever created by
// the single writer actor (actors/writer.cpp); LMDB serialises writers anyway.
//
// Errors are LMDB return codes (int, 0 = success, MDB_NOTFOUND etc.); a
// wrapper never throws. Lookups and cursor steps return the code too, so that
// a failed read (MDB_BAD_TXN, EIO…) is never mistaken for an absent key.
#pragma once

#include <lmdb.h>

#include <string>
#include <string_view>

namespace gh::store::lmdb {

/// Human-readable LMDB / errno message, for logs only (never sent to clients).
std::string lmdb_error(int rc);

inline MDB_val as_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

/// The operations of Txn on a transaction it does not own (a nested one, or
/// one a Backend keeps): same codes.
int get(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view& out);
int put(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
int del(MDB_txn* txn, MDB_dbi dbi, std::string_view key);

class Env {
 public:
  Env() = default;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env();

  /// Opens (creating) the environment in folder `path`. Returns an LMDB code.
  /// Stale reader slots left by a crashed process are cleared here.
  /// `read_only`: MDB_RDONLY, nothing is created; when the lock file cannot
  /// be written (a read-only copy) the environment is read without locks.
  int open(const std::string& path, std::size_t map_size, unsigned max_dbs, bool read_only = false);
  MDB_env* get() const { return env_; }

 private:
  MDB_env* env_ = nullptr;
};

/// A transaction; aborted on destruction unless committed. Move-only.
class Txn {
 public:
  Txn() = default;
  Txn(Txn&& other) noexcept : txn_(other.txn_) { other.txn_ = nullptr; }
  Txn& operator=(Txn&& other) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  /// Begins a transaction (`parent` for a nested write transaction).
  static int begin(MDB_env* env, MDB_txn* parent, unsigned flags, Txn& out);

  /// Commits; the transaction is finished whatever the result.
  int commit();
  void abort();
  bool open() const { return txn_ != nullptr; }
  MDB_txn* get() const { return txn_; }

  /// Looks up `key`: 0 (and `out`, valid until this transaction ends or
  /// writes), MDB_NOTFOUND, or the error. A key longer than LMDB's maximum
  /// cannot be stored, so it is MDB_NOTFOUND.
  int get(MDB_dbi dbi, std::string_view key, std::string_view& out) const {
    return lmdb::get(txn_, dbi, key, out);
  }
  int put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0) {
    return lmdb::put(txn_, dbi, key, value, flags);
  }
  /// Deletes `key`; deleting a missing key is not an error.
  int del(MDB_dbi dbi, std::string_view key) { return lmdb::del(txn_, dbi, key); }

 private:
  MDB_txn* txn_ = nullptr;
};

/// A cursor over one database inside a transaction.
class Cursor {
 public:
  Cursor(const Txn& txn, MDB_dbi dbi) : Cursor(txn.get(), dbi) {}
  Cursor(MDB_txn* txn, MDB_dbi dbi);
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor();

  /// Each step answers 0 (positioned), MDB_NOTFOUND (no such key: the end)
  /// or the error, including the one of opening the cursor.
  /// Positions at the first key >= `key`.
  int seek(std::string_view key);
  /// Positions at the first key.
  int first();
  int next();
  std::string_view key() const { return as_view(key_); }
  std::string_view value() const { return as_view(val_); }

 private:
  int step(MDB_cursor_op op);
  MDB_cursor* cur_ = nullptr;
  int open_rc_ = 0;
  MDB_val key_{0, nullptr};
  MDB_val val_{0, nullptr};
};

}  // namespace gh::store::lmdb
