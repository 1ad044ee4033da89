#include "store/lmdb.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace gh::store {

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

std::optional<std::string_view> Txn::get(MDB_dbi dbi, std::string_view key) const {
  MDB_val k = as_val(key), v{0, nullptr};
  if (mdb_get(txn_, dbi, &k, &v) != 0) return std::nullopt;
  return as_view(v);
}

int Txn::put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = as_val(key), v = as_val(value);
  return mdb_put(txn_, dbi, &k, &v, flags);
}

int Txn::del(MDB_dbi dbi, std::string_view key) {
  MDB_val k = as_val(key);
  int rc = mdb_del(txn_, dbi, &k, nullptr);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

Cursor::Cursor(const Txn& txn, MDB_dbi dbi) { mdb_cursor_open(txn.get(), dbi, &cur_); }

Cursor::~Cursor() {
  if (cur_) mdb_cursor_close(cur_);
}

bool Cursor::step(MDB_cursor_op op) { return cur_ && mdb_cursor_get(cur_, &key_, &val_, op) == 0; }

bool Cursor::seek(std::string_view key) {
  key_ = as_val(key);
  return step(MDB_SET_RANGE);
}
bool Cursor::first() { return step(MDB_FIRST); }
bool Cursor::next() { return step(MDB_NEXT); }

}  // namespace gh::store
