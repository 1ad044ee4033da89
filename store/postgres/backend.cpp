#include "store/postgres/backend.hpp"

#include "store/postgres/conn.hpp"
#include "store/postgres/listener.hpp"
#include "store/postgres/migrations.hpp"
#include "store/postgres/testing.hpp"
#include "store/postgres/txn.hpp"

namespace gh::store::postgres {
namespace {

// The join of a token check: one autocommit statement, no BEGIN.
const Stmt kPrincipal{"principal",
                      "SELECT s.id, s.user_id, s.generation, s.token_hash, s.rotated_at, s.created_at, "
                      "s.last_used_at, s.expires_at, s.revoked, s.revoke_reason, s.ip, s.user_agent, "
                      "u.id, u.email, u.password_hash, u.role, u.username, u.full_name, u.avatar_url, "
                      "u.onboarding, u.data, u.email_verified, u.active, u.created_at, u.updated_at, "
                      "u.failed_logins, u.last_failed_at, u.device_epoch "
                      "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"};

// One token of a shared rate-limit bucket (migration 0003).
const Stmt kTake{"take",
                 "SELECT allowed, remaining, reset_s, retry_after_s, first_refusal FROM gatehouse_take($1, $2, $3)"};

// Bootstrapped by migrate() before the files: the list of files applied.
constexpr const char* kCreateSchemaVersion =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

const Stmt kRecordMigration{"record_migration", "INSERT INTO schema_version (version, name) VALUES ($1, $2)"};

// ---- the batch --------------------------------------------------------------------

class PgBatch final : public WriteBatch {
 public:
  explicit PgBatch(const Shared& b) : b_(b) {}

  Status apply(const WriteFn& op) override {
    if (!txn_) {
      Status st;
      auto c = b_.pool->acquire(st);
      if (!c) return st;
      txn_ = std::make_unique<PgTxn>(b_, Lease(b_.pool, std::move(c)));
      if (st = txn_->begin_write(); !st.ok()) return give_up(st);
    }
    // Each operation in a savepoint: one that fails or asks to be rolled
    // back leaves the batch as it was.
    if (Status st = txn_->savepoint(); !st.ok()) return give_up(st);
    bool keep = false;
    try {
      keep = op(*txn_);
    } catch (...) {
      if (!txn_->rollback_to().ok()) give_up(Status::Unavailable("rollback after an exception"));
      throw;
    }
    if (!keep) {
      Status st = txn_->rollback_to();
      return st.ok() ? st : give_up(st);
    }
    // It kept writes that failed (the server aborted them): as the LMDB
    // engine, the batch breaks rather than acknowledge them.
    if (txn_->failed()) return give_up(Status::Unavailable("a statement of the operation failed"));
    if (Status st = txn_->release_savepoint(); !st.ok()) return give_up(st);
    ++size_;
    return Status::OK();
  }

  std::size_t size() const override { return size_; }

  Status commit() override {
    size_ = 0;
    if (!txn_) return Status::OK();
    Status st = txn_->commit();
    txn_.reset();
    return st.ok() ? st : Status::Unavailable("batch commit: " + st.message());
  }

 private:
  Status give_up(const Status& why) {
    txn_.reset();  // rolls back
    size_ = 0;
    return Status::Unavailable("batch given up: " + why.message());
  }

  const Shared& b_;
  std::unique_ptr<PgTxn> txn_;
  std::size_t size_ = 0;
};

// ---- the backend -----------------------------------------------------------------

class PgBackend final : public Backend, public SharedBuckets {
 public:
  explicit PgBackend(const Options& o) : listener_(o, stamps_) {
    s_.pool = std::make_shared<Pool>(o);
    s_.stamps = &stamps_;
  }

  Status open() {
    Status st;
    auto c = s_.pool->acquire(st);
    if (c) s_.pool->release(std::move(c));
    return st;
  }

  // A pooled connection may have died while idle (a server restart, an
  // idle timeout, pg_terminate_backend): when the first statement finds it
  // gone, nothing has happened yet, so the call goes on once on a new one.
  std::unique_ptr<PgTxn> begin(bool write, Status& st) const {
    for (int attempt = 0;; ++attempt) {
      auto c = s_.pool->acquire(st);
      if (!c) return nullptr;
      auto t = std::make_unique<PgTxn>(s_, Lease(s_.pool, std::move(c)));
      st = write ? t->begin_write() : t->begin_read();
      if (st.ok()) return t;
      if (attempt > 0 || !t->conn().broken()) return nullptr;
    }
  }

