// One HTTP answer, sent exactly once from whichever thread has it.
//
// A Responder holds the Pistache peer of one request and writes the answer's
// bytes to it itself (status line, headers, body in one buffer, through the
// peer's transport like Pistache's ResponseWriter, without its header
// objects and stream formatting). It may be handed to an actor callback and
// answered from a CAF thread. Pistache 0.0.5 crashes when a write is queued
// after the client disconnected (FACTS.md), so the Responder pins the peer
// and skips the send when it holds the last reference. If a Responder is
// dropped unanswered (a bug), it answers 500.
//
// Pistache 0.0.5 also queues every write by fd number and closes the fd when
// the client goes; a write still queued then would reach whichever new
// connection gets the same number (another client). Each connection's
// WriteGate orders its writes against its close: the handler marks the gate
// closed and drains the write queue before Pistache closes the fd, and a
// Responder enqueues only under the gate's lock, while it is open.
//
// Every answer gets X-Request-Id, Cache-Control: no-store, nosniff and an
// explicit Connection header, and writes one access-log line. Hosted pages
// and their files (page()) also get kPageCsp, X-Frame-Options: DENY and
// Referrer-Policy: no-referrer. After a `Connection: close` answer the
// server shuts its side of the socket once the answer is written (the
// client sees the end at once; Pistache releases the descriptor when the
// client closes, at the latest at the keep-alive timeout).
#pragma once

#include "domain/errors.hpp"
#include "telemetry/trace.hpp"

#include <pistache/http.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace gh::http {

/// One per connection: see the comment at the top. `busy`: a request of the
/// connection awaits its answer (a request arriving meanwhile is pipelined);
/// `close_after`: the connection ends after the current answer (HTTP/1.0,
/// `Connection: close`, a refusal, or a pipelined request), and nothing more
/// is read from it.
struct WriteGate {
  std::mutex mu;
  /// Set under `mu` by onDisconnection, before Pistache closes the fd; atomic
  /// so that a write's continuation may read it without the lock.
  std::atomic<bool> closed{false};
  bool busy = false;
  bool close_after = false;
};

/// The Content-Security-Policy of every hosted page (link pages, dashboard):
/// scripts, styles and fetches from this origin only, nothing inline, never
/// framed.
inline constexpr const char* kPageCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Optional headers of an answer.
struct Extra {
  std::string set_cookie;
  std::vector<Pistache::Http::Cookie> cookies;  ///< more Set-Cookie lines, one each
  std::string www_authenticate;
  std::string allow;
  int retry_after_s = 0;
  int ratelimit_limit = -1;  ///< with the two below: RateLimit-* headers when >= 0
  int ratelimit_remaining = 0;
  int ratelimit_reset_s = 0;
  bool page = false;  ///< the hosted-page headers (see page())
  std::string content_security_policy;  ///< e.g. "sandbox" for an avatar
  std::string content_disposition;
};

class Responder {
 public:
  /// `parent` is the caller's trace context (from `traceparent`), if any:
  /// the server span joins that trace (and its sampling decision), else
  /// starts a new one that the sampler keeps or not (telemetry/trace.hpp).
  /// A request not sampled allocates no span; its server span is built at
  /// the answer only if that is an error or slow. `path` is url.path.
  /// `version`: the request's, for the status line.
  Responder(std::shared_ptr<Pistache::Tcp::Peer> peer, Pistache::Http::Version version,
            std::string request_id, std::string route,
            const char* method, std::string ip, bool keep_alive,
            std::shared_ptr<std::atomic<int>> inflight,
            const std::optional<telemetry::TraceContext>& parent, std::shared_ptr<WriteGate> gate,
            std::string path = {});
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  void json(int status, const nlohmann::json& body, const Extra& extra = {});
  /// A JSON document already serialised.
  void json_text(int status, const std::string& text, const Extra& extra = {});
  void empty(int status, const Extra& extra = {});
  /// A non-JSON body (an image) with its type and a public cache lifetime.
  void raw(int status, const std::string& body, const std::string& content_type, int max_age_s,
           const Extra& extra = {});
  /// A hosted page or one of its files: raw() (not cached) with kPageCsp,
  /// X-Frame-Options: DENY and Referrer-Policy: no-referrer.
  void page(int status, const std::string& body, const std::string& content_type);
  /// The error shape: {"error", "error_description", "request_id"}.
  void error(int status, std::string_view code, std::string_view description,
             Extra extra = {});
  /// Maps an actor-layer Failure to its status, code and headers.
  void failure(const Failure& f, Extra extra = {});

  const std::string& request_id() const { return request_id_; }
  const std::string& trace_id() const { return trace_id_; }
  /// The server span's id (also when not sampled: logs and traceparent carry it).
  const std::string& span_id() const { return span_id_; }
  /// True when the request's trace is recorded (child spans are wanted).
  bool sampled() const { return span_ != nullptr; }
  /// Adds an attribute to the request's server span (before the answer);
  /// dropped when the request is not sampled.
  void span_attr(const std::string& key, nlohmann::json value) {
    if (span_) span_->attributes[key] = std::move(value);
  }
  /// Adds the user id to the access-log line.
  void set_user(std::string id) { user_id_ = std::move(id); }
  /// Retry-After used for 503 overloaded/unavailable.
  static void set_retry_after(int s) { retry_after_s_ = s; }

 private:
  void send(int status, const std::string* body, const Extra& extra,
            const std::string& content_type = {}, int max_age_s = 0);

  std::shared_ptr<Pistache::Tcp::Peer> peer_;  ///< pinned: see the class comment
  Pistache::Http::Version version_;
  std::shared_ptr<WriteGate> gate_;
  std::string request_id_, route_, ip_, user_id_;
  const char* method_;
  bool keep_alive_;
  std::shared_ptr<std::atomic<int>> inflight_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<bool> sent_{false};
  std::string trace_id_, span_id_, parent_span_id_, path_;
  std::unique_ptr<telemetry::Span> span_;  ///< only when sampled
  std::int64_t start_ns_;
  static inline int retry_after_s_ = 1;
};

}  // namespace gh::http
