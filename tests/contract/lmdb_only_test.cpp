// What only the LMDB engine can show: engine failures are failures, never
// absence (a full map, a poisoned transaction, garbage bytes), read-only
// stores, and the on-disk format the Python tests and older builds read.
#include "store/lmdb/backend.hpp"
#include "store/lmdb/records.hpp"
#include "store/lmdb/testing.hpp"
#include "tests/support/status_checks.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

using namespace gh;
using namespace gh::store;
namespace lt = gh::store::lmdb::testing;

namespace {

struct LmdbFixture {
  std::string dir;
  std::unique_ptr<Backend> db;
  explicit LmdbFixture(std::size_t map_bytes = std::size_t{16} << 20) {
    static int n = 0;
    dir = std::filesystem::temp_directory_path() / ("gh-lmdb-only-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(dir);
    Status st;
    db = lmdb::open({dir, map_bytes}, st);
    INFO(st.to_string());
    REQUIRE(db);
  }
  ~LmdbFixture() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
};

domain::User user(const std::string& id, const std::string& email, const std::string& username) {
  domain::User u;
  u.id = id;
  u.email = email;
  u.username = username;
  return u;
}

const std::string kAlice(32, 'a');

}  // namespace

TEST_CASE("lmdb: a full map is unavailable, and a transaction it poisoned reads as unavailable, not absent",
          "[lmdb][faults]") {
  LmdbFixture f(1u << 20);
  REQUIRE_OK(f.db->write([](WriteTxn& t) { return t.insert_user(user(kAlice, "a@example.com", "alice")); }));
  Status put, get, list, other;
  auto st = f.db->write([&](WriteTxn& t) {
    put = t.put_meta("huge", std::string(2u << 20, 'x'));
    domain::User u;
    get = t.user(kAlice, u);  // there, but the transaction can no longer read
    std::vector<domain::Session> sessions;
    list = t.sessions_of(kAlice, sessions);
    other = t.user(std::string(32, 'z'), u);
    return put;
  });
  CHECK(st.is_unavailable());
  CHECK(put.is_unavailable());
  CHECK(get.is_unavailable());
  CHECK(list.is_unavailable());
  CHECK(other.is_unavailable());
  // In a batch: the op sees the failure, rolls back, the batch goes on.
  auto batch = f.db->batch();
  Status in_op;
  REQUIRE_OK(batch->apply([&](WriteTxn& t) {
    in_op = t.put_meta("huge", std::string(2u << 20, 'x'));
    return in_op.ok();
  }));
  CHECK(in_op.is_unavailable());
  REQUIRE_OK(batch->apply([](WriteTxn& t) { return t.put_meta("small", "v").ok(); }));
  CHECK(batch->size() == 1);
  REQUIRE_OK(batch->commit());
  std::string v;
  REQUIRE_OK(lt::raw_get(*f.db, "meta", "small", v));
}

TEST_CASE("lmdb: a nested commit that fails gives the whole batch up", "[lmdb][batch]") {
  LmdbFixture f(1u << 20);
  auto batch = f.db->batch();
  REQUIRE_OK(batch->apply([](WriteTxn& t) { return t.put_meta("a", "v").ok(); }));
  // A faulty op that ignores the failure of its put: its nested commit then
  // fails and LMDB flags the parent MDB_TXN_ERROR.
  auto st = batch->apply([](WriteTxn& t) {
    (void)t.put_meta("huge", std::string(2u << 20, 'x'));
    return true;
  });
  CHECK(st.is_unavailable());
  CHECK(batch->size() == 0);  // everything pending is given up: the caller answers them 503
  // The next apply starts a fresh batch.
  REQUIRE_OK(batch->apply([](WriteTxn& t) { return t.put_meta("b", "v").ok(); }));
  CHECK(batch->size() == 1);
  REQUIRE_OK(batch->commit());
  std::string v;
  CHECK(lt::raw_get(*f.db, "meta", "a", v).is_not_found());
  CHECK(lt::raw_get(*f.db, "meta", "huge", v).is_not_found());
  REQUIRE_OK(lt::raw_get(*f.db, "meta", "b", v));
}

TEST_CASE("lmdb: a batch commit that does not fit fails as a whole", "[lmdb][batch]") {
  LmdbFixture f(1u << 20);
  auto batch = f.db->batch();
  // Each op fits alone; together they overflow the map at some apply or at commit.
  Status last;
  int applied = 0;
  for (int i = 0; i < 400 && last.ok(); ++i) {
    last = batch->apply([i](WriteTxn& t) { return t.put_meta("k" + std::to_string(i), std::string(3000, 'x')).ok(); });
    if (last.ok()) ++applied;
  }
  // A put that hit MDB_MAP_FULL rolls back alone (ok, not kept); the batch
  // holds what fitted.
  CHECK(last.ok());
  CHECK(batch->size() < 400);
  CHECK(batch->size() > 0);
  auto size = batch->size();
  auto committed = batch->commit();
  std::size_t n = 0;
  REQUIRE_OK(lt::entries(*f.db, "meta", n));
  if (committed.ok()) {
    CHECK(n == size);
  } else {  // the commit itself did not fit: none of them happened
    CHECK(committed.is_unavailable());
    CHECK(n == 0);
  }
}

TEST_CASE("lmdb: bytes that do not decode are corrupt, not absent", "[lmdb][faults]") {
  LmdbFixture f;
  REQUIRE_OK(f.db->write([](WriteTxn& t) {
    auto st = t.insert_user(user(kAlice, "a@example.com", "alice"));
    domain::Session s;
    s.id = "s1";
    s.user_id = kAlice;
    return st.ok() ? t.put_session(s) : st;
  }));
  Principal p;
  REQUIRE_OK(f.db->principal("s1", p));
  REQUIRE_OK(lt::raw_put(*f.db, "users", kAlice, "garbage"));
  Status st;
  auto t = f.db->read(st);
  REQUIRE(t);
  domain::User u;
  CHECK(t->user(kAlice, u).is_corrupt());
  CHECK(t->user_by_email("a@example.com", u).is_corrupt());
  CHECK(t->user_by_username("ALICE", u).is_corrupt());
  CHECK(t->users_by_email("", false, [](const domain::User&) { return true; }).is_corrupt());
  CHECK(f.db->principal("s1", p).is_corrupt());
  t.reset();
  REQUIRE_OK(lt::raw_put(*f.db, "sessions", "s1", std::string("\x01\xff", 2)));
  t = f.db->read(st);
  std::vector<domain::Session> list;
  CHECK(t->sessions_of(kAlice, list).is_corrupt());
  domain::Session s;
  CHECK(t->session("s1", s).is_corrupt());
  CHECK(f.db->principal("s1", p).is_corrupt());
  // Index entries naming a missing record are skipped.
  REQUIRE_OK(lt::raw_put(*f.db, "user_sessions", kAlice + "s-missing", ""));
  REQUIRE_OK(lt::raw_del(*f.db, "sessions", "s1"));
  t = f.db->read(st);
  REQUIRE_OK(t->sessions_of(kAlice, list));
  CHECK(list.empty());
  // An undecodable audit record is skipped (the verifier sees the gap).
  t.reset();
  REQUIRE_OK(f.db->write([](WriteTxn& w) {
    for (int i = 0; i < 3; ++i)
      if (auto s2 = w.append_audit("{\"n\":" + std::to_string(i) + "}"); !s2.ok()) return s2;
    return Status::OK();
  }));
  REQUIRE_OK(lt::raw_put(*f.db, "audit", lt::audit_key(2), "junk"));
  t = f.db->read(st);
  std::vector<std::uint64_t> seqs;
  REQUIRE_OK(t->audit_after(0, [&](const AuditRecord& r) { return seqs.push_back(r.seq), true; }));
  CHECK(seqs == std::vector<std::uint64_t>{1, 3});
}

TEST_CASE("lmdb: a read-only store reads and refuses every write; a missing one is not created", "[lmdb]") {
  auto missing = std::filesystem::temp_directory_path() / ("gh-lmdb-missing-" + std::to_string(::getpid()));
  std::filesystem::remove_all(missing);
  Status st;
  CHECK_FALSE(lmdb::open({missing.string(), 16u << 20, true}, st));
  CHECK(st.is_unavailable());
  CHECK_FALSE(std::filesystem::exists(missing));

  LmdbFixture f;
  REQUIRE_OK(f.db->migrate());
  REQUIRE_OK(f.db->write([](WriteTxn& t) { return t.insert_user(user(kAlice, "a@example.com", "alice")); }));
  f.db.reset();
  auto ro = lmdb::open({f.dir, 16u << 20, true}, st);
  INFO(st.to_string());
  REQUIRE(ro);
  int v = 0;
  REQUIRE_OK(ro->schema_version(v));
  CHECK(v == kSchemaVersion);
  auto t = ro->read(st);
  REQUIRE(t);
  domain::User u;
  REQUIRE_OK(t->user(kAlice, u));
  t.reset();
  CHECK(ro->write([](WriteTxn& w) { return w.put_meta("x", "y"); }).is_unavailable());
  auto batch = ro->batch();
  CHECK(batch->apply([](WriteTxn& w) { return w.put_meta("x", "y").ok(); }).is_unavailable());
  CHECK(batch->size() == 0);
  REQUIRE_OK(ro->migrate());  // already current: nothing to write
  Principal p;
  CHECK(ro->principal("none", p).is_not_found());
  ro.reset();

  // An empty folder is no store either.
  auto other = std::filesystem::temp_directory_path() / ("gh-lmdb-other-" + std::to_string(::getpid()));
  std::filesystem::remove_all(other);
  std::filesystem::create_directories(other);
  CHECK_FALSE(lmdb::open({other.string(), 16u << 20, true}, st));
  CHECK(st.is_unavailable());
  std::filesystem::remove_all(other);
}

TEST_CASE("lmdb: the on-disk format stays as the last release wrote it", "[lmdb][format]") {
  LmdbFixture f;
  auto u = user(kAlice, "a@example.com", "Alice");
  domain::Session s;
  s.id = "s1";
  s.user_id = kAlice;
  s.token_hash = "th";
  domain::ApiKey k{"k1", kAlice, "ci", {}, {}, 1, 0, false};
  domain::OneTimeToken o{"magic", kAlice, 100, false, "", ""};
  REQUIRE_OK(f.db->write([&](WriteTxn& t) {
    REQUIRE_OK(t.insert_user(u));
    REQUIRE_OK(t.put_session(s));
    REQUIRE_OK(t.put_refresh("th", domain::RefreshRef{"s1", 0, 5}));
    REQUIRE_OK(t.put_api_key("kh", k));
    bool issued = false;
    REQUIRE_OK(t.issue_otp("oh", o, 3, 0, issued));
    return t.append_audit("{}");
  }));
  std::string v;
  REQUIRE_OK(lt::raw_get(*f.db, "users", kAlice, v));
  CHECK(v == encode(u));
  CHECK(v[0] == '\x01');  // version byte, then CBOR
  REQUIRE_OK(lt::raw_get(*f.db, "emails", "a@example.com", v));
  CHECK(v == kAlice);
  REQUIRE_OK(lt::raw_get(*f.db, "usernames", "alice", v));
  CHECK(v == kAlice);
  REQUIRE_OK(lt::raw_get(*f.db, "sessions", "s1", v));
  CHECK(v == encode(s));
  REQUIRE_OK(lt::raw_get(*f.db, "user_sessions", kAlice + "s1", v));
  CHECK(v.empty());
  REQUIRE_OK(lt::raw_get(*f.db, "refresh", "th", v));
  CHECK(v == encode(domain::RefreshRef{"s1", 0, 5}));
  REQUIRE_OK(lt::raw_get(*f.db, "api_keys", "kh", v));
  CHECK(v == encode(k));
  REQUIRE_OK(lt::raw_get(*f.db, "user_api_keys", kAlice + "k1", v));
  CHECK(v == "kh");
  REQUIRE_OK(lt::raw_get(*f.db, "otp", "oh", v));
  CHECK(v == encode(o));
  REQUIRE_OK(lt::raw_get(*f.db, "user_otp", kAlice + ":magic:oh", v));
  CHECK(v.empty());
  REQUIRE_OK(lt::raw_get(*f.db, "meta", "audit_head", v));
  REQUIRE(v.size() == 40);
  CHECK(v.substr(0, 8) == lt::audit_key(1));
  CHECK(lt::audit_key(1) == std::string("\0\0\0\0\0\0\0\1", 8));
  std::string rec;
  REQUIRE_OK(lt::raw_get(*f.db, "audit", lt::audit_key(1), rec));
  CHECK(rec[0] == '\x01');
  auto j = nlohmann::json::from_cbor(rec.begin() + 1, rec.end());
  CHECK(j["c"] == "{}");
  CHECK(j["p"].get_binary().size() == 32);
  CHECK(std::string(j["h"].get_binary().begin(), j["h"].get_binary().end()) == v.substr(8));
}

TEST_CASE("lmdb: a store closed and opened again keeps its data", "[lmdb]") {
  LmdbFixture f;
  REQUIRE_OK(f.db->write([](WriteTxn& t) { return t.insert_user(user(kAlice, "a@example.com", "alice")); }));
  f.db.reset();
  Status st;
  f.db = lmdb::open({f.dir, 16u << 20}, st);
  REQUIRE(f.db);
  auto t = f.db->read(st);
  domain::User u;
  REQUIRE_OK(t->user_by_username("Alice", u));
  CHECK(u.id == kAlice);
}
