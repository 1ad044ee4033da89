#include "telemetry/trace.hpp"

#include "telemetry/http_client.hpp"
#include "telemetry/log.hpp"

#include <sodium.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

namespace gh::telemetry {
namespace {

constexpr std::size_t kRing = 2048;     // spans kept for /admin/traces
constexpr std::size_t kQueue = 65536;   // spans waiting for export at most
constexpr std::size_t kBatch = 512;

// Trace, span and request ids must be unique, not secret: a per-thread
// 64-bit generator seeded once from the OS saves a getrandom(2) syscall per
// id on every request (three per request before).
std::string random_hex(std::size_t bytes) {
  thread_local std::mt19937_64 gen([] {
    std::uint64_t seed = 0;
    randombytes_buf(&seed, sizeof seed);
    return seed;
  }());
  static const char* digits = "0123456789abcdef";
  std::string out(bytes * 2, '0');
  do {
    for (std::size_t i = 0; i < out.size(); i += 16) {
      auto v = gen();
      for (std::size_t j = i; j < std::min(out.size(), i + 16); ++j, v >>= 4) out[j] = digits[v & 15];
    }
  } while (out.find_first_not_of('0') == std::string::npos);  // all-zero ids are invalid
  return out;
}

bool lower_hex(std::string_view s, std::size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return s.find_first_not_of('0') != std::string_view::npos;
}

struct State {
  std::mutex mu;
  std::deque<Span> ring, queue;
  std::condition_variable cv;
  std::thread exporter;
  bool stop = false;
  std::string endpoint;
};

State& st() {
  static State s;
  return s;
}

// Ratio as a threshold on 56 random bits of the trace id (W3C trace ids
// carry at least that much randomness in their right-most bytes).
constexpr std::uint64_t kRatioOne = std::uint64_t(1) << 56;
std::atomic<std::uint64_t> g_threshold{kRatioOne};
std::atomic<int> g_slow_ms{0};

// One POST; true when done (sent, or not worth retrying).
bool post(const std::string& url, const std::string& body) {
  auto r = post_json(url, body);
  if (r.ok) return true;
  bool retry = r.status == 0 || r.status == 429 || r.status == 502 || r.status == 503 || r.status == 504;
  log_warn("trace export failed", {{"status", r.status}, {"error", r.error}, {"retry", retry}});
  return !retry;
}

void export_loop() {
  auto& s = st();
  std::unique_lock<std::mutex> lock(s.mu);
  while (true) {
    s.cv.wait_for(lock, std::chrono::seconds(1), [&] { return s.stop || s.queue.size() >= kBatch; });
    if (s.queue.empty()) {
      if (s.stop) return;
      continue;
    }
    std::vector<Span> batch;
    while (!s.queue.empty() && batch.size() < kBatch) {
      batch.push_back(std::move(s.queue.front()));
      s.queue.pop_front();
    }
    bool stopping = s.stop;
    lock.unlock();
    auto body = otlp_request(batch, "gatehouse").dump();
    for (int attempt = 0; attempt < 3 && !post(s.endpoint + "/v1/traces", body) && !stopping; ++attempt)
      std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
    lock.lock();
  }
}

nlohmann::json attr_value(const nlohmann::json& v) {
  if (v.is_boolean()) return {{"boolValue", v.get<bool>()}};
  if (v.is_number_integer()) return {{"intValue", std::to_string(v.get<std::int64_t>())}};
  if (v.is_number()) return {{"doubleValue", v.get<double>()}};
  return {{"stringValue", v.is_string() ? v.get<std::string>() : v.dump()}};
}

}  // namespace

std::optional<TraceContext> parse_traceparent(std::string_view h) {
  if (h.size() != 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  if (h.substr(0, 2) != "00") return std::nullopt;
  auto trace = h.substr(3, 32), span = h.substr(36, 16), flags = h.substr(53, 2);
  if (!lower_hex(trace, 32) || !lower_hex(span, 16)) return std::nullopt;
  if (!(std::isxdigit(static_cast<unsigned char>(flags[0])) && std::isxdigit(static_cast<unsigned char>(flags[1]))))
    return std::nullopt;
  int f = std::stoi(std::string(flags), nullptr, 16);
  return TraceContext{std::string(trace), std::string(span), (f & 1) != 0};
}

std::string format_traceparent(const TraceContext& c) {
  return "00-" + c.trace_id + "-" + c.span_id + (c.sampled ? "-01" : "-00");
}

void configure_sampling(double ratio, int slow_ms) {
  ratio = std::min(1.0, std::max(0.0, ratio));
  g_threshold = ratio >= 1.0 ? kRatioOne : static_cast<std::uint64_t>(ratio * static_cast<double>(kRatioOne));
  g_slow_ms = std::max(0, slow_ms);
}

bool sample_new_trace(std::string_view trace_id) {
  auto threshold = g_threshold.load(std::memory_order_relaxed);
  if (threshold >= kRatioOne) return true;
  if (threshold == 0 || trace_id.size() < 14) return false;
  std::uint64_t v = 0;  // the last 14 hex digits: 56 bits
  for (char c : trace_id.substr(trace_id.size() - 14)) v = v << 4 | static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  return v < threshold;
}

bool always_record(int status, double duration_ms) {
  if (status >= 500) return true;
  int slow = g_slow_ms.load(std::memory_order_relaxed);
  return slow > 0 && duration_ms >= slow;
}

std::string new_trace_id() { return random_hex(16); }
std::string new_span_id() { return random_hex(8); }
std::string new_request_id() { return random_hex(16); }

std::int64_t unix_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void record_span(Span sp) {
  auto& s = st();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.endpoint.empty() && s.queue.size() < kQueue) {
    s.queue.push_back(sp);
    if (s.queue.size() >= kBatch) s.cv.notify_one();
  }
  s.ring.push_back(std::move(sp));
  if (s.ring.size() > kRing) s.ring.pop_front();
}

std::vector<Span> recent_spans(std::size_t limit) {
  auto& s = st();
  std::lock_guard<std::mutex> lock(s.mu);
  auto n = std::min(limit, s.ring.size());
  return std::vector<Span>(s.ring.end() - static_cast<std::ptrdiff_t>(n), s.ring.end());
}

nlohmann::json span_json(const Span& s) {
  return {{"trace_id", s.trace_id}, {"span_id", s.span_id}, {"parent_span_id", s.parent_span_id},
          {"name", s.name}, {"kind", static_cast<int>(s.kind)}, {"start_ns", s.start_ns},
          {"duration_ms", (s.end_ns - s.start_ns) / 1e6},
          {"attributes", s.attributes.is_object() ? s.attributes : nlohmann::json::object()}, {"error", s.error}};
}

struct SpanTimer::State {
  Span span;
  std::mutex mu;  // copies may end the span from different threads
  bool open = true;

