// The janitor on the store contract: a prune step re-run starts from its own
// cursor. Moved out of retention_test.cpp (the store alone) when the store
// became a contract: it needs the actors. TODO(contract): WriteOp on
// store::WriteTxn, for the lead.
#include "actors/actors.hpp"
#include "config/config.hpp"
#include "store/lmdb/backend.hpp"
#include "store/lmdb/testing.hpp"

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
using domain::Session;

namespace {

Session session(std::string id, std::int64_t last_used, std::int64_t expires) {
  Session s;
  s.id = std::move(id);
  s.user_id = "u";
  s.last_used_at = last_used;
  s.expires_at = expires;
  return s;
}

struct TempStore {
  std::string dir;
  std::unique_ptr<Backend> db;
  TempStore() {
    dir = std::filesystem::temp_directory_path() / ("gh-janitor-" + std::to_string(::getpid()));
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

std::size_t entries(Backend& db, const char* table) {
  std::size_t n = 0;
  REQUIRE(lmdb::testing::entries(db, table, n).ok());
  return n;
}

}  // namespace

namespace {

// A writer that runs every op twice: once in a transaction it throws away
// (as a retry after a failed batch would), then for real.
writer_actor::behavior_type retrying_writer(writer_actor::pointer, Backend* db, std::shared_ptr<std::atomic<int>> ops) {
  return {
      [=](write_atom, WriteOp& op) -> bool {
        // Thrown away: the transaction answers a failure, so it is not committed.
        (void)db->write([&](WriteTxn& t) {
          (void)op.fn(t);
          return Status::Unavailable("thrown away");
        });
        bool ran = false;
        auto st = db->write([&](WriteTxn& t) {
          if (op.fn(t)) return Status::Unavailable("op failed");
          ran = true;
          return Status::OK();
        });
        if (ran) ++*ops;
        return st.ok();
      },
      [](flush_atom) {},
      [](ping_atom) { return true; },
  };
}

}  // namespace

TEST_CASE("a prune step that is run again starts from its own cursor (no batch skipped)", "[retention][janitor]") {
  TempStore ts;
  auto& db = *ts.db;
  REQUIRE(db.write([](WriteTxn& t) {
              for (int i = 0; i < 9; ++i)
                if (auto st = t.put_session(session("s" + std::to_string(i), 0, 10)); !st.ok()) return st;
              return Status::OK();
            }).ok());
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

