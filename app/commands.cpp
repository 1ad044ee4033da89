#include "app/commands.hpp"

#include "actors/api.hpp"
#include "actors/keystore.hpp"
#include "http/server.hpp"
#include "telemetry/log.hpp"

#include <csignal>
#include <filesystem>
#include <iostream>
#include <pthread.h>

namespace gh::app {
namespace {

constexpr const char* kDefaultConfig = "config/gatehouse.toml";

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

std::unique_ptr<store::Store> open_store(const config::Config& cfg) {
  int rc = 0;
  std::string why;
  auto db = store::Store::open({cfg.store.path, cfg.store.map_size_mb << 20}, rc, why);
  if (!db) telemetry::log_error("cannot open store", {{"error", why}});
  return db;
}

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
  if (!load_config(o, cfg)) return 2;
  telemetry::init(cfg.log.level);

  auto db = open_store(cfg);
  if (!db) return 1;
  int version = db->schema_version();
  if (version != 0 && version != store::kSchemaVersion) {
    telemetry::log_error("store schema differs from this build; run `gatehouse migrate`",
                         {{"store_schema", version}, {"build_schema", store::kSchemaVersion}});
    return 1;
  }
  std::string why;
  if (version == 0 && !db->migrate(why)) {  // a new store: create the layout
    telemetry::log_error("cannot initialise store", {{"error", why}});
    return 1;
  }
  auto services = Services::start(cfg, *db, why);
  if (!services) {
    telemetry::log_error("cannot start actors", {{"error", why}});
    return 1;
  }
  http::Server server(cfg, *db, *services);
  if (!server.start(cfg.server.listen, why)) {
    telemetry::log_error("cannot start HTTP server", {{"error", why}});
    services->stop();
    return 1;
  }
  telemetry::log_info("listening", {{"address", server.address()}, {"store", cfg.store.path}});

  int sig = 0;
  sigwait(&signals, &sig);
  telemetry::log_info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  bool drained = server.drain(cfg.server.shutdown_grace_ms);
  server.stop();
  services->stop();
  services.reset();
  db.reset();  // closes the LMDB environment
  telemetry::log_info("stopped", {{"drained", drained}});
  telemetry::shutdown();
  return 0;
}

int migrate(const CommonOptions& o) {
  config::Config cfg;
  if (!load_config(o, cfg)) return 2;
  telemetry::init(cfg.log.level);
  auto db = open_store(cfg);
  if (!db) return 1;
  int from = db->schema_version();
  std::string why;
  if (!db->migrate(why)) {
    telemetry::log_error("migration failed", {{"error", why}});
    return 1;
  }
  telemetry::log_info("store migrated", {{"from", from}, {"to", store::kSchemaVersion}});
  telemetry::shutdown();
  return 0;
}

int keys_rotate(const CommonOptions& o) {
  config::Config cfg;
  if (!load_config(o, cfg)) return 2;
  telemetry::init(cfg.log.level);
  auto db = open_store(cfg);
  if (!db) return 1;
  std::string why;
  if (db->schema_version() != store::kSchemaVersion) {
    telemetry::log_error("store is not at this build's schema; run `gatehouse migrate`");
    return 1;
  }
  auto kid = rotate_keys(*db, why);
  if (kid.empty()) {
    telemetry::log_error("key rotation failed", {{"error", why}});
    return 1;
  }
  telemetry::log_info("signing key rotated; restart running servers to sign with it",
                      {{"kid", kid}});
  telemetry::shutdown();
  return 0;
}

}  // namespace gh::app
