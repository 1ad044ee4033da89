#include "store/postgres/conn.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace gh::store::postgres {
namespace {

void put_be32(std::string& s, std::uint32_t v) {
  v = htonl(v);
  s.append(reinterpret_cast<const char*>(&v), 4);
}

std::uint32_t be32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return ntohl(v);
}

std::uint64_t be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// libpq's messages end in a newline.
std::string trimmed(const char* m) {
  std::string s = m ? m : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

// ---- parameters -------------------------------------------------------------------

Params& Params::add(Oid t, std::string bytes) {
  types_.push_back(static_cast<unsigned>(t));
  values_.push_back(std::move(bytes));
  nulls_.push_back(false);
  return *this;
}

Params& Params::null(Oid t) {
  add(t, {});
  nulls_.back() = true;
  return *this;
}

Params& Params::i64(std::int64_t v) {
  std::string s(8, '\0');
  auto u = static_cast<std::uint64_t>(v);
  for (int i = 7; i >= 0; --i, u >>= 8) s[i] = static_cast<char>(u & 0xff);
  return add(Oid::int8, std::move(s));
}

// The binary array format (array_send): dimensions, a has-nulls flag, the
// element type, then per dimension its length and lower bound, then each
// element as a length and its bytes.
Params& Params::array(Oid array_type, Oid elem, const std::vector<std::string>& v) {
  std::string s;
  put_be32(s, v.empty() ? 0 : 1);
  put_be32(s, 0);
  put_be32(s, static_cast<std::uint32_t>(elem));
  if (!v.empty()) {
    put_be32(s, static_cast<std::uint32_t>(v.size()));
    put_be32(s, 1);
  }
  for (auto& e : v) {
    put_be32(s, static_cast<std::uint32_t>(e.size()));
    s += e;
  }
  return add(array_type, std::move(s));
}

// ---- results ----------------------------------------------------------------------

std::int64_t Result::affected() const {
  const char* n = r_ ? PQcmdTuples(r_) : "";
  return n && *n ? std::atoll(n) : 0;
}

bool Row::bytes(std::string& out) {
  if (is_null()) return false;
  out.assign(raw());
  ++col_;
  return true;
}

bool Row::opt_bytes(std::string& out) {
  if (is_null()) {
    out.clear();
    ++col_;
    return true;
  }
  return bytes(out);
}

bool Row::i64(std::int64_t& out) {
  auto v = raw();
  if (is_null() || v.size() != 8) return false;
  out = static_cast<std::int64_t>(be64(v.data()));
  ++col_;
  return true;
}

bool Row::u64(std::uint64_t& out) {
  std::int64_t v = 0;
  if (!i64(v) || v < 0) return false;
  out = static_cast<std::uint64_t>(v);
  return true;
}

bool Row::int_(int& out) {
  std::int64_t v = 0;
  if (!i64(v) || v < INT32_MIN || v > INT32_MAX) return false;
  out = static_cast<int>(v);
  return true;
}

bool Row::boolean(bool& out) {
  auto v = raw();
  if (is_null() || v.size() != 1) return false;
  out = v[0] != 0;
  ++col_;
  return true;
}

bool Row::json(nlohmann::json& out) {
  auto v = raw();
  if (is_null()) return false;
  out = nlohmann::json::parse(v.begin(), v.end(), nullptr, false);
  if (out.is_discarded()) return false;
  ++col_;
  return true;
}

bool Row::text_array(std::vector<std::string>& out) {
  out.clear();
  auto v = raw();
  if (is_null() || v.size() < 12) return false;
  const char* p = v.data();
  const char* end = p + v.size();
  std::uint32_t ndim = be32(p), has_null = be32(p + 4);
  p += 12;
  if (ndim > 1 || has_null) return false;
  std::uint32_t n = 0;
  if (ndim == 1) {
    if (end - p < 8) return false;
    n = be32(p);
    p += 8;
  }
  for (std::uint32_t i = 0; i < n; ++i) {
    if (end - p < 4) return false;
    std::uint32_t len = be32(p);
    p += 4;
    if (len == 0xffffffffu || static_cast<std::size_t>(end - p) < len) return false;
    out.emplace_back(p, len);
    p += len;
  }
  if (p != end) return false;
  ++col_;
  return true;
}

// ---- errors -----------------------------------------------------------------------

Status failure_of(const PGresult* r, PGconn* c, std::string_view what) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = trimmed(r ? PQresultErrorMessage(r) : nullptr);
  if (msg.empty()) msg = trimmed(PQerrorMessage(c));
  std::string text = std::string(what) + ": " + msg;
  if (state && std::strcmp(state, "23505") == 0) {
    const char* constraint = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
    return Status::Conflict(std::string(what) + ": " + (constraint ? constraint : "unique value") + " taken");
  }
  if (state) text += std::string(" [") + state + "]";
  return Status::Unavailable(std::move(text));
}

