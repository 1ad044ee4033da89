// The key watch (see spawn_key_watch in actors/actors.hpp): re-reads the
// signing keys on a thread of its own (a store read may wait on the network
// with PostgreSQL) and publishes the ring it finds.
#include "actors/actors.hpp"
#include "actors/keystore.hpp"

#include "domain/clock.hpp"
#include "telemetry/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>

namespace gh {
namespace {

key_watch_actor::behavior_type key_watch_fn(key_watch_actor::pointer self, store::Backend* db,
                                            std::shared_ptr<domain::KeyRingHolder> keys, int reload_s) {
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        std::int64_t wait_s = reload_s;
        store::Status st;
        std::shared_ptr<const domain::KeyRing> ring;
        std::int64_t next = 0;
        const auto now = now_s();
        if (auto t = db->read(st)) st = read_keys(*t, now, ring, next);
        if (!st.ok()) {
          telemetry::log_warn("cannot re-read the signing keys; keeping the ones in use", {{"error", st.to_string()}});
        } else {
          auto before = keys->get();
          if (!before || before->kid() != ring->kid())
            telemetry::log_info("signing with key", {{"kid", ring->kid()}});
          keys->set(ring);
          // Wake at the next key's time rather than up to reload_s after it.
          if (next > now) wait_s = std::min<std::int64_t>(wait_s, next - now);
        }
        self->delayed_send(self, std::chrono::seconds(std::max<std::int64_t>(wait_s, 1)), tick_atom::value);
      },
  };
}

}  // namespace

key_watch_actor spawn_key_watch(caf::actor_system& sys, store::Backend& db, std::shared_ptr<domain::KeyRingHolder> keys,
                                int reload_s) {
  return sys.spawn<caf::detached>(key_watch_fn, &db, std::move(keys), reload_s);
}

}  // namespace gh
