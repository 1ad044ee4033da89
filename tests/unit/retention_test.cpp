// Per-user quotas and the prune rules (domain/retention.hpp), and the
// store's bounded prune step and fill figures underneath them.
#include "actors/actors.hpp"
#include "domain/retention.hpp"
#include "config/config.hpp"
#include "store/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <thread>
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
  std::unique_ptr<Store> db;
  TempStore() {
    dir = std::filesystem::temp_directory_path() / ("gh-retention-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    int rc = 0;
    std::string why;
    db = Store::open({dir, 16u << 20}, rc, why);
    REQUIRE(db);
  }
  ~TempStore() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
};

std::size_t entries(Store& db, const char* table) {
  int rc = 0;
  auto t = db.read(rc);
  MDB_dbi dbi;
  REQUIRE(mdb_dbi_open(t.get(), table, 0, &dbi) == 0);
  MDB_stat st;
  REQUIRE(mdb_stat(t.get(), dbi, &st) == 0);
  return st.ms_entries;
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
  CHECK_FALSE(rules.otp(OneTimeToken{"magic", "u", 950, false}));
  CHECK(rules.otp(OneTimeToken{"magic", "u", 950, true}));
  CHECK(rules.otp(OneTimeToken{"reset", "u", 900, false}));
}

TEST_CASE("a prune step looks at a bounded number of records and resumes after its cursor", "[retention][store]") {
  TempStore ts;
  auto& db = *ts.db;
  int rc = 0;
  {
    auto t = db.write(rc);
    for (int i = 0; i < 7; ++i) {
      auto s = session("s" + std::to_string(i), 0, i % 2 ? 10'000 : 10);  // s0 s2 s4 s6 ended
      REQUIRE(db.put_session(t, s) == 0);
      REQUIRE(db.put_refresh(t, "h" + std::to_string(i), RefreshRef{s.id, 0, s.expires_at}) == 0);
    }
    ApiKey live, revoked;
    live.id = "k1";
    revoked.id = "k2";
    live.user_id = revoked.user_id = "u";
    revoked.revoked = true;
    REQUIRE(db.put_api_key(t, "kh1", live) == 0);
    REQUIRE(db.put_api_key(t, "kh2", revoked) == 0);
    bool issued = false;
    REQUIRE(db.issue_otp(t, "o1", OneTimeToken{"magic", "u", 10'000, false, ""}, 3, 0, issued) == 0);
    REQUIRE(db.issue_otp(t, "o2", OneTimeToken{"magic", "u", 10'000, false, ""}, 3, 0, issued) == 0);
    REQUIRE(db.issue_otp(t, "o3", OneTimeToken{"reset", "u", 10, false, ""}, 3, 0, issued) == 0);  // expired
    REQUIRE(db.put_otp(t, "o1", OneTimeToken{"magic", "u", 10'000, true, ""}) == 0);               // o1 used
    REQUIRE(t.commit() == 0);
  }
  auto rules = domain::prune_rules(1000, 0);
  auto run = [&](PruneTable table, std::size_t limit, int& steps) {
    std::string cursor;
    std::size_t total = 0;
    steps = 0;
    do {
      auto t = db.write(rc);
      std::size_t deleted = 0;
      REQUIRE(db.prune(t, table, cursor, limit, rules, deleted) == 0);
      REQUIRE(deleted <= limit);
      REQUIRE(t.commit() == 0);
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
    auto t = db.read(rc);
    CHECK(db.sessions_of(t, "u").size() == 3);
    CHECK_FALSE(db.session(t, "s0"));
    CHECK(db.session(t, "s1"));
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
    auto t = db.read(rc);
    CHECK(db.otp(t, "o2"));
  }
  CHECK(entries(db, "user_otp") == 1);  // o1's and o3's index entries went with them; o2's stays
}

TEST_CASE("a session deleted by the cap takes its index entry and refresh token; orphans are pruned",
          "[retention][store]") {
  TempStore ts;
  auto& db = *ts.db;
  int rc = 0;
  {
    auto t = db.write(rc);
    for (int i = 0; i < 2; ++i) {
      auto s = session("s" + std::to_string(i), 0, 10'000);
      s.token_hash = "now" + std::to_string(i);
      REQUIRE(db.put_session(t, s) == 0);
      REQUIRE(db.put_refresh(t, s.token_hash, RefreshRef{s.id, 1, s.expires_at}) == 0);
      REQUIRE(db.put_refresh(t, "old" + std::to_string(i), RefreshRef{s.id, 0, s.expires_at}) == 0);
    }
    REQUIRE(db.del_session(t, *db.session(t, "s0")) == 0);
    REQUIRE(t.commit() == 0);
  }
  CHECK(entries(db, "sessions") == 1);
  CHECK(entries(db, "user_sessions") == 1);
  CHECK(entries(db, "refresh") == 3);  // s0's earlier generation is left, pointing at nothing
  {
    auto t = db.write(rc);
    std::string cursor;
    std::size_t deleted = 0;
    REQUIRE(db.prune(t, PruneTable::refresh, cursor, 100, domain::prune_rules(1000, 0), deleted) == 0);
    REQUIRE(t.commit() == 0);
    CHECK(deleted == 1);
  }
  auto t = db.read(rc);
  CHECK_FALSE(db.refresh(t, "old0"));
  CHECK(db.refresh(t, "old1"));  // a live session's earlier generation stays: reuse detection
  CHECK(db.refresh(t, "now1"));
}

namespace {

// A writer that runs every op twice: once in a transaction it throws away
// (as a retry after a failed batch would), then for real.
writer_actor::behavior_type retrying_writer(writer_actor::pointer, Store* db, std::shared_ptr<std::atomic<int>> ops) {
  return {
      [=](write_atom, WriteOp& op) -> bool {
        int rc = 0;
        {
          auto t = db->write(rc);
          if (!rc) (void)op.fn(t);
          t.abort();
        }
        auto t = db->write(rc);
        if (rc) return false;
        if (op.fn(t)) {
          t.abort();
          return false;
        }
        ++*ops;
        return t.commit() == 0;
      },
      [](flush_atom) {},
      [](ping_atom) { return true; },
  };
}

}  // namespace

TEST_CASE("a prune step that is run again starts from its own cursor (no batch skipped)", "[retention][janitor]") {
  TempStore ts;
  auto& db = *ts.db;
  int rc = 0;
  {
    auto t = db.write(rc);
    for (int i = 0; i < 9; ++i) REQUIRE(db.put_session(t, session("s" + std::to_string(i), 0, 10)) == 0);
    REQUIRE(t.commit() == 0);
  }
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto ops = std::make_shared<std::atomic<int>>(0);
  auto w = sys.spawn(retrying_writer, &db, ops);
  config::Limits limits;
  limits.prune_batch = 2;
  limits.prune_interval_s = 3600;  // one pass
  limits.expired_retention_s = 0;
  auto j = spawn_janitor(sys, db, w, limits, 99);
  // The pass ends when the writer has been quiet for a while.
  int last = -1;
  for (int i = 0; i < 100 && (ops->load() != last || last <= 0); ++i) {
    last = ops->load();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  caf::anon_send_exit(j, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  j = nullptr;
  w = nullptr;
  sys.await_all_actors_done();
  CHECK(entries(db, "sessions") == 0);  // before the fix 2 of 9 were left: a re-run resumed from the advanced cursor
  CHECK(entries(db, "user_sessions") == 0);
}

TEST_CASE("the store fill counts pages in use against the map size", "[retention][store]") {
  TempStore ts;
  int rc = 0;
  auto before = ts.db->fill(rc);
  REQUIRE(rc == 0);
  CHECK(before.map_bytes == 16u << 20);
  CHECK(before.used_bytes > 0);
  {
    auto t = ts.db->write(rc);
    for (int i = 0; i < 2000; ++i) REQUIRE(ts.db->put_refresh(t, "hash-" + std::to_string(i), RefreshRef{"s", 0, 1}) == 0);
    REQUIRE(t.commit() == 0);
  }
  auto grown = ts.db->fill(rc);
  CHECK(grown.used_bytes > before.used_bytes + 50'000);
  CHECK(grown.used_bytes < grown.map_bytes);
  {  // deleting frees pages onto the free list: in use falls again
    auto t = ts.db->write(rc);
    std::string cursor;
    std::size_t deleted = 0;
    REQUIRE(ts.db->prune(t, PruneTable::refresh, cursor, 5000, domain::prune_rules(10, 0), deleted) == 0);
    REQUIRE(deleted == 2000);
    REQUIRE(t.commit() == 0);
  }
  {  // LMDB reuses freed pages only after a later commit; one more makes them count
    auto t = ts.db->write(rc);
    REQUIRE(ts.db->put_meta(t, "x", "y") == 0);
    REQUIRE(t.commit() == 0);
  }
  CHECK(ts.db->fill(rc).used_bytes < grown.used_bytes);
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