  std::unique_ptr<ReadTxn> read(Status& st) const override { return begin(false, st); }

  Status write(const std::function<Status(WriteTxn&)>& fn) override {
    Status st;
    auto t = begin(true, st);
    if (!t) return st;
    st = fn(*t);
    if (!st.ok()) return st;  // t rolls back
    return t->commit();
  }

  std::unique_ptr<WriteBatch> batch() override { return std::make_unique<PgBatch>(s_); }

  Status principal(std::string_view session_id, Principal& out) const override {
    Result r;
    Status st = autocommit(kPrincipal, Params().text(session_id), r, "principal");
    if (!st.ok()) return st;
    if (r.rows() == 0) return Status::NotFound();
    Row row(r, 0);
    if (!decode_session(row, out.session) || !decode_user(row, out.user))
      return Status::Corrupt("undecodable row in principal");
    return st;
  }

  SharedBuckets* shared_buckets() override { return this; }

  Status take(std::string_view key, const domain::BucketSpec& spec, domain::RateDecision& out) override {
    Result r;
    const auto burst = static_cast<std::int64_t>(spec.burst);
    Status st = autocommit(kTake, Params().text(key).i64(static_cast<std::int64_t>(spec.per_minute)).i64(burst), r,
                           "take a rate-limit token");
    if (!st.ok()) return st;
    Row row(r, 0);
    std::int64_t remaining = 0, reset = 0, retry = 0;
    if (r.rows() != 1 || !row.boolean(out.allowed) || !row.i64(remaining) || !row.i64(reset) || !row.i64(retry) ||
        !row.boolean(out.first_refusal))
      return Status::Corrupt("undecodable answer of gatehouse_take");
    out.limit = static_cast<int>(burst);
    out.remaining = static_cast<int>(remaining);
    out.reset_s = static_cast<int>(reset);
    out.retry_after_s = static_cast<int>(retry);
    return st;
  }

  /// Trusted while the listener is (listener.hpp); its thread starts with
  /// the first call, so commands that check no tokens never open it.
  std::uint64_t change_stamp(std::string_view session_id, std::string_view user_id) const override {
    listener_.start();
    return listener_.fresh() ? stamps_.stamp(session_id, user_id) : 0;
  }

  /// The layout (migration files applied) and, once it is this build's, the
  /// contract version stamped in meta.
  Status schema_version(int& out) const override {
    out = 0;
    Status st;
    auto t = begin(false, st);
    if (!t) return st;
    int layout = 0;
    if (st = layout_of(*t, layout); !st.ok() || layout == 0) return st;
    const int built = built_migration();
    if (layout > built)
      return Status::Unavailable("the PostgreSQL schema is at migration " + std::to_string(layout) +
                                 ", newer than this build's " + std::to_string(built));
    if (layout < built)
      return Status::Unavailable("the PostgreSQL schema is at migration " + std::to_string(layout) + ", this build's is " +
                                 std::to_string(built) + ": run `gatehouse migrate`");
    return stamped(*t, out);
  }

  Status migrate(const EmailNormalizer& normalize, std::vector<std::string>* notes) override {
    Status st;
    auto c = s_.pool->acquire(st);
    if (!c) return st;
    PgTxn t(s_, Lease(s_.pool, std::move(c)));
    // One transaction: the migration lock (concurrent `gatehouse migrate`
    // runs wait here, then find nothing pending), the writer lock (no write
    // runs half-way through), the bootstrap table, the pending files, the
    // contract version. Any failure rolls all of it back.
    static const std::string begin = "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(" +
                                     std::to_string(kMigrateLock) + "); SELECT pg_advisory_xact_lock(" +
                                     std::to_string(kWriterLock) + "); " + kCreateSchemaVersion;
    if (st = t.conn().simple(begin.c_str(), "begin the migration"); !st.ok()) return st;
    int layout = 0;
    if (st = layout_of(t, layout); !st.ok()) return st;
    const auto& all = migrations();
    if (layout > static_cast<int>(all.size()))
      return Status::Unavailable("the PostgreSQL schema is at migration " + std::to_string(layout) +
                                 ", newer than this build's " + std::to_string(all.size()));
    for (const auto& m : all) {
      if (m.version <= layout) continue;
      if (st = t.conn().simple(m.sql, std::string("migration ") + m.name); !st.ok())
        return Status::Unavailable("migration " + std::string(m.name) + " failed: " + st.message());
      Result r;
      if (st = t.conn().exec(kRecordMigration, Params().i64(m.version).text(m.name), r, "record the migration");
          !st.ok())
        return st;
    }
    int from = 0;
    if (st = stamped(t, from); !st.ok()) return st;
    if (from > kSchemaVersion)
      return Status::Unavailable("store schema " + std::to_string(from) + " is newer than this build (" +
                                 std::to_string(kSchemaVersion) + ")");
    if (from >= 1 && from < 2) {
      if (Status s = t.rekey_emails(normalize, notes); !s.ok())
        return Status::Unavailable("migration to schema 2 failed: " + s.message());
    }
    if (from != kSchemaVersion)
      if (st = t.put_meta("schema_version", std::to_string(kSchemaVersion)); !st.ok()) return st;
    st = t.commit();
    return st.ok() ? st : Status::Unavailable("migration commit failed: " + st.message());
  }

