// Inside the PostgreSQL engine: what lets a token check trust the principal
// cache (Backend::change_stamp) when other instances write the same
// database. One thread with one connection of its own LISTENs on
// gatehouse_changes (announced by the triggers of migration 0002 for every
// changed or deleted user and session) and grows the stamp slot of each id
// announced. It asks the server for a sign of life every max_staleness/4;
// the stamps are trusted only up to max_staleness after the last question
// the server answered, so a commit elsewhere is seen within that bound even
// when the connection hangs. When the connection drops, the cache is
// bypassed until a new one LISTENs again; then every stamp grows (what was
// cached before the gap is never used), since what changed meanwhile is
// unknown.
#pragma once

#include "store/change_stamps.hpp"
#include "store/postgres/backend.hpp"

#include <libpq-fe.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>

namespace gh::store::postgres {

class Listener {
 public:
  Listener(Options o, ChangeStamps& stamps);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();  ///< stops and joins the thread

  /// Starts the thread, once; the first caller sees fresh() false.
  void start();
  /// The stamps reflect every commit announced up to max_staleness ago.
  bool fresh() const;

  /// The channel of the announcements.
  static constexpr const char* kChannel = "gatehouse_changes";

 private:
  void run();
  /// One connection's life: LISTEN, then announcements and heartbeats until
  /// it breaks or stop; false when it could not LISTEN.
  bool listen_once();
  /// Grows the slot of every id announced in what `c` has read.
  void take_announcements(PGconn* c);
  /// Waits up to `ms` for `fd` to be readable (or only for the stop when
  /// fd < 0); false on stop.
  bool wait(int fd, int ms, bool& readable);

  const Options o_;
  ChangeStamps& stamps_;
  std::once_flag started_;
  std::thread thread_;
  int wake_fd_ = -1;  ///< eventfd: stop
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> fresh_until_ms_{0};  ///< steady clock
};

}  // namespace gh::store::postgres