// ---- connections ------------------------------------------------------------------

std::unique_ptr<Conn> Conn::connect(const Options& o, Status& st, const char* application_name) {
  // Our defaults first: the URL, expanded after them, may override each.
  std::string timeout = std::to_string(o.connect_timeout_s > 0 ? o.connect_timeout_s : 5);
  const char* keys[] = {"connect_timeout", "application_name", "client_encoding", "keepalives", "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), application_name, "UTF8", "1", "10", "5", "3", o.url.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, 1);
  if (!c) {
    st = Status::Unavailable("cannot connect to PostgreSQL: out of memory");
    return nullptr;
  }
  std::unique_ptr<Conn> conn(new Conn(c));
  // Notices ("relation … already exists, skipping") are not errors: libpq
  // would print them on stderr.
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  if (PQstatus(c) != CONNECTION_OK) {
    // libpq's message names host and port, never the password.
    st = Status::Unavailable("cannot connect to PostgreSQL: " + trimmed(PQerrorMessage(c)));
    return nullptr;
  }
  std::string set = "SET statement_timeout = " + std::to_string(o.statement_timeout_ms) +
                    "; SET lock_timeout = " + std::to_string(o.lock_timeout_ms);
  st = conn->simple(set.c_str(), "set the session's timeouts");
  if (!st.ok()) return nullptr;
  return conn;
}

Conn::~Conn() { PQfinish(c_); }

Status Conn::exec(const Stmt& s, const Params& p, Result& out, std::string_view what) {
  out.reset();
  const int n = static_cast<int>(p.size());
  if (!prepared_.count(s.name)) {
    Result r(PQprepare(c_, s.name, s.sql, n, p.types().data()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return failure_of(r.get(), c_, std::string(what) + " (prepare)");
    prepared_.insert(s.name);
  }
  std::vector<const char*> values(n);
  std::vector<int> lengths(n), formats(n, 1);
  for (int i = 0; i < n; ++i) {
    values[i] = p.nulls()[i] ? nullptr : p.values()[i].data();
    lengths[i] = static_cast<int>(p.values()[i].size());
  }
  out = Result(PQexecPrepared(c_, s.name, n, values.data(), lengths.data(), formats.data(), 1));
  auto rs = PQresultStatus(out.get());
  if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) return Status::OK();
  return failure_of(out.get(), c_, what);
}

Status Conn::simple(const char* sql, std::string_view what, Result* out) {
  // PQexec returns the last statement's result; a failure stops the string.
  Result r(PQexec(c_, sql));
  auto rs = PQresultStatus(r.get());
  if (rs != PGRES_TUPLES_OK && rs != PGRES_COMMAND_OK) return failure_of(r.get(), c_, what);
  if (out) *out = std::move(r);
  return Status::OK();
}

// ---- the pool -------------------------------------------------------------------------

std::unique_ptr<Conn> Pool::acquire(Status& st) {
  std::unique_lock<std::mutex> l(m_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o_.pool_wait_ms);
  const int size = o_.pool_size > 0 ? o_.pool_size : 1;
  if (!cv_.wait_until(l, deadline, [&] { return !idle_.empty() || open_ < size; })) {
    st = Status::Unavailable("no PostgreSQL connection free within " + std::to_string(o_.pool_wait_ms) + " ms (" +
                             std::to_string(size) + " in use)");
    return nullptr;
  }
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    st = Status::OK();
    return c;
  }
  ++open_;
  l.unlock();
  auto c = Conn::connect(o_, st);
  if (!c) {
    l.lock();
    --open_;
    cv_.notify_one();
  }
  return c;
}

void Pool::release(std::unique_ptr<Conn> c) {
  if (!c) return;
  if (!c->broken() && !c->idle()) (void)c->simple("ROLLBACK", "rollback");
  bool keep = !c->broken() && c->idle();
  if (!keep) c.reset();  // closes it
  std::lock_guard<std::mutex> g(m_);
  if (keep) idle_.push_back(std::move(c));
  else --open_;
  cv_.notify_one();
}

}  // namespace gh::store::postgres
