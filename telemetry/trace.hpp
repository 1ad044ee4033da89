// Tracing: W3C trace context in and out, spans for each request and each
// actor hop, a ring buffer of recent spans for GET /admin/traces, and an
// OTLP/HTTP JSON exporter (off unless an endpoint is configured).
//
// Threading: every function here is safe from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
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

/// OTLP span kinds.
enum class SpanKind { internal = 1, server = 2, client = 3 };

struct Span {
  std::string trace_id, span_id, parent_span_id, name;
  SpanKind kind = SpanKind::internal;
  std::int64_t start_ns = 0, end_ns = 0;  ///< unix nanoseconds
  nlohmann::json attributes = nlohmann::json::object();
  bool error = false;
};

std::int64_t unix_nanos();

/// Keeps a finished span: in the ring buffer, and queued for export.
void record_span(Span s);
/// The most recent spans, newest last (at most `limit`).
std::vector<Span> recent_spans(std::size_t limit);
nlohmann::json span_json(const Span& s);

/// A span being timed: start() now, end() records it (once).
class SpanTimer {
 public:
  SpanTimer() = default;
  SpanTimer(std::string trace_id, std::string parent_span_id, std::string name,
            SpanKind kind = SpanKind::internal);
  const std::string& span_id() const { return span_.span_id; }
  void attr(const std::string& key, nlohmann::json value) { span_.attributes[key] = std::move(value); }
  void end(bool error = false);

 private:
  Span span_;
  bool open_ = false;
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
