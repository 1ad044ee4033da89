// The gatehouse subcommands. Each returns the process exit code.
#pragma once

#include "actors/logic/roles.hpp"
#include "config/config.hpp"
#include "store/store.hpp"

#include <functional>
#include <memory>
#include <string>

namespace gh::app {

/// Options every subcommand that touches the store accepts.
struct CommonOptions {
  std::string config;  ///< --config FILE ("" = config/gatehouse.toml if present, else defaults)
  std::string data;    ///< --data DIR (overrides store.path)
  std::string listen;  ///< --listen HOST:PORT (serve only; overrides server.listen)
};

int serve(const CommonOptions& o);
int migrate(const CommonOptions& o);
int keys_rotate(const CommonOptions& o);

/// Options of `user …` and `seed`.
struct UserOptions {
  std::string email;
  std::string role;
  std::string file;  ///< import
};
int seed(const CommonOptions& o);
int user_create(const CommonOptions& o, const UserOptions& u);
int user_set_role(const CommonOptions& o, const UserOptions& u);
int user_deactivate(const CommonOptions& o, const UserOptions& u);
int user_list(const CommonOptions& o, const UserOptions& u);
int import_users(const CommonOptions& o, const UserOptions& u);
/// Walks the audit chain; exit 1 with the first broken link.
int audit_verify(const CommonOptions& o);
/// The audit records after `after` as JSON lines on stdout.
int audit_export(const CommonOptions& o, std::uint64_t after);

// Shared start-up steps (commands.cpp).
bool load_config(const CommonOptions& o, config::Config& cfg);
std::shared_ptr<const logic::Roles> load_roles(const config::Config& cfg);
/// Config, logging and the store, for the offline commands; null with the
/// exit code to return.
std::unique_ptr<store::Store> prepare(const CommonOptions& o, config::Config& cfg, int& exit_code);
/// An offline read-only command: runs `fn` with the store and a read
/// transaction and returns its exit code (or the set-up's on failure).
int with_read(const CommonOptions& o, const std::function<int(store::Store&, const store::Txn&)>& fn);

}  // namespace gh::app
