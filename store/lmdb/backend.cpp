#include "store/lmdb/backend.hpp"

#include "store/lmdb/records.hpp"
#include "store/lmdb/testing.hpp"
#include "store/lmdb/txn.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace gh::store::lmdb {
namespace {

// ---- the per-thread read transactions of principal() ---------------------------
//
// A token check reads a session and its user. Beginning a read transaction
// takes a reader slot (and, with MDB_NOTLS, a lock on the reader table), so
// each thread keeps one per backend, reset between calls (mdb_txn_reset frees
// its snapshot, keeps its slot) and renewed for the next (mdb_txn_renew).
//
// Lifetimes: a backend's pool lists every such transaction; destroying the
// backend aborts them all (before the environment closes) and marks the pool
// closed. A thread that exits aborts its own, unless the pool was closed.

struct ReaderPool {
  std::mutex m;
  bool closed = false;
  std::vector<MDB_txn*> txns;
};

struct ThreadReaders {
  struct Entry {
    std::uint64_t backend = 0;
    std::weak_ptr<ReaderPool> pool;
    MDB_txn* txn = nullptr;
  };
  std::vector<Entry> entries;

  /// Drops the entries of backends gone; true for `e` if its txn is still live.
  static bool release(Entry& e) {
    auto p = e.pool.lock();
    if (!p) return false;
    std::lock_guard<std::mutex> g(p->m);
    if (p->closed) return false;
    p->txns.erase(std::remove(p->txns.begin(), p->txns.end(), e.txn), p->txns.end());
    mdb_txn_abort(e.txn);
    return true;
  }
  ~ThreadReaders() {
    for (auto& e : entries) release(e);
  }
};

thread_local ThreadReaders tl_readers;
std::atomic<std::uint64_t> next_backend_id{1};

// ---- the batch --------------------------------------------------------------------

class LmdbBatch final : public WriteBatch {
 public:
  explicit LmdbBatch(const Shared& b) : b_(b) {}
  ~LmdbBatch() override {
    if (txn_.open()) end(false);
  }

  Status apply(const WriteFn& op) override {
    if (b_.read_only) return Status::Unavailable("the store is open read-only");
    if (!txn_.open()) {
      if (int rc = Txn::begin(b_.env, nullptr, 0, txn_)) {
        txn_.abort();
        return failure(rc, "begin the batch");
      }
      b_.stamps->began(mdb_txn_id(txn_.get()));
    }
    // LMDB facts this relies on (tests/unit/writer_test.cpp): aborting a
    // child that failed (even with MDB_MAP_FULL from a put) leaves the
    // parent usable; a child that cannot begin or cannot commit may leave the
    // parent flagged MDB_TXN_ERROR, so then the whole batch is given up.
    Txn child;
    if (int rc = Txn::begin(b_.env, txn_.get(), 0, child)) return give_up(rc, "nested begin");
    bool keep = false;
    {
      LmdbTxn t(b_, child.get(), &touched_);
      try {
        keep = op(t);
      } catch (...) {
        child.abort();
        throw;
      }
    }
    if (!keep) {
      child.abort();
      return Status::OK();
    }
    if (int rc = child.commit()) return give_up(rc, "nested commit");
    ++size_;
    return Status::OK();
  }

  std::size_t size() const override { return size_; }

  Status commit() override {
    size_ = 0;
    if (!txn_.open()) return Status::OK();
    int rc = end(true);
    return rc ? failure(rc, "batch commit") : Status::OK();
  }

 private:
  Status give_up(int rc, const char* where) {
    end(false);
    size_ = 0;
    return failure(rc, std::string("batch given up at ") + where);
  }

  /// Commits (or aborts) the open transaction and tells the stamps.
  int end(bool commit) {
    auto id = mdb_txn_id(txn_.get());
    int rc = 0;
    if (commit) rc = txn_.commit();
    else txn_.abort();
    b_.stamps->ended(id, commit && rc == 0, touched_);
    touched_.clear();
    return rc;
  }

