// The rate-limit actor (see spawn_limiter in actors/actors.hpp): takes
// tokens from the store's shared buckets on a thread of its own, since each
// take is a round trip to the database.
#include "actors/actors.hpp"

#include "telemetry/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace gh {
namespace {

limiter_actor::behavior_type limiter_fn(limiter_actor::pointer, store::SharedBuckets* buckets) {
  return {
      [=](take_atom, const std::vector<BucketTake>& take) {
        SharedDecision out;
        for (std::size_t i = 0; i < take.size(); ++i) {
          domain::RateDecision d;
          auto st = buckets->take(take[i].key, take[i].spec, d);
          if (!st.ok()) {  // fails open, as a lost bucket does
            telemetry::log_warn("shared rate limit not checked", {{"error", st.to_string()}});
            continue;
          }
          out = SharedDecision{d, i};
          if (!d.allowed) break;
        }
        return out;
      },
  };
}

}  // namespace

limiter_actor spawn_limiter(caf::actor_system& sys, store::SharedBuckets& buckets) {
  return sys.spawn<caf::detached>(limiter_fn, &buckets);
}

}  // namespace gh
