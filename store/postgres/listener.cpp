#include "store/postgres/listener.hpp"

#include "store/postgres/conn.hpp"

#include <algorithm>
#include <chrono>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace gh::store::postgres {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr int kRetryMs = 200;  ///< between attempts to connect again

}  // namespace

Listener::Listener(Options o, ChangeStamps& stamps)
    : o_(std::move(o)), stamps_(stamps), wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

Listener::~Listener() {
  stop_.store(true);
  if (wake_fd_ >= 0) {
    std::uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Listener::start() {
  if (o_.max_staleness_ms <= 0 || wake_fd_ < 0) return;
  std::call_once(started_, [this] { thread_ = std::thread([this] { run(); }); });
}

bool Listener::fresh() const { return now_ms() < fresh_until_ms_.load(std::memory_order_acquire); }

bool Listener::wait(int fd, int ms, bool& readable) {
  pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {fd, POLLIN, 0}};
  int n = poll(fds, fd >= 0 ? 2 : 1, std::max(ms, 0));
  readable = n > 0 && fd >= 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP));
  return !stop_.load();
}

void Listener::run() {
  bool readable = false;
  while (!stop_.load()) {
    listen_once();
    fresh_until_ms_.store(0, std::memory_order_release);  // bypass the cache until LISTENing again
    if (!wait(-1, kRetryMs, readable)) return;
  }
}

bool Listener::listen_once() {
  Status st;
  auto conn = Conn::connect(o_, st, "gatehouse listener");
  if (!conn) return false;
  const std::string listen = std::string("LISTEN ") + kChannel;
  if (!conn->simple(listen.c_str(), "listen").ok()) return false;
  // Commits from before the LISTEN were announced to nobody here.
  stamps_.grow_all();
  PGconn* c = conn->get();
  const std::int64_t bound = o_.max_staleness_ms;
  const std::int64_t every = std::max<std::int64_t>(bound / 4, 1);
  std::int64_t asked_at = now_ms();  // the LISTEN was the first question
  fresh_until_ms_.store(asked_at + bound, std::memory_order_release);
  bool asking = false;
  for (;;) {
    const std::int64_t now = now_ms();
    if (!asking && now >= asked_at + every) {
      if (!PQsendQuery(c, "SELECT 1") || PQflush(c) != 0) return true;
      asked_at = now;
      asking = true;
    }
    bool readable = false;
    if (!wait(PQsocket(c), static_cast<int>(asking ? every : asked_at + every - now), readable)) return true;
    if (!readable) continue;
    if (!PQconsumeInput(c)) return true;  // the connection is gone
    take_announcements(c);
    while (asking && !PQisBusy(c)) {
      PGresult* r = PQgetResult(c);
      if (!r) {  // answered: everything committed before the question has been announced
        asking = false;
        if (!fresh()) stamps_.grow_all();  // a hang outlived the bound: start over
        fresh_until_ms_.store(asked_at + bound, std::memory_order_release);
        break;
      }
      bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
      PQclear(r);
      if (!ok) return true;
    }
    take_announcements(c);  // those read along with the answer
  }
}

void Listener::take_announcements(PGconn* c) {
  while (PGnotify* n = PQnotifies(c)) {
    stamps_.grow(n->extra);
    PQfreemem(n);
  }
}

}  // namespace gh::store::postgres
