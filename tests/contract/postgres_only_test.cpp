// What only the PostgreSQL engine can show, on the real throwaway cluster:
// migrations (applied once under concurrency, by threads and by three
// `gatehouse migrate` processes), `serve` refusing a schema it does not
// match (and never migrating), the server's unique constraints as conflict,
// timeouts and unreachable servers as unavailable (never a hang), a lost
// connection recovered, rows that do not decode as corrupt.
#include "store/postgres/backend.hpp"
#include "store/postgres/testing.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/status_checks.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace gh;
using namespace gh::store;
namespace pt = gh::store::postgres::testing;
using Code = Status::Code;
using Clock = std::chrono::steady_clock;

namespace {

std::string new_database() {
  std::string why;
  auto name = testing::cluster().create_database("gh_pg", why);
  INFO(why);
  REQUIRE(!name.empty());
  return name;
}

std::unique_ptr<Backend> open_url(const std::string& url, int statement_ms = 5000, int lock_ms = 5000,
                                  int max_staleness_ms = 2000) {
  postgres::Options o;
  o.url = url;
  o.statement_timeout_ms = statement_ms;
  o.lock_timeout_ms = lock_ms;
  o.max_staleness_ms = max_staleness_ms;
  Status st;
  auto b = postgres::open(o, st);
  INFO(st.to_string());
  REQUIRE(b);
  return b;
}

std::unique_ptr<Backend> open_db(const std::string& name, int statement_ms = 5000, int lock_ms = 5000) {
  return open_url(testing::cluster().url(name), statement_ms, lock_ms);
}

std::vector<std::string> query(Backend& b, const std::string& sql) {
  std::vector<std::string> rows;
  REQUIRE_OK(pt::exec(b, sql, &rows));
  return rows;
}

domain::User make_user(const std::string& id, const std::string& email, const std::string& username = "") {
  domain::User u;
  u.id = id;
  u.email = email;
  u.username = username;
  u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
  return u;
}

// A temporary working directory for a gatehouse process (its default
// audit key file lands there).
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gh-pg-run-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The gatehouse binary with `args`, in `cwd`, on the PostgreSQL database
// `url` (through the environment, as an operator would), output in `log`.
pid_t spawn_gatehouse(const std::vector<std::string>& args, const std::string& cwd, const std::string& url,
                      const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(126);
    setenv("GATEHOUSE_STORE_BACKEND", "postgres", 1);
    setenv("GATEHOUSE_STORE_URL", url.c_str(), 1);
    setenv("GATEHOUSE_METRICS_LISTEN", "", 1);  // no fixed port
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    // The repository's configuration (the password blocklist, templates).
    static const std::string config = std::string(GH_SOURCE_DIR) + "/config/gatehouse.toml";
    std::vector<char*> argv{const_cast<char*>(GH_GATEHOUSE_BIN)};
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(const_cast<char*>("--config"));
    argv.push_back(const_cast<char*>(config.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Its exit code, or -1 after `timeout` (then it is killed).
int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  auto end = Clock::now() + timeout;
  int status = 0;
  while (Clock::now() < end) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

// A loopback TCP port nothing listens on.
int closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

}  // namespace

// ---- migrations --------------------------------------------------------------------

TEST_CASE("postgres: migrate creates the tables, stamps the version, is idempotent", "[postgres][schema]") {
  auto name = new_database();
  auto db = open_db(name);
  int v = -1;
  REQUIRE_OK(db->schema_version(v));
  CHECK(v == 0);  // a bare database: never migrated
  Status st;
  CHECK(db->read(st));  // readable, with nothing in it...
  domain::User u;
  {
    auto t = db->read(st);
    REQUIRE(t);
    CHECK_CODE(t->user("x", u), Code::unavailable);  // ...but no tables: a failure, not absence
  }
  REQUIRE_OK(db->migrate());
  REQUIRE_OK(db->schema_version(v));
  CHECK(v == kSchemaVersion);
  REQUIRE_OK(db->migrate());
  auto rows = query(*db, "SELECT version || ':' || name FROM schema_version ORDER BY version");
  REQUIRE(rows.size() == static_cast<std::size_t>(postgres::built_migration()));
  CHECK(rows[0] == "1:0001_init.sql");
}

TEST_CASE("postgres: three concurrent migrations (separate connections) apply each version once",
          "[postgres][schema][threads]") {
  auto name = new_database();
  std::vector<std::unique_ptr<Backend>> dbs;
  for (int i = 0; i < 3; ++i) dbs.push_back(open_db(name));
  std::atomic<int> ready{0}, ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] {
      ++ready;
      while (ready < 3) std::this_thread::yield();
      if (dbs[i]->migrate().ok()) ++ok;
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 3);
  auto rows = query(*dbs[0], "SELECT count(*) || '/' || count(DISTINCT version) FROM schema_version");
  CHECK(rows == std::vector<std::string>{std::to_string(postgres::built_migration()) + "/" +
                                         std::to_string(postgres::built_migration())});
  int v = 0;
  REQUIRE_OK(dbs[2]->schema_version(v));
  CHECK(v == kSchemaVersion);
}

TEST_CASE("postgres: three concurrent `gatehouse migrate` processes apply each version once", "[postgres][schema][cli]") {
  auto name = new_database();
  TempDir dir;
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i)
    pids.push_back(spawn_gatehouse({"migrate"}, dir.path, testing::cluster().url(name),
                                   dir.path + "/migrate" + std::to_string(i) + ".log"));
  for (int i = 0; i < 3; ++i) {
    INFO(slurp(dir.path + "/migrate" + std::to_string(i) + ".log"));
    CHECK(wait_exit(pids[i], std::chrono::seconds(30)) == 0);
  }
  auto db = open_db(name);
  auto rows = query(*db, "SELECT count(*) || '/' || count(DISTINCT version) FROM schema_version");
  CHECK(rows == std::vector<std::string>{std::to_string(postgres::built_migration()) + "/" +
                                         std::to_string(postgres::built_migration())});
  int v = 0;
  REQUIRE_OK(db->schema_version(v));
  CHECK(v == kSchemaVersion);
}

TEST_CASE("postgres: serve refuses a schema it does not match, says to migrate, and never migrates",
          "[postgres][schema][cli]") {
  TempDir dir;
  auto serve = [&](const std::string& name, const std::string& tag) {
    auto log = dir.path + "/serve-" + tag + ".log";
    pid_t pid = spawn_gatehouse({"serve", "--listen", "127.0.0.1:0"}, dir.path, testing::cluster().url(name), log);
    int code = wait_exit(pid, std::chrono::seconds(20));
    return std::make_pair(code, slurp(log));
  };
  SECTION("a database never migrated") {
    auto name = new_database();
    auto [code, out] = serve(name, "bare");
    INFO(out);
    CHECK(code != 0);
    CHECK(code != -1);  // it exited by itself
    CHECK(out.find("gatehouse migrate") != std::string::npos);
    auto db = open_db(name);
    CHECK(query(*db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == std::vector<std::string>{"0"});
  }
  SECTION("an older contract version") {
    auto name = new_database();
    auto db = open_db(name);
    REQUIRE_OK(db->migrate());
    REQUIRE_OK(db->write([](WriteTxn& t) { return t.put_meta("schema_version", "1"); }));
    auto [code, out] = serve(name, "old");
    INFO(out);
    CHECK(code > 0);
    CHECK(out.find("gatehouse migrate") != std::string::npos);
    int v = 0;
    REQUIRE_OK(db->schema_version(v));
    CHECK(v == 1);  // untouched
  }
  SECTION("tables behind this build's migrations") {
    auto name = new_database();
    auto db = open_db(name);
    REQUIRE_OK(db->migrate());
    REQUIRE_OK(pt::exec(*db, "DELETE FROM schema_version"));
    auto [code, out] = serve(name, "behind");
    INFO(out);
    CHECK(code > 0);
    CHECK(out.find("gatehouse migrate") != std::string::npos);
  }
  SECTION("a newer build's migrations") {
    auto name = new_database();
    auto db = open_db(name);
    REQUIRE_OK(db->migrate());
    REQUIRE_OK(pt::exec(*db, "INSERT INTO schema_version (version, name) VALUES (999, '0999_future.sql')"));
    int v = 0;
    auto st = db->schema_version(v);
    CHECK(st.is_unavailable());
    CHECK(st.message().find("newer") != std::string::npos);
    CHECK(db->migrate().message().find("newer") != std::string::npos);
    auto [code, out] = serve(name, "newer");
    INFO(out);
    CHECK(code > 0);
  }
  SECTION("the schema of this build: it serves, and stops on SIGTERM") {
    auto name = new_database();
    {
      auto db = open_db(name);
      REQUIRE_OK(db->migrate());
    }
    auto log = dir.path + "/serve-ok.log";
    pid_t pid = spawn_gatehouse({"serve", "--listen", "127.0.0.1:0"}, dir.path, testing::cluster().url(name), log);
    auto end = Clock::now() + std::chrono::seconds(20);
    bool listening = false;
    while (!listening && Clock::now() < end) {
      listening = slurp(log).find("listening") != std::string::npos;
      int status = 0;
      if (!listening && waitpid(pid, &status, WNOHANG) == pid) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    INFO(slurp(log));
    CHECK(listening);
    kill(pid, SIGTERM);
    CHECK(wait_exit(pid, std::chrono::seconds(20)) == 0);
    auto out = slurp(log);
    CHECK(out.find("\"store\":\"postgres\"") != std::string::npos);
    // It wrote its signing key through the engine.
    auto db = open_db(name);
    CHECK(query(*db, "SELECT count(*) > 0 FROM signing_keys") == std::vector<std::string>{"t"});
    // The offline commands on the same database: a write with an audit
    // record, the read-only ones, and the chain verifies.
    auto run = [&](const std::vector<std::string>& args, const std::string& tag) {
      auto out = dir.path + "/" + tag + ".log";
      int code = wait_exit(spawn_gatehouse(args, dir.path, testing::cluster().url(name), out), std::chrono::seconds(30));
      INFO(tag << ": " << slurp(out));
      CHECK(code == 0);
      return slurp(out);
    };
    run({"keys", "rotate"}, "rotate");
    run({"user", "list"}, "list");
    run({"audit", "verify"}, "verify");
    CHECK(run({"audit", "export"}, "export").find("signing_key_rotated") != std::string::npos);
  }
}

// ---- constraints and decoding --------------------------------------------------------

TEST_CASE("postgres: the unique constraints answer conflict, naming the constraint", "[postgres][users]") {
  auto name = new_database();
  auto db = open_db(name);
  REQUIRE_OK(db->migrate());
  REQUIRE_OK(db->write([](WriteTxn& t) { return t.insert_user(make_user("u1", "a@example.com", "Ann")); }));
  // Straight to the table: the server's constraint, not the engine's check.
  auto insert = [&](const std::string& id, const std::string& email, const std::string& key) {
    return pt::exec(*db,
                    "INSERT INTO users (id, email, password_hash, role, username, username_key, full_name, avatar_url, "
                    "onboarding, data, email_verified, active, created_at, updated_at, failed_logins, last_failed_at, "
                    "device_epoch) VALUES ('" + id + "', '" + email + "', '', 'user', '" + key + "', '" + key +
                        "', '', '', '', '{}', false, true, 0, 0, 0, 0, 0)");
  };
  auto st = insert("u2", "a@example.com", "bob");
  CHECK_CODE(st, Code::conflict);
  CHECK(st.message().find("users_email_key") != std::string::npos);
  st = insert("u2", "b@example.com", "ann");
  CHECK_CODE(st, Code::conflict);
  CHECK(st.message().find("users_username_key_key") != std::string::npos);
  CHECK_CODE(insert("u1", "c@example.com", "carl"), Code::conflict);
  REQUIRE_OK(insert("u2", "b@example.com", "bob"));
  // Through the contract: conflict, and the transaction goes on.
  REQUIRE_OK(db->write([](WriteTxn& t) {
    auto u = make_user("u2", "a@example.com", "bob");
    CHECK(t.update_user(u).is_conflict());
    u = make_user("u3", "c@example.com", "ANN");
    CHECK(t.insert_user(u).is_conflict());
    return t.insert_user(make_user("u3", "c@example.com", "carl"));
  }));
}

TEST_CASE("postgres: custom profile data is kept as written, \\u0000 included", "[postgres][users]") {
  auto name = new_database();
  auto db = open_db(name);
  REQUIRE_OK(db->migrate());
  auto u = make_user("u1", "a@example.com");
  u.data = {{"nul", std::string("a\0b", 3)}, {"n", 18446744073709551615ull}, {"f", 0.1}, {"nested", {{"k", {1, 2}}}}};
  REQUIRE_OK(db->write([&](WriteTxn& t) { return t.insert_user(u); }));
  Status st;
  auto t = db->read(st);
  REQUIRE(t);
  domain::User got;
  REQUIRE_OK(t->user("u1", got));
  CHECK(got.data == u.data);
}

TEST_CASE("postgres: a row that does not decode is corrupt, not absent", "[postgres]") {
  auto name = new_database();
  auto db = open_db(name);
  REQUIRE_OK(db->migrate());
  domain::Session s;
  s.id = "s1";
  s.user_id = "u1";
  REQUIRE_OK(db->write([&](WriteTxn& t) { return t.put_session(s); }));
  REQUIRE_OK(pt::exec(*db, "UPDATE sessions SET generation = -1"));
  Status st;
  auto t = db->read(st);
  REQUIRE(t);
  CHECK_CODE(t->session("s1", s), Code::corrupt);
}

// ---- failures: timeouts, unreachable servers, lost connections ------------------------

TEST_CASE("postgres: an unreachable server answers unavailable, in bounded time, without the password",
          "[postgres][faults]") {
  auto attempt = [](const std::string& url, int connect_timeout_s) {
    postgres::Options o;
    o.url = url;
    o.connect_timeout_s = connect_timeout_s;
    Status st;
    auto start = Clock::now();
    auto b = postgres::open(o, st);
    auto took = Clock::now() - start;
    CHECK_FALSE(b);
    return std::make_pair(st, took);
  };
  SECTION("a closed port") {
    auto [st, took] =
        attempt("postgresql://gatehouse:s3cret-pw@127.0.0.1:" + std::to_string(closed_port()) + "/gatehouse", 2);
    CHECK_CODE(st, Code::unavailable);
    CHECK(st.message().find("s3cret-pw") == std::string::npos);
    CHECK(took < std::chrono::seconds(3));
  }
  SECTION("no server behind a socket folder") {
    auto [st, took] = attempt("postgresql:///gatehouse?host=/nonexistent-gh-socket-dir", 2);
    CHECK_CODE(st, Code::unavailable);
    CHECK(took < std::chrono::seconds(3));
  }
  SECTION("an address that never answers: connect_timeout") {
    // TEST-NET-1 (RFC 5737): either refused at once or timed out after 1 s.
    auto [st, took] = attempt("postgresql://gatehouse@192.0.2.1:5432/gatehouse", 1);
    CHECK_CODE(st, Code::unavailable);
    CHECK(took < std::chrono::seconds(4));
  }
}

TEST_CASE("postgres: statement and lock timeouts answer unavailable", "[postgres][faults]") {
  auto name = new_database();
  auto db = open_db(name, 400, 150);
  REQUIRE_OK(db->migrate());
  auto start = Clock::now();
  auto st = pt::exec(*db, "SELECT pg_sleep(5)");
  CHECK_CODE(st, Code::unavailable);
  CHECK(st.message().find("57014") != std::string::npos);  // query_canceled
  CHECK(Clock::now() - start < std::chrono::seconds(3));
  // An open batch holds the writer lock; another writer gives up after lock_timeout.
  auto batch = db->batch();
  REQUIRE_OK(batch->apply([](WriteTxn& t) { return t.put_meta("a", "1").ok(); }));
  Status other;
  std::thread writer([&] { other = db->write([](WriteTxn& t) { return t.put_meta("b", "1"); }); });
  writer.join();
  CHECK_CODE(other, Code::unavailable);
  CHECK(other.message().find("55P03") != std::string::npos);  // lock_not_available
  REQUIRE_OK(batch->commit());
  REQUIRE_OK(db->write([](WriteTxn& t) { return t.put_meta("b", "1"); }));
}

TEST_CASE("postgres: connections the server ended are replaced, not reported", "[postgres][faults]") {
  auto name = new_database();
  auto db = open_db(name);
  REQUIRE_OK(db->migrate());
  Principal p;
  CHECK_CODE(db->principal("s1", p), Code::not_found);  // a pooled connection now
  std::string why;
  REQUIRE(testing::cluster().admin(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name + "'", why));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_CODE(db->principal("s1", p), Code::not_found);
  REQUIRE(testing::cluster().admin(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name + "'", why));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE_OK(db->write([](WriteTxn& t) { return t.put_meta("after", "1"); }));
  REQUIRE(testing::cluster().admin(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name + "'", why));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Status st;
  auto t = db->read(st);
  REQUIRE(t);
  std::string v;
  REQUIRE_OK(t->meta("after", v));
}

// ---- the principal cache across instances (LISTEN/NOTIFY) -------------------------

namespace {

// Polls `f` every 5 ms until it answers true; how long that took, or
// nullopt after `limit`.
template <class F>
std::optional<std::chrono::milliseconds> within(std::chrono::milliseconds limit, F&& f) {
  auto start = Clock::now();
  while (Clock::now() - start < limit) {
    if (f()) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::nullopt;
}

// The server process of `name`'s change listener ("gatehouse listener").
std::vector<std::string> listener_pids(Backend& any, const std::string& name) {
  return query(any, "SELECT pid::text FROM pg_stat_activity WHERE datname = '" + name +
                        "' AND application_name = 'gatehouse listener'");
}

domain::Session make_pg_session(const std::string& id, const std::string& user_id) {
  domain::Session s;
  s.id = id;
  s.user_id = user_id;
  s.token_hash = std::string(32, 'h');
  s.expires_at = 4'000'000'000;
  return s;
}

}  // namespace

TEST_CASE("postgres: a change committed by another instance, or by hand, changes the stamp within a second",
          "[postgres][principal]") {
  auto name = new_database();
  auto a = open_db(name);
  REQUIRE_OK(a->migrate());
  auto b = open_db(name);
  const std::string alice = "u-alice";
  REQUIRE_OK(a->write([&](WriteTxn& t) {
    REQUIRE_OK(t.insert_user(make_user(alice, "alice@example.com")));
    return t.put_session(make_pg_session("s1", alice));
  }));
  auto stamp = [&](Backend& db) { return db.change_stamp("s1", alice); };
  CHECK(stamp(*b) == 0);  // the first call starts the listener: nothing is trusted yet
  REQUIRE(within(std::chrono::seconds(5), [&] { return stamp(*b) != 0; }));
  REQUIRE(within(std::chrono::seconds(5), [&] { return stamp(*a) != 0; }));

  SECTION("a revocation on A") {
    auto before_a = stamp(*a), before_b = stamp(*b);
    auto s = make_pg_session("s1", alice);
    s.revoked = true;
    REQUIRE_OK(a->write([&](WriteTxn& t) { return t.put_session(s); }));
    CHECK(stamp(*a) != before_a);  // at once on the writer: before its answer
    auto seen = within(std::chrono::seconds(1), [&] { return stamp(*b) != before_b; });
    REQUIRE(seen);
    CHECK(seen->count() < 1000);
  }
  SECTION("a deactivation typed into psql") {
    auto before = stamp(*b);
    query(*a, "UPDATE users SET active = false WHERE id = '" + alice + "'");
    CHECK(within(std::chrono::seconds(1), [&] { return stamp(*b) != before; }));
  }
  SECTION("a rolled-back change announces nothing") {
    // Another id's announcement could grow the same slot; none is made here.
    auto before = stamp(*b);
    CHECK_CODE(a->write([&](WriteTxn& t) {
      auto u = make_user(alice, "alice@example.com");
      u.role = "admin";
      REQUIRE_OK(t.update_user(u));
      return Status::Conflict("changed my mind");
    }),
               Code::conflict);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(stamp(*b) == before);
  }
}

TEST_CASE("postgres: without its listener an instance trusts no cache, and forgets it when the listener is back",
          "[postgres][principal][faults]") {
  auto name = new_database();
  auto a = open_db(name);
  REQUIRE_OK(a->migrate());
  const std::string alice = "u-alice";
  REQUIRE_OK(a->write([&](WriteTxn& t) {
    REQUIRE_OK(t.insert_user(make_user(alice, "alice@example.com")));
    return t.put_session(make_pg_session("s1", alice));
  }));
  auto b = open_url(testing::cluster().url(name), 5000, 5000, /*max_staleness_ms=*/400);
  auto stamp = [&] { return b->change_stamp("s1", alice); };
  REQUIRE(within(std::chrono::seconds(5), [&] { return stamp() != 0; }));

  SECTION("its connection ended by the server (pg_terminate_backend)") {
    auto before = stamp();
    auto pids = listener_pids(*a, name);
    REQUIRE(pids.size() == 1);
    std::string why;
    REQUIRE(testing::cluster().admin("SELECT pg_terminate_backend(" + pids[0] + ")", why));
    auto bypassed = within(std::chrono::seconds(1), [&] { return stamp() == 0; });
    REQUIRE(bypassed);
    auto back = within(std::chrono::seconds(5), [&] { return stamp() != 0; });
    REQUIRE(back);
    CHECK(stamp() != before);  // nothing cached before the gap is used again
    CHECK(listener_pids(*a, name).size() == 1);
  }
  SECTION("its server process hung (SIGSTOP): trusted no longer than max_staleness_ms") {
    auto pids = listener_pids(*a, name);
    REQUIRE(pids.size() == 1);
    pid_t pid = std::stoi(pids[0]);
    auto before = stamp();
    REQUIRE(kill(pid, SIGSTOP) == 0);
    auto bypassed = within(std::chrono::seconds(2), [&] { return stamp() == 0; });
    kill(pid, SIGCONT);
    REQUIRE(bypassed);
    CHECK(bypassed->count() <= 400 + 50);
    REQUIRE(within(std::chrono::seconds(5), [&] { return stamp() != 0; }));
    CHECK(stamp() != before);
  }
}

TEST_CASE("postgres: max_staleness_ms = 0 keeps no cache and opens no listener", "[postgres][principal]") {
  auto name = new_database();
  auto a = open_url(testing::cluster().url(name), 5000, 5000, 0);
  REQUIRE_OK(a->migrate());
  for (int i = 0; i < 20; ++i) {
    CHECK(a->change_stamp("s1", "u") == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(listener_pids(*a, name).empty());
}

// ---- shared rate-limit buckets (migration 0003) -----------------------------------

TEST_CASE("postgres: instances share the login buckets, refilled on the database's clock", "[postgres][rate]") {
  auto name = new_database();
  auto a = open_db(name);
  REQUIRE_OK(a->migrate());
  auto b = open_db(name);
  REQUIRE(a->shared_buckets());
  REQUIRE(b->shared_buckets());
  auto take = [](Backend& db, const std::string& key, double per_minute, double burst) {
    domain::RateDecision d;
    REQUIRE_OK(db.shared_buckets()->take(key, {per_minute, burst}, d));
    return d;
  };
  SECTION("a burst of 3 spread over two instances allows 3 in all") {
    int allowed = 0;
    for (int i = 0; i < 3; ++i) allowed += take(i % 2 ? *a : *b, "login|acct|bob@x", 3, 3).allowed;
    CHECK(allowed == 3);
    auto refused = take(*a, "login|acct|bob@x", 3, 3);
    CHECK_FALSE(refused.allowed);
    CHECK(refused.first_refusal);  // audited once per burst of refusals
    CHECK(refused.limit == 3);
    CHECK(refused.remaining == 0);
    CHECK(refused.retry_after_s >= 1);
    CHECK(refused.retry_after_s <= 20);
    auto again = take(*b, "login|acct|bob@x", 3, 3);
    CHECK_FALSE(again.allowed);
    CHECK_FALSE(again.first_refusal);
    CHECK(take(*b, "login|acct|carol@x", 3, 3).allowed);  // another bucket
  }
  SECTION("a bucket refills at its rate") {
    CHECK(take(*a, "k", 600, 1).allowed);  // 10 a second, one at a time
    CHECK_FALSE(take(*b, "k", 600, 1).allowed);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    CHECK(take(*b, "k", 600, 1).allowed);
  }
  SECTION("30 takes at once from 6 threads over two instances allow exactly the burst") {
    std::atomic<int> allowed{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 5; ++i) {
          domain::RateDecision d;
          auto st = (t % 2 ? *a : *b).shared_buckets()->take("login|acct|storm@x", {1, 10}, d);
          if (!st.ok()) ++failed;
          else if (d.allowed) ++allowed;
        }
      });
    for (auto& th : threads) th.join();
    CHECK(failed == 0);
    CHECK(allowed == 10);
  }
}
