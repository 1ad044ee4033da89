#include "app/commands.hpp"

#include "actors/actors.hpp"
#include "actors/api.hpp"
#include "actors/keystore.hpp"
#include "domain/clock.hpp"
#include "domain/email.hpp"
#include "http/metrics_server.hpp"
#include "http/server.hpp"
#include "store/lmdb/backend.hpp"
#include "store/postgres/backend.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"
#include "telemetry/trace.hpp"

#include <csignal>
#include <filesystem>
#include <iostream>
#include <pthread.h>
#include <pwd.h>
#include <unistd.h>

namespace gh::app {
namespace {
constexpr const char* kDefaultConfig = "config/gatehouse.toml";
}  // namespace

// Loads the configuration with the command line on top; prints why not.
bool load_config(const CommonOptions& o, config::Config& cfg) {
  std::string path = o.config;
  if (path.empty() && std::filesystem::exists(kDefaultConfig)) path = kDefaultConfig;
  try {
    cfg = config::Config::load(path, config::Config::process_env());
  } catch (const config::ConfigError& e) {
    std::cerr << "gatehouse: " << e.what() << "\n";
    return false;
  }
  if (!o.data.empty()) cfg.store.path = o.data;
  if (!o.listen.empty()) cfg.server.listen = o.listen;
  return true;
}

// The roles file, or the built-in roles when the file does not exist.
std::shared_ptr<const domain::Roles> load_roles(const config::Config& cfg) {
  auto path = cfg.resolve(cfg.roles.file);
  if (!std::filesystem::exists(path)) return std::make_shared<const domain::Roles>(domain::Roles::builtin());
  try {
    return std::make_shared<const domain::Roles>(domain::Roles::load(path));
  } catch (const std::exception& e) {
    telemetry::log_error("cannot load roles", {{"error", e.what()}});
    return nullptr;
  }
}

static bool on_postgres(const config::Config& cfg) { return cfg.store.backend == config::StoreBackend::postgres; }

// The engine the configuration names (the one place that knows them all).
static std::unique_ptr<store::Backend> open_store(const config::Config& cfg, bool read_only = false) {
  store::Status st;
  std::unique_ptr<store::Backend> db;
  if (on_postgres(cfg)) {
    store::postgres::Options o;
    o.url = cfg.store.url;
    o.pool_size = cfg.store.pool_size;
    o.statement_timeout_ms = cfg.store.statement_timeout_ms;
    o.lock_timeout_ms = cfg.store.lock_timeout_ms;
    o.connect_timeout_s = cfg.store.connect_timeout_s;
    o.max_staleness_ms = cfg.store.max_staleness_ms;
    db = store::postgres::open(o, st);
  } else {
    db = store::lmdb::open({cfg.store.path, cfg.store.map_size_mb << 20, read_only}, st);
  }
  if (!db) telemetry::log_error("cannot open store", {{"error", st.message()}});
  return db;
}

// What a log line or announcement says of the store: never the URL (it may
// hold the password).
static std::string store_label(const config::Config& cfg) {
  return on_postgres(cfg) ? std::string("postgres") : cfg.store.path;
}

// A PostgreSQL store is only ever changed by `gatehouse migrate`: anything
// but this build's schema is refused, with what to do.
static bool postgres_schema_ok(store::Backend& db, std::string& why) {
  int version = 0;
  auto st = db.schema_version(version);
  if (!st.ok()) {
    why = st.message();
    if (why.find("gatehouse migrate") == std::string::npos) why += " (is the schema there? run `gatehouse migrate`)";
    return false;
  }
  if (version != store::kSchemaVersion) {
    why = "the PostgreSQL store has schema " + std::to_string(version) + ", this build uses " +
          std::to_string(store::kSchemaVersion) + (version == 0 ? " (never migrated)" : "") +
          ": run `gatehouse migrate` (serve never migrates PostgreSQL)";
    return false;
  }
  return true;
}

std::string audit_key_path(const config::Config& cfg, std::string& why) {
  namespace fs = std::filesystem;
  auto path = cfg.audit_key_path();
  std::error_code ec;
  auto dir = fs::weakly_canonical(fs::absolute(path, ec).parent_path(), ec);
  if (!ec && dir == fs::weakly_canonical(fs::absolute(cfg.store.path, ec), ec)) {
    why = "audit.key_file '" + path + "' must not be inside the store folder";
    return {};
  }
  return path;
}

domain::AuditEvent operator_event(std::string type, std::string subject_user_id, nlohmann::json details) {
  std::string who;
  if (const passwd* pw = getpwuid(getuid())) who = pw->pw_name;
  if (who.empty()) who = "uid" + std::to_string(getuid());
  ClientInfo client;
  client.user_agent = "gatehouse-cli";
  auto e = audit_event(std::move(type), client, "cli:" + who, std::move(subject_user_id), std::move(details));
  e.time = now_s();
  return e;
}

// The common start of the server and the offline commands that write:
// config, logging, the store, its audit key.
std::unique_ptr<store::Backend> prepare(const CommonOptions& o, config::Config& cfg, int& exit_code) {
  exit_code = 2;
  if (!load_config(o, cfg)) return nullptr;
  telemetry::init(cfg.log.level);
  std::string why;
  auto key_path = audit_key_path(cfg, why);
  if (key_path.empty()) {
    telemetry::log_error("bad configuration", {{"error", why}});
    return nullptr;
  }
  exit_code = 1;
  auto db = open_store(cfg);
  if (!db) return nullptr;
  if (on_postgres(cfg)) {
    if (!postgres_schema_ok(*db, why)) {
      telemetry::log_error("store schema differs from this build; run `gatehouse migrate`", {{"error", why}});
      return nullptr;
    }
    if (!open_audit_key(*db, key_path, why)) {
      telemetry::log_error("cannot open the audit key", {{"error", why}});
      return nullptr;
    }
    return db;
  }
  int version = 0;
  auto st = db->schema_version(version);
  if (st.ok() && version == 0) st = db->migrate();  // a new store: create the layout
  if (!st.ok()) {
    telemetry::log_error("cannot initialise store", {{"error", st.to_string()}});
    return nullptr;
  }
  if (version != 0 && version != store::kSchemaVersion) {
    telemetry::log_error("store schema differs from this build; run `gatehouse migrate`",
                         {{"store_schema", version}, {"build_schema", store::kSchemaVersion}});
    return nullptr;
  }
  if (!open_audit_key(*db, key_path, why)) {
    telemetry::log_error("cannot open the audit key", {{"error", why}});
    return nullptr;
  }
  return db;
}

int with_read(const CommonOptions& o,
              const std::function<int(const config::Config&, const store::ReadTxn&)>& fn) {
  config::Config cfg;
  if (!load_config(o, cfg)) return 2;
  telemetry::init(cfg.log.level);
  std::unique_ptr<store::Backend> db;
  if (on_postgres(cfg)) {
    db = open_store(cfg);
    if (!db) return 1;
    std::string why;
    if (!postgres_schema_ok(*db, why)) {
      std::cerr << "gatehouse: " << why << "\n";
      return 2;
    }
  } else {
    // Never create a store here: a mistyped --data must not look like an
    // empty, intact one.
    if (!std::filesystem::exists(std::filesystem::path(cfg.store.path) / "data.mdb")) {
      std::cerr << "gatehouse: no store at '" << cfg.store.path << "' (no data.mdb there); check --data or store.path\n";
      return 2;
    }
    db = open_store(cfg, true);
    if (!db) return 1;
    int version = 0;
    if (auto st = db->schema_version(version); !st.ok()) {
      std::cerr << "gatehouse: cannot read the store: " << st.to_string() << "\n";
      return 1;
    }
    if (version != store::kSchemaVersion) {
      std::cerr << "gatehouse: the store at '" << cfg.store.path << "' has schema " << version << ", this build reads "
                << store::kSchemaVersion << (version == 0 ? " (never initialised)" : "; run `gatehouse migrate`")
                << "\n";
      return 2;
    }
  }
  store::Status st;
  auto t = db->read(st);
  if (!t) {
    std::cerr << "gatehouse: cannot read the store: " << st.to_string() << "\n";
    return 1;
  }
  return fn(cfg, *t);
}

// Start-up check of the audit chain's tail (the last records, and the head
// against the file sink's anchor): warns, does not refuse to start.
static void check_audit_tail(const config::Config& cfg, store::Backend& db) {
  constexpr std::uint64_t kTail = 1000;
  std::string why;
  AuditKey key;
  if (!read_audit_key(cfg.audit_key_path(), key, why)) return;  // prepare() has just opened it
  store::Status st;
  auto t = db.read(st);
  std::uint64_t head = 0;
  std::string head_hash;
  if (!t || !t->audit_head(head, head_hash).ok()) return;
  std::uint64_t last = 0;
  std::string problem;
  bool ok = check_audit_chain(*t, &key, head > kTail ? head - kTail + 1 : 1, last, problem);
  if (ok && !cfg.audit.file.empty()) ok = check_audit_anchor(*t, cfg.audit.file, problem);
  if (!ok)
    telemetry::log_warn("audit chain tail does not verify; run `gatehouse audit verify`", {{"problem", problem}});
}

namespace {

// SIGTERM and SIGINT are blocked in every thread (the mask is inherited by
// the threads CAF, Pistache and spdlog start) and taken by sigwait() in main.
sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

int serve(const CommonOptions& o) {
  auto signals = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  config::Config cfg;
  int code = 0;
  auto db = prepare(o, cfg, code);
  if (!db) return code;
  check_audit_tail(cfg, *db);
  std::string why;
  auto roles = load_roles(cfg);
  if (!roles) return 2;
  auto services = Services::start(cfg, *db, roles, why);
  if (!services) {
    telemetry::log_error("cannot start actors", {{"error", why}});
    return 1;
  }
  telemetry::set_store_fill_source([store = db.get()](std::uint64_t& used, std::uint64_t& map) {
    store::Fill f;
    bool ok = store->fill(f).ok();
    used = f.used_bytes;
    map = f.map_bytes;
    return ok;
  });
  http::Server server(cfg, *db, *services, roles);
  if (!server.start(cfg.server.listen, why)) {
    telemetry::log_error("cannot start HTTP server", {{"error", why}});
    services->stop();
    return 1;
  }
  http::MetricsServer metrics;
  if (!cfg.metrics.listen.empty() && !metrics.start(cfg.metrics.listen, why)) {
    telemetry::log_error("cannot start the metrics listener", {{"error", why}});
    server.stop();
    services->stop();
    return 1;
  }
  telemetry::start_exporter(cfg.otlp.endpoint);
  nlohmann::json bound = {{"address", server.address()}, {"store", store_label(cfg)}};
  if (!cfg.metrics.listen.empty()) bound["metrics"] = metrics.address();
  telemetry::announce("listening", std::move(bound));

  int sig = 0;
  sigwait(&signals, &sig);
  telemetry::announce("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  bool drained = server.drain(cfg.server.shutdown_grace_ms);
  server.stop();
  metrics.stop();
  services->stop();
  services.reset();
  telemetry::set_store_fill_source(nullptr);
  db.reset();  // closes the store
  telemetry::stop_exporter();
  telemetry::announce("stopped", {{"drained", drained}});
  telemetry::shutdown();
  return 0;
}

int migrate(const CommonOptions& o) {
  config::Config cfg;
  if (!load_config(o, cfg)) return 2;
  telemetry::init(cfg.log.level);
  auto db = open_store(cfg);
  if (!db) return 1;
  int from = 0;
  std::vector<std::string> notes;
  auto normalize = [](std::string_view email) {
    std::string ignored;
    return domain::normalize_email(email, ignored);
  };
  // A PostgreSQL schema of an older build reports no version (the tables
  // are behind): migrate() brings it forward all the same.
  auto st = db->schema_version(from);
  if (!st.ok() && on_postgres(cfg) && st.is_unavailable() && st.message().find("gatehouse migrate") != std::string::npos) {
    from = -1;
    st = store::Status::OK();
  }
  if (st.ok()) st = db->migrate(normalize, &notes);
  if (!st.ok()) {
    telemetry::log_error("migration failed", {{"error", st.message().empty() ? st.to_string() : st.message()}});
    return 1;
  }
  for (auto& n : notes) telemetry::log_warn("migration", {{"note", n}});
  telemetry::log_info("store migrated",
                      {{"from", from}, {"to", store::kSchemaVersion}, {"store", store_label(cfg)}});
  telemetry::shutdown();
  return 0;
}

int keys_rotate(const CommonOptions& o) {
  config::Config cfg;
  int code = 0;
  auto db = prepare(o, cfg, code);
  if (!db) return code;
  std::string why;
  KeyRotation r;
  // Twice the servers' reload time: every server publishes the key before any signs with it.
  bool ok = rotate_keys(*db, std::int64_t{cfg.tokens.access_ttl_s} + cfg.tokens.leeway_s,
                        2 * std::int64_t{cfg.tokens.key_reload_s}, r, why,
                        [&](store::WriteTxn& t, const KeyRotation& k) {
                          auto e = operator_event("signing_key_rotated", "",
                                                  {{"kid", k.kid}, {"retired_kid", k.retired_kid},
                                                   {"signs_from", k.signs_from}, {"dropped_kids", k.dropped}});
                          return t.append_audit(e.canonical());
                        });
  if (!ok) {
    telemetry::log_error("key rotation failed", {{"error", why}});
    return 1;
  }
  telemetry::log_info("signing key rotated; running servers publish it now and sign with it from signs_from",
                      {{"kid", r.kid}, {"retired_kid", r.retired_kid}, {"signs_from", r.signs_from},
                       {"dropped_kids", r.dropped}});
  telemetry::shutdown();
  return 0;
}

}  // namespace gh::app
