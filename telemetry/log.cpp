#include "telemetry/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>
#include <utility>

#include <unistd.h>

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

// The log goes to stdout (fd 1) from a thread of its own. A request thread
// only appends its line to a buffer under a short lock; the writer thread
// swaps the buffer out and write(2)s it every 50 ms, or at once when a
// warning or error asks for it. A write that blocks (a slow disk, the
// kernel throttling dirty pages while the store syncs) then delays only the
// writer, never a request: before, the line writes and flushes of
// request threads held one lock, and a stalled write made every thread wait
// (P3's p99 reached 26-130 ms under a login storm). spdlog's stdout sinks
// write every line, and its async logger wakes a thread per line. If the
// writer falls behind by kMaxPending bytes, lines are dropped and counted,
// and the count is logged once writing resumes.
class AsyncStdoutSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  AsyncStdoutSink() : thread_([this] { run(); }) {}
  ~AsyncStdoutSink() override {
    {
      std::lock_guard<std::mutex> g(this->mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  /// Writes what is pending now, on the caller's thread (start-up and
  /// shutdown lines, which tools wait for).
  void drain() {
    std::unique_lock<std::mutex> g(this->mutex_);
    take_and_write(g);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (pending_.size() + msg.payload.size() + 1 > kMaxPending) {
      ++dropped_;
      return;
    }
    pending_.append(msg.payload.data(), msg.payload.size());
    pending_ += '\n';
  }
  void flush_() override { wake_.notify_one(); }  // called under mutex_: never block here

 private:
  static constexpr std::size_t kMaxPending = 16 << 20;

  void run() {
    std::unique_lock<std::mutex> g(this->mutex_);
    while (!stop_) {
      wake_.wait_for(g, std::chrono::milliseconds(50));
      take_and_write(g);
    }
    take_and_write(g);
  }

  // With `g` locked: takes the pending lines and writes them unlocked.
  void take_and_write(std::unique_lock<std::mutex>& g) {
    if (pending_.empty() && dropped_ == 0) return;
    std::string out;
    out.swap(pending_);
    std::uint64_t dropped = std::exchange(dropped_, 0);
    g.unlock();
    if (dropped)
      out += "{\"level\":\"warn\",\"msg\":\"log lines dropped: the log writer fell behind\",\"dropped\":" +
             std::to_string(dropped) + "}\n";
    std::fflush(stdout);  // anything printed with stdio first (CLI output)
    for (std::size_t done = 0; done < out.size();) {
      ssize_t n = ::write(1, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // stdout is gone: nothing to do with the lines
      done += static_cast<std::size_t>(n);
    }
    g.lock();
  }

  std::string pending_;
  std::uint64_t dropped_ = 0;
  bool stop_ = false;
  std::condition_variable wake_;
  std::thread thread_;
};

std::shared_ptr<AsyncStdoutSink> g_sink;

}  // namespace

void init(const std::string& level) {
  g_min = static_cast<int>(parse(level));
  if (g_logger) return;
  g_sink = std::make_shared<AsyncStdoutSink>();
  g_logger = std::make_shared<spdlog::logger>("gatehouse", g_sink);
  g_logger->set_level(spdlog::level::trace);
  spdlog::register_logger(g_logger);
}

void shutdown() {
  if (g_sink) g_sink->drain();
  g_logger.reset();
  g_sink.reset();  // joins the writer thread, which writes what is left
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
    if (flush && lvl == Level::info && g_sink) g_sink->drain();  // announce(): written before it returns
  } else {
    std::fprintf(stdout, "%s\n", line.c_str());
    std::fflush(stdout);
  }
}
}  // namespace

void log(Level lvl, std::string_view msg, nlohmann::json fields) {
  if (enabled(lvl)) write(lvl, msg, fields, lvl >= Level::warn);
}

// Appends `s` as a JSON string. Control characters are escaped; bytes that
// are not valid UTF-8 become U+FFFD, as nlohmann's dump does with `replace`.
void append_json_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    // Runs of printable ASCII other than '"' and '\\' are copied at once.
    std::size_t run = i;
    while (run < s.size() && static_cast<unsigned char>(s[run]) >= 0x20 && static_cast<unsigned char>(s[run]) < 0x80 &&
           s[run] != '"' && s[run] != '\\')
      ++run;
    out.append(s.data() + i, run - i);
    if ((i = run) == s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        static const char* const shorts[] = {"\\b", "\\t", "\\n", nullptr, "\\f", "\\r"};  // 0x08-0x0d
        if (c >= 0x08 && c <= 0x0d && shorts[c - 0x08]) {
          out += shorts[c - 0x08];
        } else {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        }
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence (no overlongs, surrogates or > U+10FFFF).
    std::size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    bool ok = n > 0 && c <= 0xf4 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && n >= 3) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0) && !(c == 0xf0 && c1 < 0x90) &&
           !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  out += '"';
}


LogLine::LogLine(Level lvl, std::string_view msg) : lvl_(lvl), on_(enabled(lvl)) {
  if (!on_) return;
  // The "YYYY-MM-DDTHH:MM:SS." prefix changes once a second: each thread
  // formats it then, and only the milliseconds otherwise.
  thread_local std::int64_t cached_s = -1;
  thread_local char prefix[24];
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  if (ms / 1000 != cached_s) {
    cached_s = ms / 1000;
    std::time_t secs = static_cast<std::time_t>(cached_s);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::strftime(prefix, sizeof prefix, "%Y-%m-%dT%H:%M:%S.", &tm);
  }
  char millis[4] = {static_cast<char>('0' + ms % 1000 / 100), static_cast<char>('0' + ms % 100 / 10),
                    static_cast<char>('0' + ms % 10), '\0'};
  line_.reserve(320);
  line_.append("{\"ts\":\"").append(prefix).append(millis).append("Z\",\"level\":\"").append(name(lvl));
  line_.append("\",\"msg\":");
  append_json_string(line_, msg);
}

LogLine& LogLine::str(std::string_view key, std::string_view value) {
  if (!on_) return *this;
  line_ += ',';
  append_json_string(line_, key);
  line_ += ':';
  append_json_string(line_, value);
  return *this;
}

LogLine& LogLine::num(std::string_view key, double value) {
  if (!on_) return *this;
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, value);
  line_ += ',';
  append_json_string(line_, key);
  line_ += ':';
  line_.append(buf, r.ptr);
  return *this;
}

void LogLine::write() {
  if (!on_) return;
  line_ += '}';
  if (g_logger) {
    g_logger->log(spdlog::level::info, spdlog::string_view_t(line_.data(), line_.size()));
    if (lvl_ >= Level::warn) g_logger->flush();
  } else {
    std::fprintf(stdout, "%s\n", line_.c_str());
    std::fflush(stdout);
  }
  on_ = false;
}

void announce(std::string_view msg, nlohmann::json fields) { write(Level::info, msg, fields, true); }

}  // namespace gh::telemetry
