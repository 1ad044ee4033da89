// Inside the PostgreSQL engine (not for code above store/): one libpq
// connection with its prepared statements, the pool of them, and the
// binary-format parameters and rows the statements use.
#pragma once

#include "store/postgres/backend.hpp"
#include "store/status.hpp"

#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace gh::store::postgres {

/// Type oids of the parameters (pg_type.h; stable across releases).
enum class Oid : unsigned { boolean = 16, bytea = 17, int8 = 20, text = 25, json = 114, bytea_array = 1001,
                            text_array = 1009 };

/// A statement, prepared on each connection at its first use under `name`.
struct Stmt {
  const char* name;
  const char* sql;
};

/// The parameters of one statement, all sent in binary format; their types
/// are given at prepare time (so `$1` needs no cast).
class Params {
 public:
  Params& text(std::string_view v) { return add(Oid::text, std::string(v)); }
  Params& bytea(std::string_view v) { return add(Oid::bytea, std::string(v)); }
  Params& i64(std::int64_t v);
  Params& boolean(bool v) { return add(Oid::boolean, std::string(1, v ? '\1' : '\0')); }
  /// json (its binary format is its text).
  Params& json(const nlohmann::json& v) { return add(Oid::json, v.dump()); }
  Params& text_array(const std::vector<std::string>& v) { return array(Oid::text_array, Oid::text, v); }
  Params& bytea_array(const std::vector<std::string>& v) { return array(Oid::bytea_array, Oid::bytea, v); }
  /// SQL NULL of type `t`.
  Params& null(Oid t);

  std::size_t size() const { return values_.size(); }
  const std::vector<unsigned>& types() const { return types_; }
  const std::vector<std::string>& values() const { return values_; }
  const std::vector<bool>& nulls() const { return nulls_; }

 private:
  Params& add(Oid t, std::string bytes);
  Params& array(Oid array_type, Oid elem, const std::vector<std::string>& v);
  std::vector<unsigned> types_;
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
};

/// An owned PGresult.
class Result {
 public:
  Result() = default;
  explicit Result(PGresult* r) : r_(r) {}
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&& o) noexcept {
    if (this != &o) {
      reset();
      r_ = o.r_;
      o.r_ = nullptr;
    }
    return *this;
  }
  ~Result() { reset(); }
  void reset() {
    if (r_) PQclear(r_);
    r_ = nullptr;
  }
  PGresult* get() const { return r_; }
  int rows() const { return r_ ? PQntuples(r_) : 0; }
  /// Rows a command touched (INSERT, UPDATE, DELETE).
  std::int64_t affected() const;

 private:
  PGresult* r_ = nullptr;
};

/// One row of a binary-format result, read column by column from `col`.
/// Every getter answers false for a value that does not decode (or a NULL
/// where none may be): the caller reports corrupt.
class Row {
 public:
  Row(const Result& r, int row, int col = 0) : r_(r.get()), row_(row), col_(col) {}
  bool is_null() const { return PQgetisnull(r_, row_, col_); }
  void skip() { ++col_; }
  bool bytes(std::string& out);  ///< text or bytea
  bool i64(std::int64_t& out);
  bool u64(std::uint64_t& out);
  bool int_(int& out);
  bool boolean(bool& out);
  bool json(nlohmann::json& out);
  bool text_array(std::vector<std::string>& out);
  /// text, or "" for NULL.
  bool opt_bytes(std::string& out);

 private:
  std::string_view raw() const {
    return {PQgetvalue(r_, row_, col_), static_cast<std::size_t>(PQgetlength(r_, row_, col_))};
  }
  const PGresult* r_;
  int row_;
  int col_;
};

/// The Status of a failed result: conflict for a unique violation,
/// unavailable for everything else (with the server's message).
Status failure_of(const PGresult* r, PGconn* c, std::string_view what);

class Conn {
 public:
  /// A new connection (URL and timeouts from `o`, `application_name` as
  /// pg_stat_activity shows it unless the URL names one); null with the reason.
  static std::unique_ptr<Conn> connect(const Options& o, Status& st, const char* application_name = "gatehouse");
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  /// Runs `s` with `p` (preparing it first on this connection), binary
  /// results into `out`. Failures as failure_of().
  Status exec(const Stmt& s, const Params& p, Result& out, std::string_view what);
  /// A simple query (may hold several statements; no parameters).
  Status simple(const char* sql, std::string_view what, Result* out = nullptr);

  /// The connection is gone (then it is not put back in the pool).
  bool broken() const { return PQstatus(c_) == CONNECTION_BAD; }
  /// Not inside a transaction: ready for the next one.
  bool idle() const { return PQtransactionStatus(c_) == PQTRANS_IDLE; }
  PGconn* get() const { return c_; }

 private:
  explicit Conn(PGconn* c) : c_(c) {}
  PGconn* c_;
  std::unordered_set<std::string> prepared_;
};

/// At most pool_size connections, made when needed, reused while healthy.
class Pool : public std::enable_shared_from_this<Pool> {
 public:
  explicit Pool(Options o) : o_(std::move(o)) {}
  /// A connection for one transaction; null with unavailable when none can
  /// be had within pool_wait_ms (all busy) or a new one cannot be made.
  std::unique_ptr<Conn> acquire(Status& st);
  /// Back to the pool, unless broken or still in a transaction (a failed
  /// ROLLBACK): then closed.
  void release(std::unique_ptr<Conn> c);
  const Options& options() const { return o_; }

 private:
  Options o_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  int open_ = 0;
};

/// A pooled connection held for the length of a transaction.
class Lease {
 public:
  Lease() = default;
  Lease(std::shared_ptr<Pool> p, std::unique_ptr<Conn> c) : pool_(std::move(p)), conn_(std::move(c)) {}
  Lease(Lease&&) = default;
  Lease& operator=(Lease&& o) noexcept {
    if (this != &o) {
      reset();
      pool_ = std::move(o.pool_);
      conn_ = std::move(o.conn_);
    }
    return *this;
  }
  ~Lease() { reset(); }
  void reset() {
    if (pool_ && conn_) pool_->release(std::move(conn_));
    conn_.reset();
    pool_.reset();
  }
  Conn* operator->() const { return conn_.get(); }
  Conn& operator*() const { return *conn_; }
  explicit operator bool() const { return conn_ != nullptr; }

 private:
  std::shared_ptr<Pool> pool_;
  std::unique_ptr<Conn> conn_;
};

}  // namespace gh::store::postgres