  const Shared& b_;
  Txn txn_;
  std::size_t size_ = 0;
  std::vector<std::uint32_t> touched_;  ///< Stamps slots written since the transaction began
};

// ---- the backend -----------------------------------------------------------------

class LmdbBackend final : public Backend {
 public:
  LmdbBackend() = default;
  ~LmdbBackend() override {
    std::lock_guard<std::mutex> g(pool_->m);
    for (MDB_txn* t : pool_->txns) mdb_txn_abort(t);
    pool_->txns.clear();
    pool_->closed = true;
  }  // then env_ closes

  Status open(const Options& opts);

  std::unique_ptr<ReadTxn> read(Status& st) const override {
    Txn t;
    if (int rc = Txn::begin(s_.env, nullptr, MDB_RDONLY, t)) {
      st = failure(rc, "begin a read transaction");
      return nullptr;
    }
    st = Status::OK();
    return std::make_unique<LmdbTxn>(s_, std::move(t));
  }

  Status write(const std::function<Status(WriteTxn&)>& fn) override {
    if (s_.read_only) return Status::Unavailable("the store is open read-only");
    Txn t;
    if (int rc = Txn::begin(s_.env, nullptr, 0, t)) return failure(rc, "begin a write transaction");
    auto id = mdb_txn_id(t.get());
    stamps_.began(id);
    std::vector<std::uint32_t> touched;
    Status st;
    try {
      LmdbTxn wt(s_, t.get(), &touched);
      st = fn(wt);
    } catch (...) {
      t.abort();
      stamps_.ended(id, false, touched);
      throw;
    }
    int rc = 0;
    if (st.ok()) rc = t.commit();
    else t.abort();
    stamps_.ended(id, st.ok() && rc == 0, touched);
    if (!st.ok()) return st;
    return rc ? failure(rc, "commit") : Status::OK();
  }

  std::uint64_t change_stamp(std::string_view session_id, std::string_view user_id) const override {
    return s_.read_only ? 0 : stamps_.stamp(s_.env, session_id, user_id);
  }

  std::unique_ptr<WriteBatch> batch() override { return std::make_unique<LmdbBatch>(s_); }

  Status principal(std::string_view session_id, Principal& out) const override;

  Status schema_version(int& out) const override {
    out = 0;
    Status st;
    auto t = read(st);
    if (!t) return st;
    std::string v;
    st = t->meta("schema_version", v);
    if (st.is_not_found()) return Status::OK();
    if (!st.ok()) return st;
    out = std::atoi(v.c_str());
    return st;
  }

  Status migrate(const EmailNormalizer& normalize, std::vector<std::string>* notes) override {
    int from = 0;
    if (Status st = schema_version(from); !st.ok()) return st;
    if (from > kSchemaVersion)
      return Status::Unavailable("store schema " + std::to_string(from) + " is newer than this build (" +
                                 std::to_string(kSchemaVersion) + ")");
    if (from == kSchemaVersion) return Status::OK();
    // Forward migrations, one step per version. Version 1 is the initial
    // layout: the tables exist once open() has run, so a new store (0) only
    // gets its version; there is nothing to move.
    Status st = write([&](WriteTxn& t) {
      auto& lt = static_cast<LmdbTxn&>(t);
      if (from >= 1 && from < 2) {
        if (Status s = lt.rekey_emails(normalize, notes); !s.ok())
          return Status::Unavailable("migration to schema 2 failed: " + s.message());
      }
      return lt.put_meta("schema_version", std::to_string(kSchemaVersion));
    });
    if (st.is_unavailable() && st.message().rfind("migration", 0) != 0)
      return Status::Unavailable("migration commit failed: " + st.message());
    return st;
  }

  void set_audit_key(std::string key, std::uint64_t keyed_from) override {
    s_.audit_key = std::move(key);
    s_.audit_keyed_from = keyed_from;
  }