  void set_audit_key(std::string key, std::uint64_t keyed_from) override {
    s_.audit_key = std::move(key);
    s_.audit_keyed_from = keyed_from;
  }

  /// The server's database has no fixed size to fill: unknown (0, 0).
  Status fill(Fill& out) const override {
    out = Fill{};
    return Status::OK();
  }

  Shared& shared() { return s_; }

  std::unique_ptr<PgTxn> write_txn(Status& st) { return begin(true, st); }

 private:
  /// One autocommit statement on a pooled connection; once more on a new
  /// connection when the pooled one had died while idle, as begin().
  Status autocommit(const Stmt& stmt, const Params& p, Result& r, std::string_view what) const {
    Status st;
    for (int attempt = 0;; ++attempt) {
      auto c = s_.pool->acquire(st);
      if (!c) return st;
      Lease conn(s_.pool, std::move(c));
      st = conn->exec(stmt, p, r, what);
      if (st.ok() || attempt > 0 || !conn->broken()) return st;
    }
  }

  /// The last migration applied; 0 when there is no schema_version table.
  static Status layout_of(PgTxn& t, int& out) {
    out = 0;
    // Text results (simple queries).
    Result r;
    Status st = t.conn().simple("SELECT to_regclass('schema_version') IS NOT NULL", "look for schema_version", &r);
    if (!st.ok()) return st;
    if (r.rows() != 1 || std::string_view(PQgetvalue(r.get(), 0, 0)) != "t") return Status::OK();
    st = t.conn().simple("SELECT coalesce(max(version), 0) FROM schema_version", "read the schema version", &r);
    if (!st.ok()) return st;
    if (r.rows() == 1) out = std::atoi(PQgetvalue(r.get(), 0, 0));
    return st;
  }

  static Status stamped(PgTxn& t, int& out) {
    out = 0;
    std::string v;
    Status st = t.meta("schema_version", v);
    if (st.is_not_found()) return Status::OK();
    if (!st.ok()) return st;
    out = std::atoi(v.c_str());
    return st;
  }

  mutable ChangeStamps stamps_;
  Shared s_;
  mutable Listener listener_;  // last: its thread stops first
};

PgBackend* pg_of(Backend& b) { return dynamic_cast<PgBackend*>(&b); }

}  // namespace

std::unique_ptr<Backend> open(const Options& opts, Status& st) {
  auto b = std::make_unique<PgBackend>(opts);
  st = b->open();
  if (!st.ok()) return nullptr;
  return b;
}

int built_migration() { return static_cast<int>(migrations().size()); }

// ---- test hooks (store/postgres/testing.hpp) --------------------------------------

namespace testing {

Status create_tables(Backend& b) {
  Status st = exec(b, kCreateSchemaVersion);
  for (const auto& m : migrations()) {
    if (!st.ok()) return st;
    st = exec(b, std::string(m.sql) + "; INSERT INTO schema_version (version, name) VALUES (" +
                     std::to_string(m.version) + ", '" + m.name + "')");
  }
  return st;
}

Status exec(Backend& b, const std::string& sql, std::vector<std::string>* rows) {
  auto* pb = pg_of(b);
  if (!pb) return Status::Unavailable("not a PostgreSQL backend");
  Status st;
  auto c = pb->shared().pool->acquire(st);
  if (!c) return st;
  Lease conn(pb->shared().pool, std::move(c));
  Result r;
  st = conn->simple(("BEGIN; " + sql).c_str(), "exec", &r);
  if (st.ok() && rows)
    for (int i = 0; i < r.rows(); ++i) rows->emplace_back(PQgetvalue(r.get(), i, 0));
  if (st.ok()) st = conn->simple("COMMIT", "commit");
  return st;
}

}  // namespace testing
}  // namespace gh::store::postgres
