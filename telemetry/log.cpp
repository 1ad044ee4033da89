#include "telemetry/log.hpp"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/spdlog.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace gh::telemetry {
namespace {

std::shared_ptr<spdlog::logger> g_logger;
std::atomic<int> g_min{static_cast<int>(Level::info)};

const char* name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

Level parse(const std::string& s) {
  if (s == "debug") return Level::debug;
  if (s == "warn") return Level::warn;
  if (s == "error") return Level::error;
  return Level::info;
}

}  // namespace

void init(const std::string& level) {
  g_min = static_cast<int>(parse(level));
  if (g_logger) return;
  spdlog::init_thread_pool(16384, 1);
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  g_logger = std::make_shared<spdlog::async_logger>("gatehouse", sink, spdlog::thread_pool(),
                                                    spdlog::async_overflow_policy::block);
  g_logger->set_pattern("%v");
  g_logger->set_level(spdlog::level::trace);
  // Flushing every line costs a write(2) per request; warnings and errors are
  // flushed at once (see log()), everything else at least once a second.
  spdlog::register_logger(g_logger);
  spdlog::flush_every(std::chrono::seconds(1));
}

void shutdown() {
  if (g_logger) g_logger->flush();
  g_logger.reset();
  spdlog::shutdown();
}

bool enabled(Level lvl) { return static_cast<int>(lvl) >= g_min.load(std::memory_order_relaxed); }

std::string format_line(Level lvl, std::string_view msg, const nlohmann::json& fields,
                        std::int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[40];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  nlohmann::ordered_json line = {{"ts", ts}, {"level", name(lvl)}, {"msg", msg}};
  if (fields.is_object())
    for (auto& [k, v] : fields.items()) line[k] = v;
  // Invalid UTF-8 (e.g. a hostile User-Agent) is replaced, never thrown on.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {
void write(Level lvl, std::string_view msg, const nlohmann::json& fields, bool flush) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  auto line = format_line(lvl, msg, fields, ms);
  if (g_logger) {
    g_logger->log(spdlog::level::info, spdlog::string_view_t(line.data(), line.size()));
    if (flush) g_logger->flush();
  } else {
    std::fprintf(stdout, "%s\n", line.c_str());
    std::fflush(stdout);
  }
}
}  // namespace

void log(Level lvl, std::string_view msg, nlohmann::json fields) {
  if (enabled(lvl)) write(lvl, msg, fields, lvl >= Level::warn);
}

void announce(std::string_view msg, nlohmann::json fields) { write(Level::info, msg, fields, true); }

}  // namespace gh::telemetry