  Status fill(Fill& out) const override {
    out = Fill{};
    MDB_envinfo info;
    MDB_stat st;
    if (int rc = mdb_env_info(s_.env, &info)) return failure(rc, "env info");
    if (int rc = mdb_env_stat(s_.env, &st)) return failure(rc, "env stat");
    Txn t;
    if (int rc = Txn::begin(s_.env, nullptr, MDB_RDONLY, t)) return failure(rc, "begin a read transaction");
    // The free list (table 0): each value is a page-number array led by its
    // length, as mdb_stat -f counts it.
    std::uint64_t free_pages = 0;
    {
      Cursor c(t, 0);
      int rc = c.first();
      for (; rc == 0; rc = c.next())
        if (c.value().size() >= sizeof(std::size_t)) {
          std::size_t n = 0;
          std::memcpy(&n, c.value().data(), sizeof n);
          free_pages += n;
        }
      if (rc != MDB_NOTFOUND) return failure(rc, "free list");
    }
    std::uint64_t pages = static_cast<std::uint64_t>(info.me_last_pgno) + 1;
    out.used_bytes = (pages > free_pages ? pages - free_pages : 0) * st.ms_psize;
    out.map_bytes = info.me_mapsize;
    return Status::OK();
  }

  const Shared& shared() const { return s_; }

 private:
  Env env_;
  mutable Stamps stamps_;
  Shared s_;
  std::uint64_t id_ = next_backend_id.fetch_add(1);
  std::shared_ptr<ReaderPool> pool_ = std::make_shared<ReaderPool>();
};

Status LmdbBackend::open(const Options& opts) {
  int rc = env_.open(opts.path, opts.map_size_bytes, 16, opts.read_only);
  if (rc) return Status::Unavailable("cannot open store '" + opts.path + "': " + lmdb_error(rc));
  s_.env = env_.get();
  s_.read_only = opts.read_only;
  s_.stamps = &stamps_;
  Txn t;
  if ((rc = Txn::begin(s_.env, nullptr, opts.read_only ? MDB_RDONLY : 0, t)))
    return failure(rc, "cannot begin transaction");
  auto& db = s_.db;
  struct {
    const char* name;
    MDB_dbi* dbi;
  } tables[] = {{"meta", &db.meta},         {"users", &db.users},
                {"emails", &db.emails},     {"usernames", &db.usernames},     {"sessions", &db.sessions},
                {"user_sessions", &db.user_sessions}, {"refresh", &db.refresh},
                {"keys", &db.keys},
                {"api_keys", &db.api_keys}, {"user_api_keys", &db.user_api_keys},
                {"avatars", &db.avatars}, {"otp", &db.otp}, {"user_otp", &db.user_otp},
                {"audit", &db.audit}};
  for (auto& tb : tables) {
    if ((rc = mdb_dbi_open(t.get(), tb.name, opts.read_only ? 0 : MDB_CREATE, tb.dbi))) {
      return Status::Unavailable(rc == MDB_NOTFOUND && opts.read_only
                                     ? "'" + opts.path + "' is not a Gatehouse store (no table " + tb.name + ")"
                                     : std::string("cannot open table ") + tb.name + ": " + lmdb_error(rc));
    }
  }
  if ((rc = t.commit())) return failure(rc, "cannot commit table creation");
  return Status::OK();
}

Status LmdbBackend::principal(std::string_view session_id, Principal& out) const {
  auto& tl = tl_readers;
  MDB_txn* txn = nullptr;
  for (auto& e : tl.entries)
    if (e.backend == id_) {
      txn = e.txn;
      break;
    }
  if (txn) {
    if (int rc = mdb_txn_renew(txn)) return failure(rc, "renew a read transaction");
  } else {
    // Forget the transactions of backends destroyed since (already aborted).
    tl.entries.erase(std::remove_if(tl.entries.begin(), tl.entries.end(),
                                    [](ThreadReaders::Entry& e) {
                                      auto p = e.pool.lock();
                                      if (!p) return true;
                                      std::lock_guard<std::mutex> g(p->m);
                                      return p->closed;
                                    }),
                     tl.entries.end());
    if (int rc = mdb_txn_begin(s_.env, nullptr, MDB_RDONLY, &txn)) return failure(rc, "begin a read transaction");
    {
      std::lock_guard<std::mutex> g(pool_->m);
      pool_->txns.push_back(txn);
    }
    tl.entries.push_back({id_, pool_, txn});
  }
  struct Reset {
    MDB_txn* t;
    ~Reset() { mdb_txn_reset(t); }
  } reset{txn};
  LmdbTxn t(s_, txn);
  Status st = t.session(session_id, out.session);
  if (!st.ok()) return st;
  return t.user(out.session.user_id, out.user);
}

LmdbBackend* lmdb_of(const Backend& b) { return dynamic_cast<LmdbBackend*>(const_cast<Backend*>(&b)); }

}  // namespace

