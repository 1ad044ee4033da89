// Per-user quotas and the prune rules (domain/retention.hpp), and the
// store's bounded prune step and fill figures underneath them.
#include "domain/retention.hpp"
#include "config/config.hpp"
#include "store/lmdb/backend.hpp"
#include "store/lmdb/records.hpp"
#include "store/lmdb/testing.hpp"
#include "tests/support/status_checks.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

using namespace gh;
using namespace gh::store;

namespace {

Session session(std::string id, std::int64_t last_used, std::int64_t expires, bool revoked = false) {
  Session s;
  s.id = std::move(id);
  s.user_id = "u";
  s.created_at = 0;
  s.last_used_at = last_used;
  s.expires_at = expires;
  s.revoked = revoked;
  return s;
}

std::vector<std::string> ids(const std::vector<Session>& all, const std::vector<std::size_t>& picked) {
  std::vector<std::string> out;
  for (auto i : picked) out.push_back(all[i].id);
  return out;
}

struct TempStore {
  std::string dir;
  std::unique_ptr<Backend> db;
  TempStore() {
    dir = std::filesystem::temp_directory_path() / ("gh-retention-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    Status st;
    db = lmdb::open({dir, 16u << 20}, st);
    REQUIRE(db);
  }
  ~TempStore() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
};

std::unique_ptr<ReadTxn> reader(Backend& db) {
  Status st;
  auto t = db.read(st);
  REQUIRE(t);
  return t;
}

std::size_t entries(Backend& db, const char* table) {
  std::size_t n = 0;
  REQUIRE_OK(lmdb::testing::entries(db, table, n));
  return n;
}

}  // namespace

TEST_CASE("at the session cap the least recently used live sessions make room", "[retention]") {
  std::vector<Session> all = {session("old-but-busy", 90, 1000), session("idle", 10, 1000),
                              session("revoked", 1, 1000, true), session("expired", 2, 50),
                              session("recent", 80, 1000)};
  // 3 live sessions (now = 100): below a cap of 4 nothing goes.
  CHECK(domain::sessions_over_cap(all, 100, 4).empty());
  CHECK(ids(all, domain::sessions_over_cap(all, 100, 3)) == std::vector<std::string>{"idle"});
  CHECK(ids(all, domain::sessions_over_cap(all, 100, 2)) == std::vector<std::string>{"idle", "recent"});
  CHECK(domain::sessions_over_cap(all, 100, 1).size() == 3);
}

TEST_CASE("live API tokens: unrevoked and unexpired; 0 never expires", "[retention]") {
  ApiKey k;
  k.expires_at = 0;
  CHECK(domain::api_key_live(k, 1'000'000));
  k.expires_at = 100;
  CHECK(domain::api_key_live(k, 99));
  CHECK_FALSE(domain::api_key_live(k, 100));
  k.expires_at = 0;
  k.revoked = true;
  CHECK_FALSE(domain::api_key_live(k, 1));
}

TEST_CASE("prune rules keep a revoked family until its absolute expiry", "[retention]") {
  auto rules = domain::prune_rules(1000, 100);
  // Sessions and refresh tokens: expires_at + retention, revoked or not.
  CHECK_FALSE(rules.session(session("s", 0, 950, true)));
  CHECK_FALSE(rules.session(session("s", 0, 901)));
  CHECK(rules.session(session("s", 0, 900)));
  CHECK(rules.session(session("s", 0, 900, true)));
  CHECK_FALSE(rules.refresh(RefreshRef{"s", 3, 901}));
  CHECK(rules.refresh(RefreshRef{"s", 3, 900}));
  // API tokens: revoked at once, expired after the retention, never-expiring kept.
  ApiKey k;
  CHECK_FALSE(rules.api_key(k));
  k.expires_at = 950;
  CHECK_FALSE(rules.api_key(k));
  k.expires_at = 900;
  CHECK(rules.api_key(k));
  k.expires_at = 0;
  k.revoked = true;
  CHECK(rules.api_key(k));
  // One-time tokens: used at once, else expired after the retention.
  CHECK_FALSE(rules.otp(OneTimeToken{"magic", "u", 950, false, "", ""}));
  CHECK(rules.otp(OneTimeToken{"magic", "u", 950, true, "", ""}));
  CHECK(rules.otp(OneTimeToken{"reset", "u", 900, false, "", ""}));
}

TEST_CASE("a prune step looks at a bounded number of records and resumes after its cursor", "[retention][store]") {
  TempStore ts;
  auto& db = *ts.db;
  REQUIRE_OK(db.write([](WriteTxn& t) {
    for (int i = 0; i < 7; ++i) {
      auto s = session("s" + std::to_string(i), 0, i % 2 ? 10'000 : 10);  // s0 s2 s4 s6 ended
      REQUIRE_OK(t.put_session(s));
      REQUIRE_OK(t.put_refresh("h" + std::to_string(i), RefreshRef{s.id, 0, s.expires_at}));
    }
    ApiKey live, revoked;
    live.id = "k1";
    revoked.id = "k2";
    live.user_id = revoked.user_id = "u";
    revoked.revoked = true;
    REQUIRE_OK(t.put_api_key("kh1", live));
    REQUIRE_OK(t.put_api_key("kh2", revoked));
    bool issued = false;
    REQUIRE_OK(t.issue_otp("o1", OneTimeToken{"magic", "u", 10'000, false, "", ""}, 3, 0, issued));
    REQUIRE_OK(t.issue_otp("o2", OneTimeToken{"magic", "u", 10'000, false, "", ""}, 3, 0, issued));
    REQUIRE_OK(t.issue_otp("o3", OneTimeToken{"reset", "u", 10, false, "", ""}, 3, 0, issued));  // expired
    return t.put_otp("o1", OneTimeToken{"magic", "u", 10'000, true, "", ""});                   // o1 used
  }));
  auto rules = domain::prune_rules(1000, 0);
  auto run = [&](PruneTable table, std::size_t limit, int& steps) {
    std::string cursor;
    std::size_t total = 0;
    steps = 0;
    do {
      std::size_t deleted = 0;
      REQUIRE_OK(db.write([&](WriteTxn& t) { return t.prune(table, cursor, limit, rules, deleted); }));
      REQUIRE(deleted <= limit);
      total += deleted;
      ++steps;
    } while (!cursor.empty());
    return total;
  };
  int steps = 0;
  CHECK(run(PruneTable::sessions, 2, steps) == 4);
  CHECK(steps == 4);  // 7 records, 2 a step
  CHECK(entries(db, "sessions") == 3);
  CHECK(entries(db, "user_sessions") == 3);
  {
    auto t = reader(db);
    std::vector<Session> list;
    REQUIRE_OK(t->sessions_of("u", list));
    CHECK(list.size() == 3);
    Session s;
    CHECK(t->session("s0", s).is_not_found());
    CHECK(t->session("s1", s).ok());
  }
  CHECK(run(PruneTable::refresh, 3, steps) == 4);
  CHECK(entries(db, "refresh") == 3);
  CHECK(run(PruneTable::api_keys, 100, steps) == 1);
  CHECK(steps == 1);
  CHECK(entries(db, "api_keys") == 1);
  CHECK(entries(db, "user_api_keys") == 1);
  CHECK(run(PruneTable::otp, 1, steps) == 2);  // o1 used, o3 expired; o2 kept
  CHECK(entries(db, "otp") == 1);
  {
    OneTimeToken o;
    CHECK(reader(db)->otp("o2", o).ok());
  }
  CHECK(entries(db, "user_otp") == 1);  // o1's and o3's index entries went with them; o2's stays
}

TEST_CASE("a session deleted by the cap takes its index entry and refresh token; orphans are pruned",
          "[retention][store]") {
  TempStore ts;
  auto& db = *ts.db;
  REQUIRE_OK(db.write([](WriteTxn& t) {
    for (int i = 0; i < 2; ++i) {
      auto s = session("s" + std::to_string(i), 0, 10'000);
      s.token_hash = "now" + std::to_string(i);
      REQUIRE_OK(t.put_session(s));
      REQUIRE_OK(t.put_refresh(s.token_hash, RefreshRef{s.id, 1, s.expires_at}));
      REQUIRE_OK(t.put_refresh("old" + std::to_string(i), RefreshRef{s.id, 0, s.expires_at}));
    }
    Session s0;
    REQUIRE_OK(t.session("s0", s0));
    return t.delete_session(s0);
  }));
  CHECK(entries(db, "sessions") == 1);
  CHECK(entries(db, "user_sessions") == 1);
  CHECK(entries(db, "refresh") == 3);  // s0's earlier generation is left, pointing at nothing
  {
    std::string cursor;
    std::size_t deleted = 0;
    REQUIRE_OK(db.write(
        [&](WriteTxn& t) { return t.prune(PruneTable::refresh, cursor, 100, domain::prune_rules(1000, 0), deleted); }));
    CHECK(deleted == 1);
  }
  auto t = reader(db);
  RefreshRef r;
  CHECK(t->refresh("old0", r).is_not_found());
  CHECK(t->refresh("old1", r).ok());  // a live session's earlier generation stays: reuse detection
  CHECK(t->refresh("now1", r).ok());
}

TEST_CASE("the store fill counts pages in use against the map size", "[retention][store]") {
  TempStore ts;
  Fill before, grown, after;
  REQUIRE_OK(ts.db->fill(before));
  CHECK(before.map_bytes == 16u << 20);
  CHECK(before.used_bytes > 0);
  REQUIRE_OK(ts.db->write([](WriteTxn& t) {
    for (int i = 0; i < 2000; ++i) REQUIRE_OK(t.put_refresh("hash-" + std::to_string(i), RefreshRef{"s", 0, 1}));
    return Status::OK();
  }));
  REQUIRE_OK(ts.db->fill(grown));
  CHECK(grown.used_bytes > before.used_bytes + 50'000);
  CHECK(grown.used_bytes < grown.map_bytes);
  {  // deleting frees pages onto the free list: in use falls again
    std::string cursor;
    std::size_t deleted = 0;
    REQUIRE_OK(ts.db->write(
        [&](WriteTxn& t) { return t.prune(PruneTable::refresh, cursor, 5000, domain::prune_rules(10, 0), deleted); }));
    REQUIRE(deleted == 2000);
  }
  // LMDB reuses freed pages only after a later commit; one more makes them count
  REQUIRE_OK(ts.db->write([](WriteTxn& t) { return t.put_meta("x", "y"); }));
  REQUIRE_OK(ts.db->fill(after));
  CHECK(after.used_bytes < grown.used_bytes);
}

TEST_CASE("limits and metrics keys load and are validated", "[config]") {
  auto c = config::Config::load("", {});
  CHECK(c.limits.api_tokens_per_user == 50);
  CHECK(c.limits.sessions_per_user == 100);
  CHECK(c.metrics.listen == "127.0.0.1:9464");
  CHECK(c.store.warn_fill_percent == 80);
  CHECK(config::Config::load("", {{"GATEHOUSE_METRICS_LISTEN", ""}}).metrics.listen.empty());
  CHECK(config::Config::load("", {{"GATEHOUSE_METRICS_LISTEN", "127.0.0.1:0"}}).metrics.listen == "127.0.0.1:0");
  CHECK_THROWS_WITH(config::Config::load("", {{"GATEHOUSE_METRICS_LISTEN", "9464"}}), Catch::Contains("metrics.listen"));
  CHECK_THROWS_WITH(config::Config::load("", {{"GATEHOUSE_METRICS_LISTEN", "h:70000"}}), Catch::Contains("metrics.listen"));
  CHECK_THROWS_WITH(config::Config::load("", {{"GATEHOUSE_LIMITS_SESSIONS_PER_USER", "0"}}),
                    Catch::Contains("limits.sessions_per_user"));
  CHECK_THROWS_WITH(config::Config::load("", {{"GATEHOUSE_STORE_WARN_FILL_PERCENT", "101"}}),
                    Catch::Contains("store.warn_fill_percent"));
}
