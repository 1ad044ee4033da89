#include "telemetry/metrics.hpp"

#include <map>
#include <mutex>
#include <tuple>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <fstream>
#include <unistd.h>

namespace gh::telemetry {
namespace {

using namespace prometheus;

// All metric families, built once on first use.
struct Metrics {
  std::shared_ptr<Registry> registry = std::make_shared<Registry>();
  Family<Counter>& requests = BuildCounter()
                                  .Name("gatehouse_http_requests_total")
                                  .Help("HTTP requests answered, by route, method and status")
                                  .Register(*registry);
  Family<Histogram>& latency = BuildHistogram()
                                   .Name("gatehouse_http_request_duration_seconds")
                                   .Help("Time from request to answer, by route")
                                   .Register(*registry);
  Family<Counter>& logins =
      BuildCounter().Name("gatehouse_logins_total").Help("Password logins by outcome").Register(*registry);
  Gauge& hasher_depth = BuildGauge()
                            .Name("gatehouse_hasher_queue_depth")
                            .Help("Password hashing jobs waiting for a worker")
                            .Register(*registry)
                            .Add({});
  Histogram& hasher_wait = BuildHistogram()
                               .Name("gatehouse_hasher_wait_seconds")
                               .Help("Time a hashing job waited for a worker")
                               .Register(*registry)
                               .Add({}, Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  Histogram& commit_batch = BuildHistogram()
                                .Name("gatehouse_store_commit_batch_size")
                                .Help("Writes carried by one synced LMDB commit")
                                .Register(*registry)
                                .Add({}, Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512});
  Histogram& commit_seconds = BuildHistogram()
                                  .Name("gatehouse_store_commit_seconds")
                                  .Help("Duration of one synced LMDB commit")
                                  .Register(*registry)
                                  .Add({}, Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25});
  Family<Counter>& commits =
      BuildCounter().Name("gatehouse_store_commits_total").Help("Synced LMDB commits by result").Register(*registry);
  Family<Counter>& rate_limited = BuildCounter()
                                      .Name("gatehouse_rate_limited_total")
                                      .Help("Requests refused by a rate limit, by bucket class")
                                      .Register(*registry);
  Counter& audit = BuildCounter()
                       .Name("gatehouse_audit_records_total")
                       .Help("Audit records appended")
                       .Register(*registry)
                       .Add({});
  Counter& audit_lost = BuildCounter()
                            .Name("gatehouse_audit_lost_total")
                            .Help("Audit events that could not be kept (backlog full)")
                            .Register(*registry)
                            .Add({});
  Family<Counter>& notifications = BuildCounter()
                                       .Name("gatehouse_notifications_total")
                                       .Help("Notification delivery attempts by kind and result")
                                       .Register(*registry);
  Gauge& active_sessions = BuildGauge()
                               .Name("gatehouse_active_sessions")
                               .Help("Sessions opened minus sessions ended since this process started")
                               .Register(*registry)
                               .Add({});
  Gauge& store_used = BuildGauge()
                          .Name("gatehouse_store_used_bytes")
                          .Help("LMDB pages in use (high-water mark less the free list), bytes")
                          .Register(*registry)
                          .Add({});
  Gauge& store_map = BuildGauge()
                         .Name("gatehouse_store_map_bytes")
                         .Help("LMDB map size (store.map_size_mb): the most the store may hold, bytes")
                         .Register(*registry)
                         .Add({});
  std::mutex fill_mu;
  std::function<bool(std::uint64_t&, std::uint64_t&)> fill_source;
  Gauge& rss = BuildGauge()
                   .Name("gatehouse_process_resident_memory_bytes")
                   .Help("Resident set size of the process")
                   .Register(*registry)
                   .Add({});
};

Metrics& m() {
  static Metrics metrics;
  return metrics;
}

const Histogram::BucketBoundaries& latency_buckets() {
  static const Histogram::BucketBoundaries b{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return b;
}

}  // namespace

void record_request(const std::string& route, const char* method, int status, double seconds) {
  // Family::Add hashes a label map under the family's mutex; every HTTP
  // thread remembers the series it has used instead (series live as long as
  // the registry, so the pointers stay valid).
  struct Series {
    Counter* requests;
    Histogram* latency;
  };
  thread_local std::map<std::tuple<std::string, std::string, int>, Series> cache;
  auto key = std::make_tuple(route, std::string(method), status);
  auto it = cache.find(key);
  if (it == cache.end()) {
    auto& x = m();
    Series s{&x.requests.Add({{"route", route}, {"method", method}, {"status", std::to_string(status)}}),
             &x.latency.Add({{"route", route}}, latency_buckets())};
    it = cache.emplace(std::move(key), s).first;
  }
  it->second.requests->Increment();
  it->second.latency->Observe(seconds);
}

void record_login(const char* outcome) { m().logins.Add({{"outcome", outcome}}).Increment(); }
void record_hasher_depth(std::size_t depth) { m().hasher_depth.Set(static_cast<double>(depth)); }
void record_hasher_wait(double seconds) { m().hasher_wait.Observe(seconds); }

void record_commit(std::size_t batch, double seconds, bool ok) {
  auto& x = m();
  x.commits.Add({{"result", ok ? "ok" : "failed"}}).Increment();
  x.commit_batch.Observe(static_cast<double>(batch));
  x.commit_seconds.Observe(seconds);
}

void record_rate_limited(const std::string& bucket) { m().rate_limited.Add({{"bucket", bucket}}).Increment(); }
void record_audit(std::size_t appended) { m().audit.Increment(static_cast<double>(appended)); }
void record_audit_lost() { m().audit_lost.Increment(); }

void record_notification(const std::string& kind, const char* result) {
  m().notifications.Add({{"kind", kind}, {"result", result}}).Increment();
}

void record_session_opened() { m().active_sessions.Increment(); }
void record_sessions_ended(std::size_t n) { m().active_sessions.Decrement(static_cast<double>(n)); }

void set_store_fill_source(std::function<bool(std::uint64_t&, std::uint64_t&)> source) {
  auto& x = m();
  std::lock_guard<std::mutex> lock(x.fill_mu);
  x.fill_source = std::move(source);
}

std::string metrics_text() {
  auto& x = m();
  {
    std::lock_guard<std::mutex> lock(x.fill_mu);
    std::uint64_t used = 0, map = 0;
    if (x.fill_source && x.fill_source(used, map)) {
      x.store_used.Set(static_cast<double>(used));
      x.store_map.Set(static_cast<double>(map));
    }
  }
  long pages = 0, resident = 0;
  std::ifstream("/proc/self/statm") >> pages >> resident;
  x.rss.Set(static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)));
  return TextSerializer().Serialize(x.registry->Collect());
}

}  // namespace gh::telemetry
