// The store's side of the writer's group commit: the LMDB WriteBatch, and the
// LMDB facts it relies on (a nested transaction per operation), checked on
// the real library. The writer actor itself: writer_actor_test.cpp.
#include "store/lmdb/backend.hpp"
#include "store/lmdb/testing.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

using namespace gh;

namespace {

// A store whose map is only `mib` MiB.
struct SmallFixture {
  std::string dir;
  std::unique_ptr<store::Backend> db;
  explicit SmallFixture(std::size_t mib)
      : dir(std::filesystem::temp_directory_path() / ("gh-batch-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
    store::Status st;
    db = store::lmdb::open({dir, mib << 20}, st);
    REQUIRE(db);
  }
  ~SmallFixture() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
};

bool visible(store::Backend& db, const std::string& key) {
  std::string v;
  auto st = store::lmdb::testing::raw_get(db, "meta", key, v);
  REQUIRE_FALSE(st.failed());
  return st.ok();
}

store::WriteFn put(std::string key, std::size_t bytes = 1, store::Status* out = nullptr) {
  return [=](store::WriteTxn& t) {
    auto st = t.put_meta(key, std::string(bytes, 'x'));
    if (out) *out = st;
    return st.ok();
  };
}

}  // namespace

TEST_CASE("a batch is one synced commit for many operations", "[writer][batch]") {
  SmallFixture f(64);
  auto batch = f.db->batch();
  for (int i = 0; i < 200; ++i) REQUIRE(batch->apply(put("k" + std::to_string(i))).ok());
  CHECK(batch->size() == 200);
  CHECK_FALSE(visible(*f.db, "k0"));
  REQUIRE(batch->commit().ok());
  for (int i = 0; i < 200; ++i) CHECK(visible(*f.db, "k" + std::to_string(i)));
}

TEST_CASE("LMDB: an op that hit MDB_MAP_FULL is rolled back alone and its batch still commits",
          "[writer][storage]") {
  // The property the per-op rollback relies on, on the real library: after
  // MDB_MAP_FULL in a child, aborting the child leaves the parent usable.
  SmallFixture f(1);
  auto batch = f.db->batch();
  REQUIRE(batch->apply(put("before")).ok());
  store::Status huge;
  REQUIRE(batch->apply(put("huge", 2u << 20, &huge)).ok());  // the op said no: rolled back
  CHECK(huge.is_unavailable());
  REQUIRE(batch->apply(put("after")).ok());
  CHECK(batch->size() == 2);
  REQUIRE(batch->commit().ok());
  CHECK(visible(*f.db, "before"));
  CHECK(visible(*f.db, "after"));
  CHECK_FALSE(visible(*f.db, "huge"));
}

TEST_CASE("LMDB: an op whose nested commit fails gives up its whole batch; the next apply starts afresh",
          "[writer][storage]") {
  // Committing (instead of aborting) a child that failed poisons the parent
  // (MDB_BAD_TXN on every later begin and commit): the batch is given up at
  // once, so that nothing in it is acknowledged.
  SmallFixture f(1);
  auto batch = f.db->batch();
  REQUIRE(batch->apply(put("p2-a")).ok());
  auto st = batch->apply([](store::WriteTxn& t) {
    (void)t.put_meta("huge", std::string(2u << 20, 'x'));  // ignores the failure
    return true;
  });
  CHECK(st.is_unavailable());
  CHECK(batch->size() == 0);
  REQUIRE(batch->commit().ok());  // nothing open
  CHECK_FALSE(visible(*f.db, "p2-a"));
  CHECK_FALSE(visible(*f.db, "huge"));
  REQUIRE(batch->apply(put("b")).ok());
  REQUIRE(batch->commit().ok());
  CHECK(visible(*f.db, "b"));
}

TEST_CASE("filling the map op by op: every op kept and committed is stored, every refused one is not",
          "[writer][storage]") {
  SmallFixture f(1);
  auto batch = f.db->batch();
  std::vector<bool> stored(400, false);
  int refused = 0;
  // Ten ops a batch, so that batches stay small and the first ones surely
  // fit (a batch whose commit hits the limit fails as a whole).
  for (int chunk = 0; chunk < 40; ++chunk) {
    std::vector<int> kept;
    for (int i = chunk * 10; i < chunk * 10 + 10; ++i) {
      store::Status op;
      auto st = batch->apply(put("k" + std::to_string(i), 3000 + (i % 7) * 500, &op));
      if (st.ok() && op.ok()) kept.push_back(i);
      else if (!st.ok()) kept.clear();  // the batch was given up
      else ++refused;
    }
    if (batch->commit().ok())
      for (int i : kept) stored[i] = true;
  }
  CHECK(std::count(stored.begin(), stored.end(), true) > 0);
  CHECK(refused > 0);  // 400 x >= 3 KB does not fit in 1 MiB
  for (int i = 0; i < 400; ++i) {
    INFO("op " << i);
    CHECK(visible(*f.db, "k" + std::to_string(i)) == stored[i]);
  }
}
