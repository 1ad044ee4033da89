#include "actors/actors.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <deque>

namespace gh {
namespace {

struct audit_state {
  store::Store* store = nullptr;
  writer_actor writer;
  std::deque<std::string> pending;  ///< canonical events, oldest first
  bool writing = false;             ///< one batch in the writer at a time keeps the chain in order
  std::size_t limit = 0;
  std::shared_ptr<std::atomic<std::uint64_t>> lost;
  static inline const char* name = "gh.audit";
};

using audit_ptr = audit_actor::stateful_pointer<audit_state>;

// Sends everything pending as one write op; on failure the batch goes back to
// the front and is retried after a pause, so nothing is dropped silently.
void write_batch(audit_ptr self) {
  auto& st = self->state;
  if (st.writing || st.pending.empty()) return;
  st.writing = true;
  auto batch = std::make_shared<std::vector<std::string>>(st.pending.begin(), st.pending.end());
  st.pending.clear();
  auto* db = st.store;
  WriteOp op{[db, batch](store::Txn& t) -> caf::error {
    for (auto& c : *batch)
      if (db->append_audit(t, c)) return make_error(Errc::unavailable, "audit append failed");
    return caf::none;
  }};
  self->request(st.writer, caf::infinite, write_atom::value, std::move(op))
      .then(
          [=](bool) {
            telemetry::record_audit(batch->size());
            self->state.writing = false;
            write_batch(self);
          },
          [=](caf::error&) {
            auto& s = self->state;
            s.writing = false;
            s.pending.insert(s.pending.begin(), batch->begin(), batch->end());
            telemetry::log_error("audit batch not written; retrying", {{"events", batch->size()}});
            self->delayed_send(self, std::chrono::milliseconds(200), flush_atom::value);
          });
}

audit_actor::behavior_type audit_fn(audit_ptr self, store::Store* db, writer_actor writer, std::size_t limit,
                                    std::shared_ptr<std::atomic<std::uint64_t>> lost) {
  auto& st = self->state;
  st.store = db;
  st.writer = std::move(writer);
  st.limit = limit;
  st.lost = std::move(lost);
  return {
      [=](audit_atom, logic::AuditEvent& e) {
        auto& s = self->state;
        if (s.pending.size() >= s.limit) {
          ++*s.lost;
          telemetry::record_audit_lost();
          telemetry::log_error("audit backlog full; event lost", {{"type", e.type}, {"request_id", e.request_id}});
          return;
        }
        s.pending.push_back(e.canonical());
        write_batch(self);
      },
      [=](flush_atom) { write_batch(self); },
  };
}

}  // namespace

logic::AuditEvent audit_event(std::string type, const ClientInfo& client, std::string actor_user_id,
                              std::string subject_user_id, nlohmann::json details) {
  logic::AuditEvent e;
  e.type = std::move(type);
  e.request_id = client.request_id;
  e.ip = client.ip;
  e.user_agent = client.user_agent.substr(0, 256);
  e.actor_user_id = std::move(actor_user_id);
  e.subject_user_id = std::move(subject_user_id);
  e.details = std::move(details);
  return e;
}

void Auditor::publish(logic::AuditEvent e) const {
  if (!actor) return;
  if (e.time == 0) e.time = now_s();
  caf::anon_send(actor, audit_atom::value, std::move(e));
}

Auditor spawn_auditor(caf::actor_system& sys, store::Store& store, writer_actor writer, std::size_t limit,
                      std::shared_ptr<std::atomic<std::uint64_t>> lost) {
  return Auditor{sys.spawn(audit_fn, &store, std::move(writer), limit, std::move(lost))};
}

}  // namespace gh
