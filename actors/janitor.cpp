// The background prune and the store-fill check (see spawn_janitor in
// actors/actors.hpp). Deletes go through the single writer like every other
// write, in bounded steps, so a pass never holds the writer long.
#include "actors/actors.hpp"

#include "domain/retention.hpp"
#include "telemetry/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <array>

namespace gh {
namespace {

struct janitor_state {
  store::Backend* store = nullptr;
  writer_actor writer;
  config::Limits limits;
  int warn_fill_percent = 80;
  bool fill_warned = false;
  int table = 0;       ///< the table the pass is in (store::PruneTable order)
  std::string cursor;  ///< the last key looked at in it
  std::array<std::size_t, store::kPruneTables> deleted{};
  static inline const char* name = "gh.janitor";
};

using janitor_ptr = janitor_actor::stateful_pointer<janitor_state>;

// Warns once each time the fill passes the threshold (again after it fell below).
void check_fill(janitor_ptr self) {
  auto& st = self->state;
  store::Fill f;
  if (!st.store->fill(f).ok() || f.map_bytes == 0) return;
  double percent = 100.0 * static_cast<double>(f.used_bytes) / static_cast<double>(f.map_bytes);
  if (percent < st.warn_fill_percent) {
    st.fill_warned = false;
  } else if (!st.fill_warned) {
    st.fill_warned = true;
    telemetry::log_warn("store is filling up; raise store.map_size_mb before writes fail",
                        {{"used_bytes", f.used_bytes}, {"map_bytes", f.map_bytes},
                         {"percent", static_cast<int>(percent)}, {"warn_fill_percent", st.warn_fill_percent}});
  }
}

void end_pass(janitor_ptr self) {
  auto& st = self->state;
  static const char* names[store::kPruneTables] = {"sessions", "refresh_tokens", "api_tokens", "one_time_tokens"};
  nlohmann::json counts = nlohmann::json::object();
  std::size_t total = 0;
  for (int i = 0; i < store::kPruneTables; ++i) {
    counts[names[i]] = st.deleted[i];
    total += st.deleted[i];
  }
  if (total) telemetry::log_info("pruned dead records", counts);
  st.table = 0;
  st.cursor.clear();
  st.deleted.fill(0);
  self->delayed_send(self, std::chrono::seconds(st.limits.prune_interval_s), tick_atom::value);
}

// One writer op: up to prune_batch records of the current table.
void step(janitor_ptr self) {
  auto& st = self->state;
  if (st.table >= store::kPruneTables) return end_pass(self);
  struct Out {
    std::string cursor;
    std::size_t deleted = 0;
  };
  auto out = std::make_shared<Out>();
  auto table = static_cast<store::PruneTable>(st.table);
  // prune() advances its cursor in place: each run of the op starts from the
  // step's own cursor and hands its result out only on success, so an op
  // that is run again (or failed half-way) never skips a batch.
  WriteOp op{[out, table, from = st.cursor, limit = static_cast<std::size_t>(st.limits.prune_batch),
              retention = static_cast<std::int64_t>(st.limits.expired_retention_s)](store::WriteTxn& t) -> caf::error {
    std::string cursor = from;
    std::size_t deleted = 0;
    if (auto status = t.prune(table, cursor, limit, domain::prune_rules(now_s(), retention), deleted); !status.ok()) {
      telemetry::log_warn("prune step failed", {{"error", status.to_string()}});
      return make_error(Errc::unavailable, "prune step failed");
    }
    out->cursor = std::move(cursor);
    out->deleted = deleted;
    return caf::none;
  }};
  self->request(st.writer, caf::infinite, write_atom::value, std::move(op))
      .then(
          [=](bool) {
            auto& s = self->state;
            s.deleted[s.table] += out->deleted;
            s.cursor = out->cursor;
            if (s.cursor.empty()) ++s.table;
            step(self);
          },
          [=](caf::error&) { end_pass(self); });  // try again next interval
}

janitor_actor::behavior_type janitor_fn(janitor_ptr self, store::Backend* store, writer_actor writer,
                                        config::Limits limits, int warn_fill_percent) {
  auto& st = self->state;
  st.store = store;
  st.writer = std::move(writer);
  st.limits = limits;
  st.warn_fill_percent = warn_fill_percent;
  self->send(self, tick_atom::value);  // a first pass (and fill check) at start
  return {
      [=](tick_atom) {
        check_fill(self);
        step(self);
      },
  };
}

}  // namespace

janitor_actor spawn_janitor(caf::actor_system& sys, store::Backend& store, writer_actor writer,
                            const config::Limits& limits, int warn_fill_percent) {
  return sys.spawn(janitor_fn, &store, std::move(writer), limits, warn_fill_percent);
}

}  // namespace gh
