#include "store/lmdb/env.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace gh::store::lmdb {

std::string lmdb_error(int rc) { return mdb_strerror(rc); }

Env::~Env() {
  if (env_) mdb_env_close(env_);
}

int Env::open(const std::string& path, std::size_t map_size, unsigned max_dbs, bool read_only) {
  if (!read_only && ::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return errno;
  auto attempt = [&](unsigned flags) {
    int rc = mdb_env_create(&env_);
    if (rc) return rc;
    if ((rc = mdb_env_set_mapsize(env_, map_size)) || (rc = mdb_env_set_maxdbs(env_, max_dbs)) ||
        (rc = mdb_env_set_maxreaders(env_, 512)) || (rc = mdb_env_open(env_, path.c_str(), flags, 0600))) {
      mdb_env_close(env_);
      env_ = nullptr;
    }
    return rc;
  };
  // MDB_NOTLS: read transactions are not tied to threads (actors move between
  // threads). Commits stay fully synced: durability comes from group commit.
  unsigned flags = MDB_NOTLS | (read_only ? MDB_RDONLY : 0u);
  int rc = attempt(flags);
  // A read-only copy (chmod a-w, or files owned by someone else): the lock
  // file cannot be opened for writing. Nobody can write such a copy, so it is
  // read without the lock table.
  if (rc == EACCES && read_only) rc = attempt(flags | MDB_NOLOCK);
  if (rc) return rc;
  if (!read_only) {
    int dead = 0;
    mdb_reader_check(env_, &dead);
  }
  return 0;
}

Txn& Txn::operator=(Txn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = other.txn_;
    other.txn_ = nullptr;
  }
  return *this;
}

int Txn::begin(MDB_env* env, MDB_txn* parent, unsigned flags, Txn& out) {
  out.abort();
  return mdb_txn_begin(env, parent, flags, &out.txn_);
}

int Txn::commit() {
  if (!txn_) return EINVAL;
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;  // a failed commit also frees the transaction
  return rc;
}

void Txn::abort() {
  if (txn_) {
    mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
}

int get(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view& out) {
  if (!txn) return EINVAL;
  if (key.empty() || key.size() > static_cast<std::size_t>(mdb_env_get_maxkeysize(mdb_txn_env(txn))))
    return MDB_NOTFOUND;  // no such key can be stored
  MDB_val k = as_val(key), v{0, nullptr};
  int rc = mdb_get(txn, dbi, &k, &v);
  if (rc == 0) out = as_view(v);
  return rc;
}

int put(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  if (!txn) return EINVAL;
  MDB_val k = as_val(key), v = as_val(value);
  return mdb_put(txn, dbi, &k, &v, flags);
}

int del(MDB_txn* txn, MDB_dbi dbi, std::string_view key) {
  if (!txn) return EINVAL;
  MDB_val k = as_val(key);
  int rc = mdb_del(txn, dbi, &k, nullptr);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

Cursor::Cursor(MDB_txn* txn, MDB_dbi dbi) {
  open_rc_ = txn ? mdb_cursor_open(txn, dbi, &cur_) : EINVAL;
  if (open_rc_) cur_ = nullptr;
}

Cursor::~Cursor() {
  if (cur_) mdb_cursor_close(cur_);
}

int Cursor::step(MDB_cursor_op op) {
  if (!cur_) return open_rc_ ? open_rc_ : EINVAL;
  return mdb_cursor_get(cur_, &key_, &val_, op);
}

int Cursor::seek(std::string_view key) {
  if (!cur_) return open_rc_ ? open_rc_ : EINVAL;
  if (key.empty()) return MDB_NOTFOUND;  // LMDB refuses an empty key; callers start with first()
  key_ = as_val(key);
  return step(MDB_SET_RANGE);
}
int Cursor::first() { return step(MDB_FIRST); }
int Cursor::next() { return step(MDB_NEXT); }

}  // namespace gh::store::lmdb
