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
  std::unique_ptr<store::WriteBatch> batch;  ///< the engine's group commit
  std::size_t max_batch = 512;
  std::vector<caf::typed_response_promise<bool>> pending;  ///< ops in the open batch
  bool flush_scheduled = false;
  std::shared_ptr<WriterStats> stats;
  static inline const char* name = "gh.writer";
};

using writer_ptr = writer_actor::stateful_pointer<writer_state>;

caf::error unavailable() { return make_error(Errc::unavailable, "the store is unavailable; retry later"); }

// The batch broke (the engine gave it up with every op in it): answer
// everyone in it 503, so nothing in it is ever acknowledged.
void batch_lost(writer_ptr self, const store::Status& st) {
  auto batch = std::move(self->state.pending);
  self->state.pending.clear();
  ++self->state.stats->failed_commits;
  telemetry::record_commit(batch.size(), 0.0, false);
  telemetry::log_error("store batch aborted", {{"error", st.to_string()}, {"batch", batch.size()}});
  for (auto& rp : batch) rp.deliver(unavailable());
}

// Commits the open batch and answers everyone in it.
void flush(writer_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  auto batch = std::move(st.pending);
  st.pending.clear();
  if (batch.empty()) {  // only refused ops: end the (empty) transaction, which holds the write lock
    st.batch->commit();
    return;
  }
  auto start = std::chrono::steady_clock::now();
  auto status = st.batch->commit();
  telemetry::record_commit(batch.size(),
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                           status.ok());
  if (!status.ok()) {
    ++st.stats->failed_commits;
    telemetry::log_error("store commit failed", {{"error", status.to_string()}, {"batch", batch.size()}});
  } else {
    ++st.stats->commits;
    st.stats->writes += batch.size();
  }
  for (auto& rp : batch) status.ok() ? rp.deliver(true) : rp.deliver(unavailable());
}

// Runs one op atomically inside the batch; on success it joins the batch, to
// be answered by the next flush. An op that returns an error leaves no trace
// and its caller gets that error (store/store.hpp, WriteBatch).
void apply(writer_ptr self, WriteOp& op, caf::typed_response_promise<bool>& rp) {
  auto& st = self->state;
  caf::error err;
  auto status = st.batch->apply([&](store::WriteTxn& t) {
    try {
      err = op.fn(t);
    } catch (const std::exception& e) {
      telemetry::log_error("write op threw", {{"error", e.what()}});
      err = make_error(Errc::internal, "internal error");
    }
    return !err;
  });
  if (!status.ok()) {
    batch_lost(self, status);
    rp.deliver(unavailable());
  } else if (err) {
    rp.deliver(std::move(err));
  } else {
    st.pending.push_back(rp);
  }
}

writer_actor::behavior_type writer_fn(writer_ptr self, store::Backend* store, std::size_t max_batch,
                                      std::shared_ptr<WriterStats> stats) {
  self->state.batch = store->batch();
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

writer_actor spawn_writer(caf::actor_system& sys, store::Backend& store, int max_batch,
                          std::shared_ptr<WriterStats> stats) {
  return sys.spawn<caf::detached>(writer_fn, &store, static_cast<std::size_t>(max_batch),
                                  std::move(stats));
}

}  // namespace gh
