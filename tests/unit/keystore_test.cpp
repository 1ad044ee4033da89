// The key store on the store contract (actors/keystore.hpp): the audit key
// file and signing-key rotation. Moved out of store_test.cpp (which tests the
// store alone) when the store became a contract: these need the actors.
#include "actors/keystore.hpp"
#include "domain/audit.hpp"
#include "domain/clock.hpp"
#include "domain/rotation.hpp"
#include "store/lmdb/backend.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace gh::store;

namespace {

struct TempStore {
  std::string dir;
  std::unique_ptr<Backend> db;
  TempStore() {
    static int n = 0;
    dir = std::filesystem::temp_directory_path() / ("gh-keystore-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(dir);
    Status st;
    db = lmdb::open({dir, 64u << 20}, st);
    REQUIRE(db);
  }
  ~TempStore() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
};

std::vector<gh::domain::AuditRecord> all_records(Backend& db) {
  std::vector<gh::domain::AuditRecord> out;
  Status st;
  auto t = db.read(st);
  REQUIRE(t);
  REQUIRE(t->audit_after(0, [&](const AuditRecord& r) {
               out.push_back({r.seq, r.prev, r.hash, r.canonical});
               return true;
             }).ok());
  return out;
}

void append_n(Backend& db, int n) {
  REQUIRE(db.write([&](WriteTxn& t) {
              for (int i = 0; i < n; ++i)
                if (auto st = t.append_audit("{\"n\":" + std::to_string(i) + "}"); !st.ok()) return st;
              return Status::OK();
            }).ok());
}

}  // namespace

TEST_CASE("open_audit_key creates the key file once, keys an old chain and refuses a foreign key", "[audit]") {
  TempStore ts;
  auto& db = *ts.db;
  std::string why;
  REQUIRE(db.migrate().ok());
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
  db.set_audit_key("", 0);
  CHECK(db.write([](WriteTxn& t) { return t.append_audit("{}"); }).is_unavailable());
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

TEST_CASE("a rotated key is published at once, signs from its time, and retired keys stay until their tokens expire",
          "[jwt]") {
  TempStore ts;
  auto& db = *ts.db;
  std::string why;
  const std::int64_t keep = 930, delay = 10;
  auto ring = gh::load_keys(db, keep, why);
  REQUIRE(ring);
  auto first = ring->kid();
  gh::KeyRotation r1, r2;
  REQUIRE(gh::rotate_keys(db, keep, delay, r1, why));
  REQUIRE(gh::rotate_keys(db, keep, delay, r2, why));
  CHECK(r1.retired_kid == first);
  CHECK(r2.retired_kid == r1.kid);
  CHECK(r2.dropped.empty());
  CHECK(r2.signs_from >= r1.signs_from);

  auto at = [&](std::int64_t now, std::int64_t& next) {
    gh::store::Status st;
    auto t = db.read(st);
    REQUIRE(t);
    std::shared_ptr<const gh::domain::KeyRing> r;
    REQUIRE(gh::read_keys(*t, now, r, next).ok());
    return r;
  };
  std::int64_t next = 0;
  // Before its time: the old key signs, the new ones are already in the JWKS.
  ring = at(r1.signs_from - 1, next);
  CHECK(ring->kid() == first);
  CHECK(ring->jwks()["keys"].size() == 3);
  CHECK(ring->find(r1.kid));
  CHECK(ring->find(r2.kid));
  CHECK(next == r1.signs_from);
  // From it: the newest key whose time has come; the older ones still verify.
  ring = at(r2.signs_from, next);
  CHECK(ring->kid() == r2.kid);
  CHECK(ring->find(first));
  CHECK(ring->find(r1.kid));
  CHECK(next == 0);
  // A restart before the time changes nothing (several instances agree).
  ring = gh::load_keys(db, keep, why);
  REQUIRE(ring);
  CHECK(ring->kid() == (gh::now_s() >= r2.signs_from ? r2.kid : first));

  CHECK_FALSE(gh::domain::retired_key_expired({"k", 0}, 1'000'000, keep));
  CHECK_FALSE(gh::domain::retired_key_expired({"k", 1000}, 1000 + keep, keep));
  CHECK(gh::domain::retired_key_expired({"k", 1000}, 1001 + keep, keep));
}
