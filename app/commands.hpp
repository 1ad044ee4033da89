// The gatehouse subcommands. Each returns the process exit code.
#pragma once

#include "actors/keystore.hpp"
#include "domain/audit.hpp"
#include "domain/roles.hpp"
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
/// Walks the audit chain (MACs under the audit key) and, given `anchor` (the
/// audit.file sink), checks the store's head is not behind the sink's last
/// record; exit 1 with the first broken link (or a store that claims to be
/// unkeyed past the key file's keyed_from), 2 without the key. A non-empty
/// chain without a key file is refused (2) unless `unkeyed` (--unkeyed: a
/// store from before the key; only the unkeyed links are checked).
int audit_verify(const CommonOptions& o, const std::string& anchor, bool unkeyed);
/// The audit records after `after` as JSON lines on stdout.
int audit_export(const CommonOptions& o, std::uint64_t after);

// Shared start-up steps (commands.cpp).
bool load_config(const CommonOptions& o, config::Config& cfg);
std::shared_ptr<const domain::Roles> load_roles(const config::Config& cfg);
/// Config, logging, the store (created when new) and its audit key, for the
/// server and the offline commands that write; null with the exit code to return.
std::unique_ptr<store::Backend> prepare(const CommonOptions& o, config::Config& cfg, int& exit_code);
/// An offline read-only command: opens an existing store read-only (exit 2
/// when there is none), runs `fn` with it and a read transaction and returns
/// its exit code (or the set-up's on failure).
int with_read(const CommonOptions& o,
              const std::function<int(const config::Config&, const store::ReadTxn&)>& fn);

/// The audit key file of `cfg`; empty with `why` when it lies inside the store folder.
std::string audit_key_path(const config::Config& cfg, std::string& why);
/// An audit event done by the operator at this shell: actor_user_id is
/// "cli:<unix user name>" (the real uid's), user_agent "gatehouse-cli".
domain::AuditEvent operator_event(std::string type, std::string subject_user_id,
                                 nlohmann::json details = nlohmann::json::object());
/// Walks the chain from record `from` (1: all of it; a later record: a tail
/// check that trusts the link into it) to the head. `key` null: no key, only
/// records before a keying can be checked. `last` gets the last seq checked.
bool check_audit_chain(const store::ReadTxn& t, const AuditKey* key, std::uint64_t from,
                       std::uint64_t& last, std::string& problem);
/// Checks the store against the last record of a JSON-lines sink file:
/// the store must hold that record, with the same MAC. No file or an empty
/// one passes.
bool check_audit_anchor(const store::ReadTxn& t, const std::string& sink_file,
                        std::string& problem);

}  // namespace gh::app
