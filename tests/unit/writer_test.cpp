// The writer actor: group commit, per-op rollback, acknowledgement after commit.
#include "actors/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>
#include <future>

using namespace gh;

namespace {

struct Fixture {
  std::string dir = std::filesystem::temp_directory_path() / ("gh-writer-" + std::to_string(::getpid()));
  std::unique_ptr<store::Store> db;
  Fixture() {
    std::filesystem::remove_all(dir);
    int rc = 0;
    std::string why;
    db = store::Store::open({dir, 64u << 20}, rc, why);
    REQUIRE(db);
  }
  ~Fixture() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
};

WriteOp put_meta(store::Store* db, std::string key, bool fail_after_put) {
  return WriteOp{[=](store::Txn& t) -> caf::error {
    if (db->put_meta(t, key, "v")) return make_error(Errc::unavailable, "put failed");
    if (fail_after_put) return make_error(Errc::conflict, "refused");
    return caf::none;
  }};
}

// Sends every op at once from one actor and collects one result per op
// ("ok" or the Errc code) once all have answered.
std::vector<std::string> run_all(caf::actor_system& sys, writer_actor w, std::vector<WriteOp> ops) {
  auto results = std::make_shared<std::vector<std::string>>(ops.size());
  auto left = std::make_shared<std::size_t>(ops.size());
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  sys.spawn([=](caf::event_based_actor* self) {
    for (std::size_t i = 0; i < ops.size(); ++i) {
      self->request(w, caf::infinite, write_atom::value, ops[i])
          .then(
              [=](bool) {
                (*results)[i] = "ok";
                if (--*left == 0) done->set_value();
              },
              [=](caf::error& e) {
                (*results)[i] = error_code(to_failure(e).code);
                if (--*left == 0) done->set_value();
              });
    }
  });
  REQUIRE(fut.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  return *results;
}

}  // namespace

TEST_CASE("concurrent writes are group-committed and all acknowledged durably", "[writer]") {
  Fixture f;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto stats = std::make_shared<WriterStats>();
  auto w = spawn_writer(sys, *f.db, 512, stats);
  std::vector<WriteOp> ops;
  for (int i = 0; i < 200; ++i) ops.push_back(put_meta(f.db.get(), "k" + std::to_string(i), false));
  auto results = run_all(sys, w, ops);
  CHECK(std::count(results.begin(), results.end(), "ok") == 200);
  CHECK(stats->writes == 200);
  CHECK(stats->commits < 200);  // many writes per synced commit
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  w = nullptr;
  sys.await_all_actors_done();
  int rc = 0;
  auto t = f.db->read(rc);
  for (int i = 0; i < 200; ++i) CHECK(f.db->meta(t, "k" + std::to_string(i)));
}

TEST_CASE("a failing op rolls back alone and its batch still commits", "[writer]") {
  Fixture f;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto w = spawn_writer(sys, *f.db, 512);
  auto results = run_all(sys, w,
                         {put_meta(f.db.get(), "a", false), put_meta(f.db.get(), "bad", true),
                          put_meta(f.db.get(), "b", false)});
  CHECK(results == std::vector<std::string>{"ok", "conflict", "ok"});
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  w = nullptr;
  sys.await_all_actors_done();
  int rc = 0;
  auto t = f.db->read(rc);
  CHECK(f.db->meta(t, "a"));
  CHECK(f.db->meta(t, "b"));
  CHECK_FALSE(f.db->meta(t, "bad"));
}
