// gatehouse: the executable and its subcommands.
#include "app/commands.hpp"

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
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
      "rotate", "make a new signing key; the previous one stays in the JWKS for verification");
  common(rotate);

  CLI11_PARSE(cli, argc, argv);
  if (serve->parsed()) return gh::app::serve(o);
  if (migrate->parsed()) return gh::app::migrate(o);
  if (rotate->parsed()) return gh::app::keys_rotate(o);
  return 2;
}
