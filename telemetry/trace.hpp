// Tracing: W3C trace context in and out, spans for each request and each
// actor hop, a ring buffer of recent spans for GET /admin/traces, and an
// OTLP/HTTP JSON exporter (off unless an endpoint is configured).
//
// Sampling is parent-based: a request whose `traceparent` carries the
// sampled flag is recorded, one whose flag is clear is not, and a request
// without a parent starts a trace recorded with probability `ratio`
// (configure_sampling; the decision is read from the trace id's random bits,
// so every service deciding on the same id agrees). A request not sampled
// allocates no span, but its server span is still recorded when the answer
// is an error (status >= 500) or slower than `slow_ms`, so error paths keep
// their trace. 4xx answers are sampled like 2xx: they are the client's
// mistakes, often floods (401, 429), and recording each would let a client
// fill the ring buffer and slow the server.
//
// Threading: every function here is safe from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gh::telemetry {

struct TraceContext {
  std::string trace_id;  ///< 32 lowercase hex
  std::string span_id;   ///< 16 lowercase hex: the parent for child spans
  bool sampled = true;
};

/// Parses `traceparent` (version 00): 00-<32 hex>-<16 hex>-<2 hex>; all-zero
/// ids, version ff, uppercase hex or a wrong length give nullopt.
std::optional<TraceContext> parse_traceparent(std::string_view header);
std::string format_traceparent(const TraceContext& c);
std::string new_trace_id();
std::string new_span_id();
/// 32 hex chars, unique (not secret): request ids.
std::string new_request_id();

/// The sampler's settings (config [tracing]); `ratio` in [0, 1], `slow_ms`
/// 0: no slow-request rule. Call once at start-up. Default: ratio 1, no
/// slow rule (everything recorded).
void configure_sampling(double ratio, int slow_ms);
/// The sampler's decision for a new trace (no parent) with id `trace_id`.
bool sample_new_trace(std::string_view trace_id);
/// An answer after `duration_ms` with `status` is recorded even when its
/// trace was not sampled.
bool always_record(int status, double duration_ms);

/// OTLP span kinds.
enum class SpanKind { internal = 1, server = 2, client = 3 };

struct Span {
  std::string trace_id, span_id, parent_span_id, name;
  SpanKind kind = SpanKind::internal;
  std::int64_t start_ns = 0, end_ns = 0;  ///< unix nanoseconds
  nlohmann::json attributes;  ///< an object once an attribute is set (null: none)
  bool error = false;
};

std::int64_t unix_nanos();

/// Keeps a finished span: in the ring buffer, and queued for export.
void record_span(Span s);
/// The most recent spans, newest last (at most `limit`).
std::vector<Span> recent_spans(std::size_t limit);
nlohmann::json span_json(const Span& s);

/// A span being timed: started when constructed, recorded by end() (once).
/// RAII: copies share one span (a copy may ride in an actor's callback), and
/// when the last copy goes without end() having been called — an error path,
/// a dropped callback, an exception — the span is recorded then, marked as
/// an error. A child span needs its parent: with an empty trace id or an
/// empty parent span id (a request whose trace is not sampled) nothing is
/// allocated or recorded; only a server span may start a trace.
class SpanTimer {
 public:
  SpanTimer() = default;
  SpanTimer(std::string trace_id, std::string parent_span_id, std::string name,
            SpanKind kind = SpanKind::internal);
  /// "" when not recording.
  const std::string& span_id() const;
  bool recording() const { return state_ != nullptr; }
  void attr(const std::string& key, nlohmann::json value);
  void end(bool error = false);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

/// OTLP/HTTP JSON body (ExportTraceServiceRequest) for `spans`.
nlohmann::json otlp_request(const std::vector<Span>& spans, const std::string& service_name);

/// Starts the exporter thread: batches spans and POSTs them to
/// `<endpoint>/v1/traces`, retrying only on 429/502/503/504. Empty endpoint:
/// no export (spans still reach the ring buffer).
void start_exporter(const std::string& endpoint);
/// Sends what is queued and stops the thread.
void stop_exporter();

}  // namespace gh::telemetry
