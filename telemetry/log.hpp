// Structured logs: one JSON object per line on stdout, written by spdlog's
// async logger so a request thread never waits on the terminal or a pipe.
//
// Every line has "ts" (RFC 3339, UTC, ms), "level" and "msg"; callers add
// fields (request_id, user_id, route, status, duration_ms, ip, …). JSON
// escaping is done here, so any string is safe to pass. Never pass a
// password, token, hash or secret: nothing here can tell them apart.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace gh::telemetry {

enum class Level { debug, info, warn, error };

/// Sets up the logger; `level` is debug, info, warn or error. Call once, early.
void init(const std::string& level);
/// Flushes and stops the background writer (at exit).
void shutdown();

bool enabled(Level lvl);
void log(Level lvl, std::string_view msg, nlohmann::json fields = nlohmann::json::object());

inline void log_debug(std::string_view m, nlohmann::json f = nlohmann::json::object()) { log(Level::debug, m, std::move(f)); }
inline void log_info(std::string_view m, nlohmann::json f = nlohmann::json::object()) { log(Level::info, m, std::move(f)); }
inline void log_warn(std::string_view m, nlohmann::json f = nlohmann::json::object()) { log(Level::warn, m, std::move(f)); }
inline void log_error(std::string_view m, nlohmann::json f = nlohmann::json::object()) { log(Level::error, m, std::move(f)); }

/// Lifecycle lines (listening, shutting down, stopped): written at info level
/// whatever the configured minimum, and flushed at once, because tools and
/// tests read the bound address from them.
/// Appends `s` as a quoted JSON string, escaped as nlohmann's dump does:
/// control characters escaped, bytes that are not valid UTF-8 as U+FFFD.
void append_json_string(std::string& out, std::string_view s);

/// One JSON log line built field by field, without a JSON tree: the access
/// log line written for every request (always valid JSON).
class LogLine {
 public:
  LogLine(Level lvl, std::string_view msg);
  LogLine& str(std::string_view key, std::string_view value);
  LogLine& num(std::string_view key, double value);
  /// Writes the line if its level is enabled (once).
  void write();

 private:
  Level lvl_;
  bool on_;
  std::string line_;
};

void announce(std::string_view msg, nlohmann::json fields = nlohmann::json::object());

/// The JSON line for a record (exposed for tests).
std::string format_line(Level lvl, std::string_view msg, const nlohmann::json& fields,
                        std::int64_t unix_ms);

}  // namespace gh::telemetry
