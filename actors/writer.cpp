#include "actors/actors.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <vector>

namespace gh {
namespace {

struct writer_state {
  store::Store* store = nullptr;
  std::size_t max_batch = 512;
  store::Txn txn;  ///< the open batch, if any
  std::vector<caf::typed_response_promise<bool>> pending;
  bool flush_scheduled = false;
  std::shared_ptr<WriterStats> stats;
  static inline const char* name = "gh.writer";
};

using writer_ptr = writer_actor::stateful_pointer<writer_state>;

caf::error unavailable() { return make_error(Errc::unavailable, "the store is unavailable; retry later"); }

// Gives up the open batch: aborts its transaction and answers everyone in it
// 503. Used when the batch transaction can no longer commit (LMDB marks a
// parent MDB_TXN_ERROR when a child fails to commit or cannot begin), so that
// nothing in it is ever acknowledged and the next write starts a fresh batch
// instead of failing against the broken one until the next flush.
void abort_batch(writer_ptr self, int rc, const char* where) {
  auto& st = self->state;
  st.txn.abort();
  auto batch = std::move(st.pending);
  st.pending.clear();
  ++st.stats->failed_commits;
  telemetry::record_commit(batch.size(), 0.0, false);
  telemetry::log_error("store batch aborted", {{"error", store::lmdb_error(rc)}, {"at", where}, {"batch", batch.size()}});
  for (auto& rp : batch) rp.deliver(unavailable());
}

// Commits the open batch and answers everyone in it.
void flush(writer_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (!st.txn.open()) return;
  auto batch = std::move(st.pending);
  st.pending.clear();
  auto start = std::chrono::steady_clock::now();
  int rc = st.txn.commit();
  telemetry::record_commit(batch.size(),
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), rc == 0);
  if (rc) ++st.stats->failed_commits;
  else {
    ++st.stats->commits;
    st.stats->writes += batch.size();
  }
  if (rc) telemetry::log_error("store commit failed", {{"error", store::lmdb_error(rc)}, {"batch", batch.size()}});
  for (auto& rp : batch) rc ? rp.deliver(unavailable()) : rp.deliver(true);
}

// Runs one op in a nested transaction of the batch; on success the op joins
// the batch, to be answered by the next flush.
//
// LMDB semantics this relies on (checked in tests/unit/writer_test.cpp): an
// op that fails (even with MDB_MAP_FULL or MDB_TXN_FULL from a put) has its
// child transaction aborted, which leaves the parent batch usable. A child
// that cannot begin or cannot commit may leave the parent flagged
// MDB_TXN_ERROR (every later commit fails with MDB_BAD_TXN), so then the whole
// batch is given up at once.
void apply(writer_ptr self, WriteOp& op, caf::typed_response_promise<bool>& rp) {
  auto& st = self->state;
  int rc = 0;
  if (!st.txn.open()) {
    st.txn = st.store->write(rc);
    if (rc) {
      st.txn.abort();
      telemetry::log_error("store write transaction failed", {{"error", store::lmdb_error(rc)}});
      rp.deliver(unavailable());
      return;
    }
  }
  store::Txn child;
  if ((rc = store::Txn::begin(st.store->env(), st.txn.get(), 0, child))) {
    abort_batch(self, rc, "nested begin");
    rp.deliver(unavailable());
    return;
  }
  caf::error err;
  try {
    err = op.fn(child);
  } catch (const std::exception& e) {
    telemetry::log_error("write op threw", {{"error", e.what()}});
    err = make_error(Errc::internal, "internal error");
  }
  if (err) {
    child.abort();
    rp.deliver(std::move(err));
  } else if ((rc = child.commit())) {
    abort_batch(self, rc, "nested commit");
    rp.deliver(unavailable());
  } else {
    st.pending.push_back(rp);
  }
}

writer_actor::behavior_type writer_fn(writer_ptr self, store::Store* store, std::size_t max_batch,
                                      std::shared_ptr<WriterStats> stats) {
  self->state.store = store;
  self->state.stats = stats ? std::move(stats) : std::make_shared<WriterStats>();
  self->state.max_batch = max_batch;
  return {
      [=](write_atom, WriteOp& op) -> caf::typed_response_promise<bool> {
        auto rp = self->make_response_promise<bool>();
        apply(self, op, rp);
        auto& st = self->state;
        if (st.pending.size() >= st.max_batch) {
          flush(self);
        } else if (!st.flush_scheduled) {
          // The flush message queues behind every write already waiting, so
          // everything that arrived during the previous fsync joins this batch.
          st.flush_scheduled = true;
          self->send(self, flush_atom::value);
        }
        return rp;
      },
      [=](flush_atom) { flush(self); },
      [=](ping_atom) { return true; },
  };
}

}  // namespace

writer_actor spawn_writer(caf::actor_system& sys, store::Store& store, int max_batch,
                          std::shared_ptr<WriterStats> stats) {
  return sys.spawn<caf::detached>(writer_fn, &store, static_cast<std::size_t>(max_batch),
                                  std::move(stats));
}

}  // namespace gh
