#include "store/store.hpp"
#include "domain/audit.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <tuple>
#include <unistd.h>

using namespace gh::store;

namespace {

// A fresh store in a temporary folder, removed afterwards.
struct TempStore {
  std::string dir;
  std::unique_ptr<Store> db;
  TempStore() {
    dir = std::filesystem::temp_directory_path() / ("gh-store-" + std::to_string(::getpid()) + "-" +
                                                    std::to_string(counter()++));
    std::filesystem::remove_all(dir);
    int rc = 0;
    std::string why;
    db = Store::open({dir, 64u << 20}, rc, why);
    REQUIRE(db);
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
  CHECK(encode(u).size() < 1024);  // the per-user budget of PERFORMANCE.md
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
  OneTimeToken o{"reset", "uid", 77, true, ""}, o2;
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
  int rc = 0;
  {
    auto t = db.write(rc);
    REQUIRE(rc == 0);
    REQUIRE(db.put_user(t, alice()) == 0);
    REQUIRE(t.commit() == 0);
  }
  auto t = db.read(rc);
  REQUIRE(rc == 0);
  CHECK(db.user(t, alice().id)->email == "alice@example.com");
  CHECK(*db.user_id_by_email(t, "alice@example.com") == alice().id);
  CHECK(*db.user_id_by_username(t, "ALICE") == alice().id);
  CHECK_FALSE(db.user_id_by_email(t, "bob@example.com"));
}

TEST_CASE("sessions are listed per user and refresh entries found by hash", "[store]") {
  TempStore ts;
  auto& db = *ts.db;
  int rc = 0;
  auto t = db.write(rc);
  for (const char* id : {"s1", "s2"}) {
    Session s;
    s.id = id;
    s.user_id = "0123456789abcdef0123456789abcdef";
    REQUIRE(db.put_session(t, s) == 0);
  }
  Session other;
  other.id = "s3";
  other.user_id = "fedcba9876543210fedcba9876543210";
  REQUIRE(db.put_session(t, other) == 0);
  REQUIRE(db.put_refresh(t, "hash-1", RefreshRef{"s1", 4, 99}) == 0);
  REQUIRE(t.commit() == 0);
  auto r = db.read(rc);
  auto list = db.sessions_of(r, "0123456789abcdef0123456789abcdef");
  REQUIRE(list.size() == 2);
  CHECK(list[0].id == "s1");
  CHECK(list[1].id == "s2");
  CHECK(db.refresh(r, "hash-1")->generation == 4);
  CHECK_FALSE(db.refresh(r, "hash-2"));
}

TEST_CASE("migrate stamps the schema version and refuses a newer store", "[store]") {
  TempStore ts;
  auto& db = *ts.db;
  CHECK(db.schema_version() == 0);
  std::string why;
  REQUIRE(db.migrate(why));
  CHECK(db.schema_version() == kSchemaVersion);
  int rc = 0;
  {
    auto t = db.write(rc);
    db.put_meta(t, "schema_version", std::to_string(kSchemaVersion + 1));
    REQUIRE(t.commit() == 0);
  }
  CHECK_FALSE(db.migrate(why));
  CHECK(why.find("newer") != std::string::npos);
}

TEST_CASE("data survives closing and reopening the environment", "[store]") {
  TempStore ts;
  int rc = 0;
  {
    auto t = ts.db->write(rc);
    REQUIRE(ts.db->put_user(t, alice()) == 0);
    REQUIRE(t.commit() == 0);
  }
  ts.db.reset();
  std::string why;
  ts.db = Store::open({ts.dir, 64u << 20}, rc, why);
  REQUIRE(ts.db);
  auto t = ts.db->read(rc);
  CHECK(ts.db->user(t, alice().id));
}

#include "domain/audit.hpp"

TEST_CASE("the audit chain verifies and pinpoints the first broken link", "[audit]") {
  TempStore ts;
  auto& db = *ts.db;
  int rc = 0;
  {
    auto t = db.write(rc);
    for (int i = 0; i < 5; ++i) {
      gh::domain::AuditEvent e;
      e.type = "login_succeeded";
      e.time = 1000 + i;
      e.subject_user_id = "u" + std::to_string(i);
      REQUIRE(db.append_audit(t, e.canonical()) == 0);
    }
    REQUIRE(t.commit() == 0);
  }
  auto collect = [&] {
    std::vector<gh::domain::AuditRecord> out;
    auto t = db.read(rc);
    db.audit_after(t, 0, [&](std::uint64_t seq, const std::string& prev, const std::string& hash,
                             const std::string& c) {
      out.push_back({seq, prev, hash, c});
      return true;
    });
    return out;
  };
  auto records = collect();
  REQUIRE(records.size() == 5);
  gh::domain::ChainVerifier ok;
  std::string problem;
  for (auto& r : records) REQUIRE(ok.feed(r, problem));
  auto t = db.read(rc);
  auto [seq, hash] = db.audit_head(t);
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
}

// ---- Issue 12 items 8, 15, 16 -------------------------------------------

#include "actors/keystore.hpp"

#include <fstream>

namespace {
std::vector<gh::domain::AuditRecord> all_records(Store& db) {
  std::vector<gh::domain::AuditRecord> out;
  int rc = 0;
  auto t = db.read(rc);
  db.audit_after(t, 0, [&](std::uint64_t seq, const std::string& prev, const std::string& hash, const std::string& c) {
    out.push_back({seq, prev, hash, c});
    return true;
  });
  return out;
}

void append_n(Store& db, int n) {
  int rc = 0;
  auto t = db.write(rc);
  for (int i = 0; i < n; ++i) REQUIRE(db.append_audit(t, "{\"n\":" + std::to_string(i) + "}") == 0);
  REQUIRE(t.commit() == 0);
}
}  // namespace

TEST_CASE("the keyed audit chain: MACs from keyed_from on, unkeyed links before", "[audit]") {
  TempStore ts;
  auto& db = *ts.db;
  append_n(db, 2);  // an older build's records
  std::string key(32, 'K');
  db.set_audit_key(key, 3);
  append_n(db, 3);
  auto records = all_records(db);
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
}

TEST_CASE("open_audit_key creates the key file once, keys an old chain and refuses a foreign key", "[audit]") {
  TempStore ts;
  auto& db = *ts.db;
  std::string why;
  REQUIRE(db.migrate(why));
  append_n(db, 2);  // unkeyed records of an older build
  auto path = ts.dir + ".audit-key";
  std::filesystem::remove(path);
  REQUIRE(gh::open_audit_key(db, path, why));
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  gh::AuditKey k;
  REQUIRE(gh::read_audit_key(path, k, why));
  CHECK(k.keyed_from == 3);
  auto records = all_records(db);
  REQUIRE(records.size() == 3);  // the audit_keyed record
  CHECK(records[2].canonical.find("\"type\":\"audit_keyed\"") != std::string::npos);
  CHECK(records[2].canonical.find("\"unkeyed_records\":2") != std::string::npos);
  REQUIRE(gh::open_audit_key(db, path, why));  // again: no second record
  CHECK(all_records(db).size() == 3);

  // Without the key, nothing can be appended to the keyed chain.
  int rc = 0;
  {
    db.set_audit_key("", 0);
    auto t = db.write(rc);
    CHECK(db.append_audit(t, "{}") == EACCES);
  }
  // Another key file, or none, is refused for this store.
  auto other = ts.dir + ".other-key";
  {
    std::ofstream(other) << "key = " << std::string(64, 'a') << "\nkeyed_from = 3\n";
  }
  CHECK_FALSE(gh::open_audit_key(db, other, why));
  CHECK(why.find("not the key") != std::string::npos);
  std::filesystem::remove(path);
  CHECK_FALSE(gh::open_audit_key(db, path, why));
  CHECK(why.find("missing") != std::string::npos);
  std::filesystem::remove(other);
}

TEST_CASE("a read-only open never creates a store", "[store]") {
  auto dir = std::filesystem::temp_directory_path() / ("gh-missing-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  int rc = 0;
  std::string why;
  CHECK_FALSE(Store::open({dir.string(), 64u << 20, true}, rc, why));
  CHECK_FALSE(std::filesystem::exists(dir));
  TempStore ts;
  REQUIRE(ts.db->migrate(why));
  ts.db.reset();
  auto ro = Store::open({ts.dir, 64u << 20, true}, rc, why);
  REQUIRE(ro);
  CHECK(ro->schema_version() == kSchemaVersion);
  CHECK(ro->write(rc).open() == false);
}

TEST_CASE("retired signing keys stay until their tokens have expired", "[jwt]") {
  TempStore ts;
  auto& db = *ts.db;
  std::string why;
  const std::int64_t keep = 930;
  auto ring = gh::load_keys(db, keep, why);
  REQUIRE(ring);
  auto first = ring->kid();
  gh::KeyRotation r1, r2;
  REQUIRE(gh::rotate_keys(db, keep, r1, why));
  REQUIRE(gh::rotate_keys(db, keep, r2, why));
  CHECK(r1.retired_kid == first);
  CHECK(r2.dropped.empty());  // not yet stamped: a running server may still sign with it
  ring = gh::load_keys(db, keep, why);
  REQUIRE(ring);
  CHECK(ring->kid() == r2.kid);
  CHECK(ring->find(first));
  CHECK(ring->find(r1.kid));
  CHECK(ring->jwks()["keys"].size() == 3);

  CHECK_FALSE(gh::domain::retired_key_expired({"k", 0}, 1'000'000, keep));
  CHECK_FALSE(gh::domain::retired_key_expired({"k", 1000}, 1000 + keep, keep));
  CHECK(gh::domain::retired_key_expired({"k", 1000}, 1001 + keep, keep));
}