  void finish(bool error) {
    std::lock_guard<std::mutex> lock(mu);
    if (!open) return;
    open = false;
    span.end_ns = unix_nanos();
    span.error = error;
    record_span(std::move(span));
  }
  // The last copy is gone: a span nobody ended ended on an error path.
  ~State() { finish(true); }
};

SpanTimer::SpanTimer(std::string trace_id, std::string parent_span_id, std::string name, SpanKind kind) {
  if (trace_id.empty() || (parent_span_id.empty() && kind != SpanKind::server)) return;
  state_ = std::make_shared<State>();
  auto& sp = state_->span;
  sp.trace_id = std::move(trace_id);
  sp.parent_span_id = std::move(parent_span_id);
  sp.span_id = new_span_id();
  sp.name = std::move(name);
  sp.kind = kind;
  sp.start_ns = unix_nanos();
}

const std::string& SpanTimer::span_id() const {
  static const std::string none;
  return state_ ? state_->span.span_id : none;
}

void SpanTimer::attr(const std::string& key, nlohmann::json value) {
  if (!state_) return;
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->open) state_->span.attributes[key] = std::move(value);
}

void SpanTimer::end(bool error) {
  if (state_) state_->finish(error);
}

nlohmann::json otlp_request(const std::vector<Span>& spans, const std::string& service_name) {
  auto out = nlohmann::json::array();
  for (auto& s : spans) {
    auto attrs = nlohmann::json::array();
    if (s.attributes.is_object())
      for (auto& [k, v] : s.attributes.items()) attrs.push_back({{"key", k}, {"value", attr_value(v)}});
    nlohmann::json span = {{"traceId", s.trace_id}, {"spanId", s.span_id}, {"name", s.name},
                           {"kind", static_cast<int>(s.kind)},
                           {"startTimeUnixNano", std::to_string(s.start_ns)},
                           {"endTimeUnixNano", std::to_string(s.end_ns)}, {"attributes", attrs},
                           {"status", {{"code", s.error ? 2 : 0}}}};
    if (!s.parent_span_id.empty()) span["parentSpanId"] = s.parent_span_id;
    out.push_back(span);
  }
  return {{"resourceSpans",
           {{{"resource", {{"attributes", {{{"key", "service.name"}, {"value", {{"stringValue", service_name}}}}}}}},
             {"scopeSpans", {{{"scope", {{"name", "gatehouse"}}}, {"spans", out}}}}}}}};
}

void start_exporter(const std::string& endpoint) {
  auto& s = st();
  if (endpoint.empty() || s.exporter.joinable()) return;
  s.endpoint = endpoint;
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  s.exporter = std::thread(export_loop);
}

void stop_exporter() {
  auto& s = st();
  if (!s.exporter.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stop = true;
  }
  s.cv.notify_one();
  s.exporter.join();
}

}  // namespace gh::telemetry
