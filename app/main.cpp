// gatehouse: the executable and its subcommands.
#include "app/commands.hpp"
#include "domain/clock.hpp"

#include <CLI/CLI.hpp>
#include <sodium.h>

#include <cstdlib>

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  CLI::App cli{"Gatehouse: a self-hosted authentication and user-profile server"};
  cli.require_subcommand(1);
  gh::app::CommonOptions o;
  auto common = [&o](CLI::App* sub) {
    sub->add_option("--config", o.config, "TOML config file (default: config/gatehouse.toml if present)")
        ->check(CLI::ExistingFile);
    sub->add_option("--data", o.data, "folder of the LMDB store (overrides store.path)");
  };

  auto* serve = cli.add_subcommand("serve", "serve HTTP until SIGTERM or SIGINT");
  common(serve);
  serve->add_option("--listen", o.listen, "HOST:PORT to listen on; port 0 picks a free port");

  auto* migrate = cli.add_subcommand("migrate", "bring the store to this build's schema version");
  common(migrate);

  auto* keys = cli.add_subcommand("keys", "signing keys");
  keys->require_subcommand(1);
  auto* rotate = keys->add_subcommand(
      "rotate", "make a new signing key; retired keys stay in the JWKS until every token they signed has expired");
  common(rotate);

  auto* seed = cli.add_subcommand(
      "seed", "create the first admin (GATEHOUSE_ADMIN_EMAIL, default admin@localhost; "
              "password from GATEHOUSE_ADMIN_PASSWORD or generated and printed once)");
  common(seed);

  gh::app::UserOptions u;
  auto* user = cli.add_subcommand("user", "manage accounts");
  user->require_subcommand(1);
  auto* create = user->add_subcommand(
      "create", "create an account (password from GATEHOUSE_USER_PASSWORD or generated and printed once)");
  common(create);
  create->add_option("--email", u.email, "email")->required();
  create->add_option("--role", u.role, "role (default: user)");
  auto* set_role = user->add_subcommand("set-role", "change an account's role");
  common(set_role);
  set_role->add_option("--email", u.email, "email")->required();
  set_role->add_option("--role", u.role, "new role")->required();
  auto* deactivate = user->add_subcommand("deactivate", "deactivate an account; revokes its sessions and API tokens");
  common(deactivate);
  deactivate->add_option("--email", u.email, "email")->required();
  auto* list = user->add_subcommand("list", "list accounts as JSON lines; read-only");
  common(list);
  list->add_option("--role", u.role, "only this role");

  auto* import = cli.add_subcommand(
      "import", "import users from JSON lines {email, password_hash, role?, full_name?, username?}; "
                "bcrypt hashes are upgraded to Argon2id at the user's next login");
  common(import);
  import->add_option("FILE", u.file, "JSON-lines file")->required()->check(CLI::ExistingFile);

  auto* audit = cli.add_subcommand("audit", "the tamper-evident audit log");
  audit->require_subcommand(1);
  auto* verify = audit->add_subcommand(
      "verify", "walk the MAC chain (needs audit.key_file) and report the first broken link; read-only");
  common(verify);
  std::string anchor;
  verify->add_option("--anchor", anchor,
                     "the audit.file sink (JSON lines): fail when the store's head is behind its last record");
  bool unkeyed = false;
  verify->add_flag("--unkeyed", unkeyed,
                   "accept a chain without an audit key file (a store from before the key): only the unkeyed "
                   "links are checked, which anyone who can write the store can recompute");
  std::uint64_t after = 0;
  auto* exp = audit->add_subcommand("export", "write the audit records as JSON lines; read-only");
  common(exp);
  exp->add_option("--after", after, "only records after this sequence number");

  CLI11_PARSE(cli, argc, argv);
  // Tests move every command's clock (token lifetimes, key schedules) with a file.
  if (const char* f = std::getenv("GATEHOUSE_FOR_TEST_CLOCK_FILE")) gh::set_clock_offset_file_for_test(f);
  if (verify->parsed()) return gh::app::audit_verify(o, anchor, unkeyed);
  if (exp->parsed()) return gh::app::audit_export(o, after);
  if (seed->parsed()) return gh::app::seed(o);
  if (create->parsed()) return gh::app::user_create(o, u);
  if (set_role->parsed()) return gh::app::user_set_role(o, u);
  if (deactivate->parsed()) return gh::app::user_deactivate(o, u);
  if (list->parsed()) return gh::app::user_list(o, u);
  if (import->parsed()) return gh::app::import_users(o, u);
  if (serve->parsed()) return gh::app::serve(o);
  if (migrate->parsed()) return gh::app::migrate(o);
  if (rotate->parsed()) return gh::app::keys_rotate(o);
  return 2;
}
