#include "actors/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "telemetry/metrics.hpp"

#include <sodium.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <deque>

namespace gh {
namespace {

// A worker hashes on its own thread (detached): Argon2id blocks for ~25 ms.
// A detached actor is initialised on its own thread, which lowers its own
// priority here.
hasher_actor::behavior_type worker_fn(hasher_actor::pointer, domain::HashParams params, int nice) {
  if (nice > 0) setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), nice);
  return {
      [=](hash_atom, HashJob& job) -> HashResult {
        HashResult r;
        if (!job.verify) {
          auto h = domain::hash_password(job.password, params);
          r.ok = h.has_value();
          if (h) r.phc = std::move(*h);
        } else {
          bool legacy = false;  // matched a hash of the raw bytes: store one of the NFKC form
          r.ok = domain::verify_password(job.phc, job.password, &legacy);
          if (r.ok && (legacy || domain::needs_rehash(job.phc, params)))
            if (auto h = domain::hash_password(job.password, params)) r.phc = std::move(*h);
        }
        sodium_memzero(job.password.data(), job.password.size());
        return r;
      },
  };
}

struct Pending {
  HashJob job;
  caf::typed_response_promise<HashResult> rp;
  std::chrono::steady_clock::time_point queued = std::chrono::steady_clock::now();
};

struct pool_state {
  std::vector<hasher_actor> idle;
  std::deque<Pending> queue;
  std::size_t queue_limit = 0;
  std::chrono::milliseconds max_wait{0};
  static inline const char* name = "gh.hasher";
};

using pool_ptr = hasher_actor::stateful_pointer<pool_state>;

void run(pool_ptr self, Pending p);

caf::error overloaded() { return make_error(Errc::overloaded, "the server is busy; retry shortly"); }

// Jobs that have waited longer than max_wait are answered 503 instead of
// hashed: their clients are about to give up (or time out), and hashing them
// late would only make everyone behind them later still.
void shed_stale(pool_ptr self) {
  auto& st = self->state;
  auto oldest = std::chrono::steady_clock::now() - st.max_wait;
  while (!st.queue.empty() && st.queue.front().queued < oldest) {
    st.queue.front().rp.deliver(overloaded());
    st.queue.pop_front();
    telemetry::record_hasher_depth(st.queue.size());
  }
}

void release(pool_ptr self, hasher_actor worker) {
  auto& st = self->state;
  st.idle.push_back(std::move(worker));
  shed_stale(self);
  if (!st.queue.empty()) {
    Pending next = std::move(st.queue.front());
    st.queue.pop_front();
    run(self, std::move(next));
  }
}

void run(pool_ptr self, Pending p) {
  telemetry::record_hasher_wait(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - p.queued).count());
  telemetry::record_hasher_depth(self->state.queue.size());
  auto worker = self->state.idle.back();
  self->state.idle.pop_back();
  auto rp = p.rp;
  self->request(worker, caf::infinite, hash_atom::value, std::move(p.job))
      .then(
          [=](HashResult& r) mutable {
            rp.deliver(std::move(r));
            release(self, worker);
          },
          [=](caf::error& e) mutable {
            rp.deliver(std::move(e));
            release(self, worker);
          });
}

hasher_actor::behavior_type pool_fn(pool_ptr self, std::vector<hasher_actor> workers,
                                    std::size_t queue_limit, std::chrono::milliseconds max_wait) {
  self->state.idle = std::move(workers);
  self->state.queue_limit = queue_limit;
  self->state.max_wait = max_wait;
  // Workers are linked: when the pool goes, they go.
  for (auto& w : self->state.idle) self->link_to(w);
  return {
      [=](hash_atom, HashJob& job) -> caf::typed_response_promise<HashResult> {
        auto rp = self->make_response_promise<HashResult>();
        auto& st = self->state;
        shed_stale(self);
        if (!st.idle.empty())
          run(self, Pending{std::move(job), rp});
        else if (st.queue.size() < st.queue_limit) {
          st.queue.push_back(Pending{std::move(job), rp});
          telemetry::record_hasher_depth(st.queue.size());
        }
        else
          rp.deliver(overloaded());
        return rp;
      },
  };
}

}  // namespace

hasher_actor spawn_hasher(caf::actor_system& sys, domain::HashParams params, int workers,
                          int queue_limit, int nice, std::chrono::milliseconds max_wait) {
  std::vector<hasher_actor> ws;
  for (int i = 0; i < workers; ++i) ws.push_back(sys.spawn<caf::detached>(worker_fn, params, nice));
  return sys.spawn(pool_fn, std::move(ws), static_cast<std::size_t>(queue_limit), max_wait);
}

}  // namespace gh
