#include "store/lmdb/backend.hpp"
#include "store/lmdb/records.hpp"
#include "store/lmdb/testing.hpp"
#include "domain/audit.hpp"
#include "tests/support/status_checks.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <tuple>
#include <unistd.h>

using namespace gh::store;

namespace {

// A fresh store in a temporary folder, removed afterwards.
struct TempStore {
  std::string dir;
  std::unique_ptr<Backend> db;
  TempStore() {
    dir = std::filesystem::temp_directory_path() / ("gh-store-" + std::to_string(::getpid()) + "-" +
                                                    std::to_string(counter()++));
    std::filesystem::remove_all(dir);
    Status st;
    db = lmdb::open({dir, 64u << 20}, st);
    INFO(st.to_string());
    REQUIRE(db);
  }
  std::unique_ptr<ReadTxn> read() {
    Status st;
    auto t = db->read(st);
    INFO(st.to_string());
    REQUIRE(t);
    return t;
  }
  ~TempStore() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

User alice() {
  User u;
  u.id = "0123456789abcdef0123456789abcdef";
  u.email = "alice@example.com";
  u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
  u.username = "Alice";
  u.full_name = "Alice A.";
  u.data = {{"plan", "pro"}};
  u.created_at = 1;
  u.updated_at = 2;
  return u;
}

}  // namespace

TEST_CASE("records round-trip through their encoding", "[store]") {
  User u = alice(), u2;
  REQUIRE(decode(encode(u), u2));
  CHECK(u2.email == u.email);
  CHECK(u2.data == u.data);
  CHECK(u2.username == "Alice");
  Session s, s2;
  s.id = "s";
  s.user_id = "u";
  s.generation = 7;
  s.token_hash = std::string("\0\1\2", 3);
  REQUIRE(decode(encode(s), s2));
  CHECK(s2.generation == 7);
  CHECK(s2.token_hash == s.token_hash);
  CHECK(encode(u).size() < 1024);  // the per-user budget of the brief's PERFORMANCE.md
}

TEST_CASE("every record type round-trips every field", "[store]") {
  User u = alice(), u2;
  u.role = "admin";
  u.avatar_url = "/avatars/x";
  u.onboarding = "done";
  u.data = {{"nested", {{"list", {1, -2, 3.5, "x", nullptr, true}}}}, {"n", -7}};
  u.email_verified = true;
  u.active = false;
  u.created_at = -5;  // negative numbers take CBOR's other major type
  u.updated_at = 1LL << 40;
  u.failed_logins = 3;
  u.last_failed_at = 99;
  u.device_epoch = 4;
  REQUIRE(decode(encode(u), u2));
  CHECK(std::tie(u2.id, u2.email, u2.password_hash, u2.role, u2.username, u2.full_name, u2.avatar_url,
                 u2.onboarding) == std::tie(u.id, u.email, u.password_hash, u.role, u.username, u.full_name,
                                            u.avatar_url, u.onboarding));
  CHECK(u2.data == u.data);
  CHECK(std::tie(u2.email_verified, u2.active, u2.created_at, u2.updated_at, u2.failed_logins, u2.last_failed_at,
                 u2.device_epoch) == std::tie(u.email_verified, u.active, u.created_at, u.updated_at,
                                              u.failed_logins, u.last_failed_at, u.device_epoch));

  Session s{"sid", "uid", 1ull << 63, std::string("\0\xff\x01", 3), 4, 5, 6, 7, true, "reuse", "10.0.0.1", "curl"}, s2;
  REQUIRE(decode(encode(s), s2));
  CHECK(std::tie(s2.id, s2.user_id, s2.generation, s2.token_hash, s2.rotated_at, s2.created_at, s2.last_used_at,
                 s2.expires_at, s2.revoked, s2.revoke_reason, s2.ip, s2.user_agent) ==
        std::tie(s.id, s.user_id, s.generation, s.token_hash, s.rotated_at, s.created_at, s.last_used_at,
                 s.expires_at, s.revoked, s.revoke_reason, s.ip, s.user_agent));

  ApiKey k{"kid", "uid", "ci", {"read", "write", ""}, {"10.0.0.0/8"}, 1, 2, true}, k2;
  REQUIRE(decode(encode(k), k2));
  CHECK(k2.scopes == k.scopes);
  CHECK(k2.allowed_ips == k.allowed_ips);
  CHECK(std::tie(k2.id, k2.user_id, k2.name, k2.created_at, k2.expires_at, k2.revoked) ==
        std::tie(k.id, k.user_id, k.name, k.created_at, k.expires_at, k.revoked));
  ApiKey none{"kid", "uid", "ci", {}, {}, 1, 0, false}, none2;
  REQUIRE(decode(encode(none), none2));
  CHECK(none2.scopes.empty());

  RefreshRef r{"sid", 12, 34}, r2;
  REQUIRE(decode(encode(r), r2));
  CHECK(std::tie(r2.session_id, r2.generation, r2.expires_at) == std::tie(r.session_id, r.generation, r.expires_at));
  SigningKey key{"k1", std::string(32, '\x07'), 9}, key2;
  REQUIRE(decode(encode(key), key2));
  CHECK(key2.seed == key.seed);
  SigningKey short_seed{"k1", "abc", 9};
  CHECK_FALSE(decode(encode(short_seed), key2));
  Avatar a{"image/png", std::string(300, '\x89'), 5}, a2;
  REQUIRE(decode(encode(a), a2));
  CHECK(a2.bytes == a.bytes);
  OneTimeToken o{"reset", "uid", 77, true, "", ""}, o2;
  REQUIRE(decode(encode(o), o2));
  CHECK(std::tie(o2.purpose, o2.user_id, o2.expires_at, o2.used) == std::tie(o.purpose, o.user_id, o.expires_at, o.used));
}

TEST_CASE("decoding skips unknown keys and refuses wrong types and missing fields", "[store]") {
  auto pack = [](const nlohmann::json& j) {
    std::string out(1, '\x01');
    nlohmann::json::to_cbor(j, out);
    return out;
  };
  RefreshRef r;
  CHECK(decode(pack({{"s", "sid"}, {"g", 1}, {"ex", 2}, {"new", {{"a", {1, 2, {{"b", nullptr}}}}}}}), r));
  CHECK(r.session_id == "sid");
  CHECK_FALSE(decode(pack({{"s", "sid"}, {"g", 1}}), r));                 // missing "ex"
  CHECK_FALSE(decode(pack({{"s", 5}, {"g", 1}, {"ex", 2}}), r));          // a number for a string
  CHECK_FALSE(decode(pack({{"s", "sid"}, {"g", -1}, {"ex", 2}}), r));     // negative unsigned
  CHECK_FALSE(decode(pack({{"s", "sid"}, {"g", 1}, {"ex", "2"}}), r));    // a string for a number
  CHECK_FALSE(decode(pack({1, 2, 3}), r));                                // not a map
  CHECK_FALSE(decode(pack({{"s", "sid"}, {"g", 1}, {"ex", 2}}) + "x", r));  // trailing bytes
  User u;
  auto user = nlohmann::json{{"id", "i"}, {"em", "e"}, {"pw", "p"}, {"ro", "r"}, {"un", ""}, {"fn", ""},
                             {"da", nlohmann::json::object()}, {"ev", false}, {"ac", true}, {"ca", 1}, {"ua", 2}};
  REQUIRE(decode(pack(user), u));
  CHECK(u.onboarding == "new");  // optional fields keep their defaults
  CHECK(u.failed_logins == 0);
  CHECK(u.device_epoch == 0);  // records written before device_epoch
  user["da"] = {1, 2};
  CHECK_FALSE(decode(pack(user), u));  // data must be an object
  user["da"] = nlohmann::json::object();
  user["fl"] = 1LL << 40;
  CHECK_FALSE(decode(pack(user), u));  // out of int range
  ApiKey k;
  CHECK_FALSE(decode(pack({{"id", "i"}, {"u", "u"}, {"n", "n"}, {"sc", {"a", 1}}, {"ip", nlohmann::json::array()},
                           {"ca", 1}, {"ex", 0}, {"rv", false}}),
                     k));  // a number in a string list
}

TEST_CASE("malformed or unknown-version bytes never decode", "[store]") {
  User u;
  auto good = encode(alice());
  CHECK_FALSE(decode("", u));
  CHECK_FALSE(decode(std::string("\x02") + good.substr(1), u));  // unknown version
  CHECK_FALSE(decode(good.substr(0, good.size() / 2), u));        // truncated
  CHECK_FALSE(decode(std::string("\x01\xff\xff\xff", 4), u));
  Session s;
  CHECK_FALSE(decode(good, s));  // a user is not a session
}

TEST_CASE("users are found by id, email and username", "[store]") {
  TempStore ts;
  auto& db = *ts.db;
  REQUIRE_OK(db.write([](WriteTxn& t) { return t.insert_user(alice()); }));
  auto t = ts.read();
  User u;
  REQUIRE_OK(t->user(alice().id, u));
  CHECK(u.email == "alice@example.com");
  REQUIRE_OK(t->user_by_email("alice@example.com", u));
  CHECK(u.id == alice().id);
  REQUIRE_OK(t->user_by_username("ALICE", u));
  CHECK(u.id == alice().id);
  CHECK(t->user_by_email("bob@example.com", u).is_not_found());
}

TEST_CASE("sessions are listed per user and refresh entries found by hash", "[store]") {
  TempStore ts;
  auto& db = *ts.db;
  REQUIRE_OK(db.write([](WriteTxn& t) {
    for (const char* id : {"s1", "s2"}) {
      Session s;
      s.id = id;
      s.user_id = "0123456789abcdef0123456789abcdef";
      REQUIRE_OK(t.put_session(s));
    }
    Session other;
    other.id = "s3";
    other.user_id = "fedcba9876543210fedcba9876543210";
    REQUIRE_OK(t.put_session(other));
    return t.put_refresh("hash-1", RefreshRef{"s1", 4, 99});
  }));
  auto r = ts.read();
  std::vector<Session> list;
  REQUIRE_OK(r->sessions_of("0123456789abcdef0123456789abcdef", list));
  REQUIRE(list.size() == 2);
  CHECK(list[0].id == "s1");
  CHECK(list[1].id == "s2");
  RefreshRef ref;
  REQUIRE_OK(r->refresh("hash-1", ref));
  CHECK(ref.generation == 4);
  CHECK(r->refresh("hash-2", ref).is_not_found());
}

TEST_CASE("migrate stamps the schema version and refuses a newer store", "[store]") {
  TempStore ts;
  auto& db = *ts.db;
  int v = -1;
  REQUIRE_OK(db.schema_version(v));
  CHECK(v == 0);
  REQUIRE_OK(db.migrate());
  REQUIRE_OK(db.schema_version(v));
  CHECK(v == kSchemaVersion);
  REQUIRE_OK(db.write([](WriteTxn& t) { return t.put_meta("schema_version", std::to_string(kSchemaVersion + 1)); }));
  auto st = db.migrate();
  CHECK(st.is_unavailable());
  CHECK(st.message().find("newer") != std::string::npos);
}

TEST_CASE("data survives closing and reopening the environment", "[store]") {
  TempStore ts;
  REQUIRE_OK(ts.db->write([](WriteTxn& t) { return t.insert_user(alice()); }));
  ts.db.reset();
  Status st;
  ts.db = lmdb::open({ts.dir, 64u << 20}, st);
  REQUIRE(ts.db);
  auto t = ts.read();
  User u;
  CHECK(t->user(alice().id, u).ok());
}

namespace {
std::vector<gh::domain::AuditRecord> all_records(TempStore& ts) {
  std::vector<gh::domain::AuditRecord> out;
  auto t = ts.read();
  REQUIRE_OK(t->audit_after(0, [&](const AuditRecord& r) {
    out.push_back({r.seq, r.prev, r.hash, r.canonical});
    return true;
  }));
  return out;
}

void append_n(Backend& db, int n) {
  REQUIRE_OK(db.write([&](WriteTxn& t) {
    for (int i = 0; i < n; ++i) REQUIRE_OK(t.append_audit("{\"n\":" + std::to_string(i) + "}"));
    return Status::OK();
  }));
}
}  // namespace

TEST_CASE("the audit chain verifies and pinpoints the first broken link", "[audit]") {
  TempStore ts;
  auto& db = *ts.db;
  REQUIRE_OK(db.write([](WriteTxn& t) {
    for (int i = 0; i < 5; ++i) {
      gh::domain::AuditEvent e;
      e.type = "login_succeeded";
      e.time = 1000 + i;
      e.subject_user_id = "u" + std::to_string(i);
      REQUIRE_OK(t.append_audit(e.canonical()));
    }
    return Status::OK();
  }));
  auto records = all_records(ts);
  REQUIRE(records.size() == 5);
  gh::domain::ChainVerifier ok;
  std::string problem;
  for (auto& r : records) REQUIRE(ok.feed(r, problem));
  std::uint64_t seq = 0;
  std::string hash;
  REQUIRE_OK(ts.read()->audit_head(seq, hash));
  CHECK(seq == 5);
  CHECK(ok.finish(seq, hash, problem));

  auto altered = records;
  altered[2].canonical[5] ^= 1;
  gh::domain::ChainVerifier v1;
  CHECK(v1.feed(altered[0], problem));
  CHECK(v1.feed(altered[1], problem));
  CHECK_FALSE(v1.feed(altered[2], problem));
  CHECK(problem == "record 3 was altered (hash mismatch)");

  gh::domain::ChainVerifier v2;
  CHECK(v2.feed(records[0], problem));
  CHECK_FALSE(v2.feed(records[2], problem));
  CHECK(problem.find("record 2 is missing") == 0);

  gh::domain::ChainVerifier v3;
  for (int i = 0; i < 4; ++i) CHECK(v3.feed(records[i], problem));
  CHECK_FALSE(v3.finish(seq, hash, problem));

  // Tampering with the stored bytes (the table itself): the record read back
  // no longer verifies, and a deleted one is a gap.
  std::string raw;
  REQUIRE_OK(lmdb::testing::raw_get(db, "audit", lmdb::testing::audit_key(3), raw));
  auto pos = raw.find("login_succeeded");
  REQUIRE(pos != std::string::npos);
  raw[pos] = 'L';
  REQUIRE_OK(lmdb::testing::raw_put(db, "audit", lmdb::testing::audit_key(3), raw));
  gh::domain::ChainVerifier v4;
  auto tampered = all_records(ts);
  REQUIRE(tampered.size() == 5);
  CHECK(v4.feed(tampered[0], problem));
  CHECK(v4.feed(tampered[1], problem));
  CHECK_FALSE(v4.feed(tampered[2], problem));
  CHECK(problem == "record 3 was altered (hash mismatch)");
  REQUIRE_OK(lmdb::testing::raw_del(db, "audit", lmdb::testing::audit_key(2)));
  gh::domain::ChainVerifier v5;
  auto gap = all_records(ts);
  REQUIRE(gap.size() == 4);
  CHECK(v5.feed(gap[0], problem));
  CHECK_FALSE(v5.feed(gap[1], problem));
  CHECK(problem.find("record 2 is missing") == 0);
}

TEST_CASE("the keyed audit chain: MACs from keyed_from on, unkeyed links before", "[audit]") {
  TempStore ts;
  auto& db = *ts.db;
  append_n(db, 2);  // an older build's records
  std::string key(32, 'K');
  db.set_audit_key(key, 3);
  append_n(db, 3);
  auto records = all_records(ts);
  REQUIRE(records.size() == 5);
  CHECK(records[1].hash == gh::domain::audit_chain_hash(records[1].prev, records[1].canonical));
  CHECK(records[2].hash == gh::domain::audit_chain_hash(records[2].prev, records[2].canonical, key));
  CHECK(records[2].hash != gh::domain::audit_chain_hash(records[2].prev, records[2].canonical));

  std::string problem;
  gh::domain::ChainVerifier ok(key, 3);
  for (auto& r : records) REQUIRE(ok.feed(r, problem));

  // Recomputing the links without the key does not pass.
  auto forged = records;
  forged[3].canonical = "{\"n\":9}";
  forged[3].hash = gh::domain::audit_chain_hash(forged[3].prev, forged[3].canonical);
  forged[4].prev = forged[3].hash;
  forged[4].hash = gh::domain::audit_chain_hash(forged[4].prev, forged[4].canonical);
  gh::domain::ChainVerifier v(key, 3);
  for (int i = 0; i < 3; ++i) REQUIRE(v.feed(forged[i], problem));
  CHECK_FALSE(v.feed(forged[3], problem));
  CHECK(problem == "record 4 was altered (hash mismatch)");
  // A wrong key, or none, fails at the first keyed record.
  gh::domain::ChainVerifier wrong(std::string(32, 'W'), 3), none;
  for (int i = 0; i < 2; ++i) REQUIRE(wrong.feed(records[i], problem));
  CHECK_FALSE(wrong.feed(records[2], problem));
  for (int i = 0; i < 2; ++i) REQUIRE(none.feed(records[i], problem));
  CHECK_FALSE(none.feed(records[2], problem));
  // A tail check starts after a trusted record.
  gh::domain::ChainVerifier tail(key, 3);
  tail.start_after(3, records[2].hash);
  CHECK(tail.feed(records[3], problem));
  CHECK(tail.feed(records[4], problem));
  // Once the store says it is keyed, no unkeyed link can be added.
  REQUIRE_OK(db.write([](WriteTxn& t) { return t.put_meta("audit_keyed_from", "3"); }));
  db.set_audit_key("", 0);
  auto st = db.write([](WriteTxn& t) { return t.append_audit("{}"); });
  CHECK(st.is_unavailable());
  CHECK(st.message() == "the audit chain is keyed and no key is set");
}

TEST_CASE("a read-only open never creates a store", "[store]") {
  auto dir = std::filesystem::temp_directory_path() / ("gh-missing-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  Status st;
  CHECK_FALSE(lmdb::open({dir.string(), 64u << 20, true}, st));
  CHECK(st.is_unavailable());
  CHECK_FALSE(std::filesystem::exists(dir));
  TempStore ts;
  REQUIRE_OK(ts.db->migrate());
  ts.db.reset();
  auto ro = lmdb::open({ts.dir, 64u << 20, true}, st);
  REQUIRE(ro);
  int v = 0;
  REQUIRE_OK(ro->schema_version(v));
  CHECK(v == kSchemaVersion);
  CHECK(ro->write([](WriteTxn& t) { return t.put_meta("x", "y"); }).is_unavailable());
}
