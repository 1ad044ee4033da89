#include "config/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <limits>
#include <utility>

extern char** environ;

namespace gh::config {
namespace {

// One binding per key: its dotted name and how to set it from TOML or from an
// environment string. The same table drives both, so a key cannot be readable
// from one and not the other.
struct Binding {
  std::string key;  // "section.name"
  std::function<void(const toml::node&)> from_toml;
  std::function<void(const std::string&)> from_env;
};

[[noreturn]] void bad(const std::string& key, const std::string& why) {
  throw ConfigError("config key '" + key + "': " + why);
}

template <class Int>
Binding int_key(std::string key, Int& dst, long long lo, long long hi) {
  auto set = [key, &dst, lo, hi](long long v) {
    if (v < lo || v > hi)
      bad(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    dst = static_cast<Int>(v);
  };
  return {key,
          [key, set](const toml::node& n) {
            auto v = n.value<long long>();
            if (!v || !n.is_integer()) bad(key, "must be an integer");
            set(*v);
          },
          [key, set](const std::string& s) {
            std::size_t used = 0;
            long long v = 0;
            try {
              v = std::stoll(s, &used);
            } catch (...) {
              bad(key, "must be an integer");
            }
            if (used != s.size()) bad(key, "must be an integer");
            set(v);
          }};
}

Binding ratio_key(std::string key, double& dst) {
  auto set = [key, &dst](double v) {
    if (!(v >= 0.0 && v <= 1.0)) bad(key, "must be a number between 0.0 and 1.0");
    dst = v;
  };
  return {key,
          [key, set](const toml::node& n) {
            auto v = n.value<double>();  // integers 0 and 1 too
            if (!v || !(n.is_floating_point() || n.is_integer())) bad(key, "must be a number between 0.0 and 1.0");
            set(*v);
          },
          [key, set](const std::string& s) {
            std::size_t used = 0;
            double v = 0;
            try {
              v = std::stod(s, &used);
            } catch (...) {
              bad(key, "must be a number between 0.0 and 1.0");
            }
            if (used != s.size()) bad(key, "must be a number between 0.0 and 1.0");
            set(v);
          }};
}

Binding str_key(std::string key, std::string& dst) {
  return {key,
          [key, &dst](const toml::node& n) {
            auto v = n.value<std::string>();
            if (!v || !n.is_string()) bad(key, "must be a string");
            dst = *v;
          },
          [&dst](const std::string& s) { dst = s; }};
}

Binding bool_key(std::string key, bool& dst) {
  return {key,
          [key, &dst](const toml::node& n) {
            if (!n.is_boolean()) bad(key, "must be true or false");
            dst = *n.value<bool>();
          },
          [key, &dst](const std::string& s) {
            if (s == "true" || s == "1") dst = true;
            else if (s == "false" || s == "0") dst = false;
            else bad(key, "must be true or false");
          }};
}

// A key whose value is one of `names` (TOML string or environment alike);
// anything else is refused at load, with `why`.
template <class Enum, std::size_t N>
Binding enum_key(std::string key, Enum& dst, const std::pair<Enum, const char*> (&names)[N], std::string why) {
  auto set = [key, &dst, &names, why](const std::string& s) {
    for (auto& [value, name] : names)
      if (s == name) {
        dst = value;
        return;
      }
    bad(key, why);
  };
  return {key,
          [key, set, why](const toml::node& n) {
            auto v = n.value<std::string>();
            if (!v || !n.is_string()) bad(key, why);
            set(*v);
          },
          set};
}

constexpr std::pair<StoreBackend, const char*> kStoreBackends[] = {{StoreBackend::lmdb, "lmdb"},
                                                                   {StoreBackend::postgres, "postgres"}};

constexpr std::pair<ExistingEmail, const char*> kExistingEmail[] = {{ExistingEmail::conflict, "conflict"},
                                                                    {ExistingEmail::notify, "notify"}};
constexpr std::pair<RateClass, const char*> kRateClasses[] = {{RateClass::standard, "default"},
                                                              {RateClass::login, "login"},
                                                              {RateClass::register_, "register"},
                                                              {RateClass::refresh, "refresh"},
                                                              {RateClass::link, "link"}};

template <class Enum, std::size_t N>
const char* name_in(const std::pair<Enum, const char*> (&names)[N], Enum e) {
  for (auto& [value, name] : names)
    if (value == e) return name;
  return "unknown";
}

Binding list_key(std::string key, std::vector<std::string>& dst) {
  return {key,
          [key, &dst](const toml::node& n) {
            auto* arr = n.as_array();
            if (!arr) bad(key, "must be an array of strings");
            dst.clear();
            for (auto& e : *arr) {
              auto v = e.value<std::string>();
              if (!v) bad(key, "must be an array of strings");
              dst.push_back(*v);
            }
          },
          [&dst](const std::string& s) {  // comma separated
            dst.clear();
            std::size_t start = 0;
            while (start <= s.size()) {
              auto end = s.find(',', start);
              if (end == std::string::npos) end = s.size();
              if (end > start) dst.push_back(s.substr(start, end - start));
              start = end + 1;
            }
          }};
}

std::vector<Binding> bindings(Config& c) {
  constexpr long long kMaxInt = std::numeric_limits<int>::max();
  return {
      str_key("server.listen", c.server.listen),
      int_key("server.threads", c.server.threads, 0, 256),
      int_key("server.max_request_bytes", c.server.max_request_bytes, 1024, 64ll << 20),
      int_key("server.max_body_bytes", c.server.max_body_bytes, 1024, 64ll << 20),
      int_key("server.max_json_depth", c.server.max_json_depth, 2, 128),
      int_key("server.header_timeout_ms", c.server.header_timeout_ms, 100, kMaxInt),
      int_key("server.body_timeout_ms", c.server.body_timeout_ms, 100, kMaxInt),
      int_key("server.keepalive_timeout_ms", c.server.keepalive_timeout_ms, 100, kMaxInt),
      int_key("server.shutdown_grace_ms", c.server.shutdown_grace_ms, 0, kMaxInt),
      list_key("server.trusted_proxies", c.server.trusted_proxies),
      str_key("server.client_ip_header", c.server.client_ip_header),
      bool_key("rate_limit.enabled", c.rate_limit.enabled),
      int_key("rate_limit.max_keys", c.rate_limit.max_keys, 1024, 1ll << 28),
      int_key("rate_limit.login_ip", c.rate_limit.login_ip, 1, 1'000'000),
      int_key("rate_limit.login_account", c.rate_limit.login_account, 1, 1'000'000),
      int_key("rate_limit.login_ip_account", c.rate_limit.login_ip_account, 1, 1'000'000),
      int_key("rate_limit.register_ip", c.rate_limit.register_ip, 1, 1'000'000),
      int_key("rate_limit.refresh_ip", c.rate_limit.refresh_ip, 1, 1'000'000),
      int_key("rate_limit.link_ip", c.rate_limit.link_ip, 1, 1'000'000),
      int_key("rate_limit.default_ip", c.rate_limit.default_ip, 1, 100'000'000),
      int_key("rate_limit.ipv6_prefix", c.rate_limit.ipv6_prefix, 32, 128),
      int_key("rate_limit.login_device", c.rate_limit.login_device, 1, 1'000'000),
      int_key("rate_limit.device_ttl_s", c.rate_limit.device_ttl_s, 60, 400 * 86'400),
      int_key("rate_limit.link_account", c.rate_limit.link_account, 1, 1'000'000),
      int_key("rate_limit.backoff_after", c.rate_limit.backoff_after, 1, 1000),
      int_key("rate_limit.backoff_max_s", c.rate_limit.backoff_max_s, 1, 86'400),
      int_key("rate_limit.backoff_window_s", c.rate_limit.backoff_window_s, 1, 30 * 86'400),
      enum_key("store.backend", c.store.backend, kStoreBackends, "must be lmdb or postgres"),
      str_key("store.path", c.store.path),
      str_key("store.url", c.store.url),
      int_key("store.pool_size", c.store.pool_size, 1, 1000),
      int_key("store.statement_timeout_ms", c.store.statement_timeout_ms, 0, 3'600'000),
      int_key("store.lock_timeout_ms", c.store.lock_timeout_ms, 0, 3'600'000),
      int_key("store.connect_timeout_s", c.store.connect_timeout_s, 1, 600),
      int_key("store.max_staleness_ms", c.store.max_staleness_ms, 0, 60'000),
      int_key("store.map_size_mb", c.store.map_size_mb, 1, 1ll << 24),
      int_key("store.max_batch", c.store.max_batch, 1, 100'000),
      int_key("store.warn_fill_percent", c.store.warn_fill_percent, 1, 100),
      int_key("limits.api_tokens_per_user", c.limits.api_tokens_per_user, 1, 100'000),
      int_key("limits.sessions_per_user", c.limits.sessions_per_user, 1, 100'000),
      int_key("limits.prune_interval_s", c.limits.prune_interval_s, 1, 7 * 86'400),
      int_key("limits.prune_batch", c.limits.prune_batch, 1, 100'000),
      int_key("limits.expired_retention_s", c.limits.expired_retention_s, 0, 400 * 86'400),
      str_key("metrics.listen", c.metrics.listen),
      int_key("hashing.ops_limit", c.hashing.ops_limit, 1, 64),
      int_key("hashing.mem_limit_kib", c.hashing.mem_limit_kib, 8, 4ll << 20),
      int_key("hashing.workers", c.hashing.workers, 0, 256),
      int_key("hashing.queue_per_worker", c.hashing.queue_per_worker, 0, 100'000),
      int_key("hashing.retry_after_s", c.hashing.retry_after_s, 1, 3600),
      int_key("hashing.nice", c.hashing.nice, 0, 19),
      int_key("hashing.max_wait_ms", c.hashing.max_wait_ms, 10, 600'000),
      int_key("password.min_length", c.password.min_length, 1, 1024),
      int_key("password.max_bytes", c.password.max_bytes, 64, 4096),
      str_key("password.blocklist", c.password.blocklist),
      str_key("tokens.issuer", c.tokens.issuer),
      str_key("tokens.audience", c.tokens.audience),
      str_key("tokens.client_id", c.tokens.client_id),
      int_key("tokens.access_ttl_s", c.tokens.access_ttl_s, 10, 86'400),
      int_key("tokens.refresh_ttl_s", c.tokens.refresh_ttl_s, 60, 400 * 86'400),
      int_key("tokens.leeway_s", c.tokens.leeway_s, 0, 300),
      int_key("tokens.key_reload_s", c.tokens.key_reload_s, 1, 3600),
      int_key("tokens.rotation_grace_s", c.tokens.rotation_grace_s, 0, 60),
      int_key("tokens.verify_cache_entries", c.tokens.verify_cache_entries, 0, 1 << 24),
      int_key("tokens.principal_cache_entries", c.tokens.principal_cache_entries, 0, 1 << 20),
      str_key("cookie.name", c.cookie.name),
      bool_key("cookie.secure", c.cookie.secure),
      str_key("cookie.same_site", c.cookie.same_site),
      str_key("cookie.device_name", c.cookie.device_name),
      list_key("cookie.allowed_origins", c.cookie.allowed_origins),
      str_key("roles.file", c.roles.file),
      int_key("avatars.max_bytes", c.avatars.max_bytes, 1024, 64ll << 20),
      str_key("public.url", c.public_.url),
      str_key("notify.driver", c.notify.driver),
      bool_key("notify.log_secrets", c.notify.log_secrets),
      str_key("notify.from", c.notify.from),
      str_key("notify.file_dir", c.notify.file_dir),
      str_key("notify.smtp_url", c.notify.smtp_url),
      bool_key("notify.smtp_starttls", c.notify.smtp_starttls),
      str_key("notify.webhook_url", c.notify.webhook_url),
      str_key("notify.webhook_secret", c.notify.webhook_secret),
      str_key("notify.templates", c.notify.templates),
      int_key("notify.max_attempts", c.notify.max_attempts, 1, 100),
      int_key("notify.retry_base_ms", c.notify.retry_base_ms, 1, 3'600'000),
      int_key("notify.queue_limit", c.notify.queue_limit, 1, 10'000'000),
      bool_key("auth.allow_unverified_login", c.auth.allow_unverified_login),
      enum_key("auth.existing_email", c.auth.existing_email, kExistingEmail, "must be conflict or notify"),
      int_key("auth.magic_link_ttl_s", c.auth.magic_link_ttl_s, 60, 86'400),
      int_key("auth.reset_ttl_s", c.auth.reset_ttl_s, 60, 86'400),
      int_key("auth.verify_ttl_s", c.auth.verify_ttl_s, 60, 30 * 86'400),
      int_key("auth.max_live_links", c.auth.max_live_links, 1, 1000),
      list_key("auth.redirect_origins", c.auth.redirect_origins),
      str_key("otlp.endpoint", c.otlp.endpoint),
      ratio_key("tracing.sample_ratio", c.tracing.sample_ratio),
      int_key("tracing.slow_ms", c.tracing.slow_ms, 0, kMaxInt),
      str_key("audit.key_file", c.audit.key_file),
      str_key("audit.file", c.audit.file),
      str_key("audit.webhook_url", c.audit.webhook_url),
      str_key("audit.webhook_secret", c.audit.webhook_secret),
      str_key("log.level", c.log.level),
  };
}

std::string env_name(const std::string& key) {
  std::string out = "GATEHOUSE_";
  for (char ch : key) out += ch == '.' ? '_' : static_cast<char>(std::toupper(ch));
  return out;
}

void validate(const Config& c) {
  const auto& ss = c.cookie.same_site;
  if (c.store.backend == StoreBackend::postgres && c.store.url.empty())
    bad("store.url", "must be set (or GATEHOUSE_STORE_URL) when store.backend is postgres");
  if (ss != "Strict" && ss != "Lax" && ss != "None")
    bad("cookie.same_site", "must be Strict, Lax or None");
  for (auto* name : {&c.cookie.name, &c.cookie.device_name})
    if (name->rfind("__Host-", 0) == 0 && !c.cookie.secure)
      bad("cookie.secure", "a __Host- cookie must be secure; rename the cookies for plain-http development");
  if (c.cookie.device_name.empty() || c.cookie.device_name == c.cookie.name)
    bad("cookie.device_name", "must be set and differ from cookie.name");
  const auto& fh = c.server.client_ip_header;
  if (fh != "x-forwarded-for" && fh != "forwarded")
    bad("server.client_ip_header", "must be x-forwarded-for or forwarded");
  if (!c.audit.webhook_url.empty() && c.audit.webhook_secret.empty())
    bad("audit.webhook_secret", "the audit webhook needs a secret to sign with");
  const auto& d = c.notify.driver;
  if (d != "log" && d != "file" && d != "smtp" && d != "webhook")
    bad("notify.driver", "must be log, file, smtp or webhook");
  if (d == "webhook" && (c.notify.webhook_url.empty() || c.notify.webhook_secret.empty()))
    bad("notify.webhook_url", "the webhook driver needs notify.webhook_url and notify.webhook_secret");
  for (const auto& o : c.auth.redirect_origins) {
    bool http = o.rfind("http://", 0) == 0 || o.rfind("https://", 0) == 0;
    if (!http || o.find_first_of("/?#", o.find("://") + 3) != std::string::npos || o.size() <= o.find("://") + 3)
      bad("auth.redirect_origins", "'" + o + "' is not an http(s) origin (scheme://host[:port], no path)");
  }
  const auto& lvl = c.log.level;
  if (lvl != "debug" && lvl != "info" && lvl != "warn" && lvl != "error")
    bad("log.level", "must be debug, info, warn or error");
  if (c.password.min_length > c.password.max_bytes)
    bad("password.min_length", "must not exceed password.max_bytes");
  if (c.tokens.issuer.empty()) bad("tokens.issuer", "must not be empty");
  std::string host, why;
  int port = 0;
  if (!c.metrics.listen.empty() && !parse_listen(c.metrics.listen, host, port, why)) bad("metrics.listen", why);
  if (c.tokens.audience.empty()) bad("tokens.audience", "must not be empty");
}

}  // namespace

Config Config::load(const std::string& path, const std::map<std::string, std::string>& env) {
  Config c;
  auto table = bindings(c);
  if (!path.empty()) {
    toml::table doc;
    try {
      doc = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
      throw ConfigError("cannot read config '" + path + "': " + std::string(e.description()));
    }
    // Reject unknown sections and keys: a typo must not silently fall back to a default.
    for (auto& [section, node] : doc) {
      auto* sec = node.as_table();
      if (!sec) throw ConfigError("config: '" + std::string(section.str()) + "' must be a [section]");
      for (auto& [name, value] : *sec) {
        std::string key = std::string(section.str()) + "." + std::string(name.str());
        auto it = std::find_if(table.begin(), table.end(), [&](auto& b) { return b.key == key; });
        if (it == table.end()) throw ConfigError("config: unknown key '" + key + "'");
        it->from_toml(value);
      }
    }
    auto dir = std::filesystem::path(path).parent_path();
    c.config_dir = dir.empty() ? "." : dir.string();
  }
  for (auto& b : table) {
    auto it = env.find(env_name(b.key));
    if (it != env.end()) b.from_env(it->second);
  }
  validate(c);
  return c;
}

bool parse_listen(const std::string& listen, std::string& host, int& port, std::string& why) {
  auto colon = listen.rfind(':');
  port = -1;
  if (colon != std::string::npos) {
    try {
      std::size_t used = 0;
      port = std::stoi(listen.substr(colon + 1), &used);
      if (used != listen.size() - colon - 1) port = -1;
    } catch (...) {
    }
  }
  if (port < 0 || port > 65535) {
    why = "listen address must be host:port, not '" + listen + "'";
    return false;
  }
  host = listen.substr(0, colon);
  return true;
}

std::map<std::string, std::string> Config::process_env() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("GATEHOUSE_", 0) == 0)
      out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

std::string Config::resolve(const std::string& p) const {
  std::filesystem::path fp(p);
  if (fp.is_absolute()) return p;
  return (std::filesystem::path(config_dir) / fp).string();
}

}  // namespace gh::config

namespace gh::config {

const char* existing_email_name(ExistingEmail e) { return name_in(kExistingEmail, e); }

const char* rate_class_name(RateClass c) { return name_in(kRateClasses, c); }

bool parse_rate_class(std::string_view name, RateClass& out) {
  for (auto& [value, n] : kRateClasses)
    if (name == n) {
      out = value;
      return true;
    }
  return false;
}

int RateLimit::ip_per_minute(RateClass c) const {
  switch (c) {
    case RateClass::login: return login_ip;
    case RateClass::register_: return register_ip;
    case RateClass::refresh: return refresh_ip;
    case RateClass::link: return link_ip;
    case RateClass::standard: break;
  }
  return default_ip;
}

std::string Config::audit_key_path() const {
  if (!audit.key_file.empty()) return audit.key_file;
  auto p = store.path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p + ".audit-key";
}

}  // namespace gh::config
