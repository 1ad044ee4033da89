// Every Prometheus metric Gatehouse exports, declared in this one place
// (prometheus-cpp). Recording is thread-safe and cheap; `GET /metrics`
// serialises the registry in the text exposition format.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace gh::telemetry {

/// One finished HTTP request: count and latency by route, method and status.
void record_request(const std::string& route, const char* method, int status, double seconds);
/// A login outcome: succeeded, wrong_password, unknown_user, throttled, inactive.
void record_login(const char* outcome);
/// The hashing queue: depth after a change, and how long a job waited.
void record_hasher_depth(std::size_t depth);
void record_hasher_wait(double seconds);
/// One synced store commit: how many writes it carried and how long it took.
void record_commit(std::size_t batch, double seconds, bool ok);
/// A request refused by a rate limit of class `bucket`.
void record_rate_limited(const std::string& bucket);
/// Audit records appended, and events lost (should stay 0).
void record_audit(std::size_t appended);
void record_audit_lost();
/// A notification delivery attempt (result: delivered, retry, failed, dropped).
void record_notification(const std::string& kind, const char* result);
/// Sessions opened and ended, for the active-sessions gauge.
void record_session_opened();
void record_sessions_ended(std::size_t n);

/// Where gatehouse_store_used_bytes and gatehouse_store_map_bytes are read
/// at each scrape: fills (used, map) and returns true. Set once the store is
/// open, cleared (nullptr) before it closes.
void set_store_fill_source(std::function<bool(std::uint64_t& used, std::uint64_t& map)> source);

/// The text exposition of every metric (also samples process RSS and the store fill).
std::string metrics_text();

}  // namespace gh::telemetry
