#include "actors/actors.hpp"
#include "domain/base64url.hpp"
#include "actors/notify_drivers.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <deque>
#include <thread>

namespace gh {
namespace {

struct audit_state {
  store::Backend* store = nullptr;
  writer_actor writer;
  std::deque<std::string> pending;  ///< canonical events, oldest first
  bool writing = false;             ///< one batch in the writer at a time keeps the chain in order
  std::size_t limit = 0;
  std::shared_ptr<std::atomic<std::uint64_t>> lost;
  audit_sink_actor sink;  ///< null when no sink is configured
  std::shared_ptr<AuditFeed> feed;
  std::vector<caf::typed_response_promise<bool>> drained;  ///< pings waiting for an empty backlog
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
  // (seq, hash) of each appended record; the writer thread does no more than append.
  auto links = std::make_shared<std::vector<std::pair<std::uint64_t, std::string>>>();
  WriteOp op{[batch, links](store::WriteTxn& t) -> caf::error {
    links->clear();
    for (auto& c : *batch) {
      store::AuditRecord rec;
      if (auto status = t.append_audit(c, &rec); !status.ok()) return store_error(status);
      links->emplace_back(rec.seq, std::move(rec.hash));
    }
    return caf::none;
  }};
  self->request(st.writer, caf::infinite, write_atom::value, std::move(op))
      .then(
          [=](bool) {
            telemetry::record_audit(batch->size());
            auto& s = self->state;
            bool listened = s.feed && s.feed->size() > 0;
            if (s.sink || listened) {  // the records as JSON lines, for the sinks and live readers
              AuditBatch out;
              for (std::size_t i = 0; i < batch->size(); ++i)
                out.lines.push_back(domain::audit_line((*batch)[i], (*links)[i].first, (*links)[i].second));
              if (listened) s.feed->publish(out.lines);
              if (s.sink) self->send(s.sink, audit_atom::value, std::move(out));
            }
            self->state.writing = false;
            write_batch(self);
            if (!self->state.writing) {  // nothing left: everyone waiting for the backlog is answered
              for (auto& rp : self->state.drained) rp.deliver(true);
              self->state.drained.clear();
            }
          },
          [=](caf::error&) {
            auto& s = self->state;
            s.writing = false;
            s.pending.insert(s.pending.begin(), batch->begin(), batch->end());
            telemetry::log_error("audit batch not written; retrying", {{"events", batch->size()}});
            self->delayed_send(self, std::chrono::milliseconds(200), flush_atom::value);
          });
}

// The optional sinks, on their own thread: file appends and HTTP block.
audit_sink_actor::behavior_type sink_fn(audit_sink_actor::pointer, config::AuditSinks cfg) {
  auto file = std::shared_ptr<FILE>(cfg.file.empty() ? nullptr : std::fopen(cfg.file.c_str(), "a"),
                                    [](FILE* f) { if (f) std::fclose(f); });
  if (!cfg.file.empty() && !file) telemetry::log_error("cannot open the audit file", {{"path", cfg.file}});
  return {
      [=](audit_atom, AuditBatch& b) {
        if (file) {
          for (auto& l : b.lines) std::fprintf(file.get(), "%s\n", l.c_str());
          std::fflush(file.get());
        }
        if (cfg.webhook_url.empty()) return;
        std::string body = "[";
        for (std::size_t i = 0; i < b.lines.size(); ++i) body += (i ? "," : "") + b.lines[i];
        body += "]";
        std::string error;
        for (int attempt = 1; attempt <= 3; ++attempt) {
          if (post_signed_json(cfg.webhook_url, cfg.webhook_secret, body, error)) return;
          std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
        }
        telemetry::log_error("audit webhook failed", {{"error", error}, {"records", b.lines.size()}});
      },
  };
}

audit_actor::behavior_type audit_fn(audit_ptr self, store::Backend* db, writer_actor writer, std::size_t limit,
                                    std::shared_ptr<std::atomic<std::uint64_t>> lost, audit_sink_actor sink,
                                    std::shared_ptr<AuditFeed> feed) {
  auto& st = self->state;
  st.sink = std::move(sink);
  st.feed = std::move(feed);
  self->delayed_send(self, std::chrono::seconds(1), tick_atom::value);
  st.store = db;
  st.writer = std::move(writer);
  st.limit = limit;
  st.lost = std::move(lost);
  return {
      [=](audit_atom, domain::AuditEvent& e) {
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
      [=](ping_atom) -> caf::result<bool> {
        auto& s = self->state;
        if (!s.writing && s.pending.empty()) return true;
        s.drained.push_back(self->make_response_promise<bool>());
        return s.drained.back();
      },
      [=](tick_atom) {
        if (self->state.feed) self->state.feed->publish({});  // heartbeat for waiting subscribers
        self->delayed_send(self, std::chrono::seconds(1), tick_atom::value);
      },
  };
}

}  // namespace

domain::AuditEvent audit_event(std::string type, const ClientInfo& client, std::string actor_user_id,
                              std::string subject_user_id, nlohmann::json details) {
  domain::AuditEvent e;
  e.type = std::move(type);
  e.request_id = client.request_id;
  e.trace_id = client.trace_id;
  e.ip = client.ip;
  e.user_agent = client.user_agent.substr(0, 256);
  e.actor_user_id = std::move(actor_user_id);
  e.subject_user_id = std::move(subject_user_id);
  e.details = std::move(details);
  return e;
}

void Auditor::publish(domain::AuditEvent e) const {
  if (!actor) return;
  if (e.time == 0) e.time = now_s();
  caf::anon_send(actor, audit_atom::value, std::move(e));
}

Auditor spawn_auditor(caf::actor_system& sys, store::Backend& store, writer_actor writer, std::size_t limit,
                      std::shared_ptr<std::atomic<std::uint64_t>> lost, const config::AuditSinks& sinks,
                      std::shared_ptr<AuditFeed> feed) {
  audit_sink_actor sink;
  if (!sinks.file.empty() || !sinks.webhook_url.empty()) sink = sys.spawn<caf::detached>(sink_fn, sinks);
  auto a = sys.spawn(audit_fn, &store, std::move(writer), limit, std::move(lost), sink, std::move(feed));
  if (sink) a->attach_functor([sink] { caf::anon_send_exit(sink, caf::exit_reason::user_shutdown); });
  return Auditor{a};
}

}  // namespace gh
