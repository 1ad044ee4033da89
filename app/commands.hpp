// The gatehouse subcommands. Each returns the process exit code.
#pragma once

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

}  // namespace gh::app