std::unique_ptr<Backend> open(const Options& opts, Status& st) {
  auto b = std::make_unique<LmdbBackend>();
  st = b->open(opts);
  if (!st.ok()) return nullptr;
  return b;
}

// ---- test hooks (store/lmdb/testing.hpp) -------------------------------------------

namespace testing {
namespace {
Status table_of(const Backend& b, std::string_view table, const Shared*& s, MDB_dbi& dbi) {
  auto* lb = lmdb_of(b);
  if (!lb) return Status::Unavailable("not an LMDB backend");
  s = &lb->shared();
  if (!s->db.find(table, dbi)) return Status::Unavailable("no table " + std::string(table));
  return Status::OK();
}
}  // namespace

Status raw_get(const Backend& b, std::string_view table, std::string_view key, std::string& out) {
  const Shared* s = nullptr;
  MDB_dbi dbi = 0;
  if (Status st = table_of(b, table, s, dbi); !st.ok()) return st;
  Txn t;
  if (int rc = Txn::begin(s->env, nullptr, MDB_RDONLY, t)) return failure(rc, "begin");
  std::string_view v;
  Status st = status_of(t.get(dbi, key, v), "get");
  if (st.ok()) out.assign(v);
  return st;
}

Status raw_put(Backend& b, std::string_view table, std::string_view key, std::string_view value) {
  const Shared* s = nullptr;
  MDB_dbi dbi = 0;
  if (Status st = table_of(b, table, s, dbi); !st.ok()) return st;
  return b.write([&](WriteTxn& t) {
    int rc = lmdb::put(static_cast<LmdbTxn&>(t).get(), dbi, key, value);
    return rc ? failure(rc, "put") : Status::OK();
  });
}

Status raw_del(Backend& b, std::string_view table, std::string_view key) {
  const Shared* s = nullptr;
  MDB_dbi dbi = 0;
  if (Status st = table_of(b, table, s, dbi); !st.ok()) return st;
  return b.write([&](WriteTxn& t) {
    int rc = lmdb::del(static_cast<LmdbTxn&>(t).get(), dbi, key);
    return rc ? failure(rc, "del") : Status::OK();
  });
}

Status entries(const Backend& b, std::string_view table, std::size_t& out) {
  const Shared* s = nullptr;
  MDB_dbi dbi = 0;
  if (Status st = table_of(b, table, s, dbi); !st.ok()) return st;
  Txn t;
  if (int rc = Txn::begin(s->env, nullptr, MDB_RDONLY, t)) return failure(rc, "begin");
  MDB_stat st;
  if (int rc = mdb_stat(t.get(), dbi, &st)) return failure(rc, "stat");
  out = st.ms_entries;
  return Status::OK();
}

std::string audit_key(std::uint64_t seq) { return seq_key(seq); }

}  // namespace testing
}  // namespace gh::store::lmdb
