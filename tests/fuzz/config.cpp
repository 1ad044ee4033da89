// Fuzzes loading the configuration: Config::load (config/gatehouse.toml plus
// GATEHOUSE_* environment overrides) and Roles::load (config/roles.toml) on
// the same text. The input is "<TOML text>[\0<KEY=value lines>]", the lines
// being the environment; the text reaches the loaders as a file (a memfd).
//
// Properties: loading either succeeds or throws the documented exception
// (ConfigError; std::runtime_error for roles), never anything else; a loaded
// config is within its documented limits, and every role a matrix names exists.
#include "domain/roles.hpp"
#include "config/config.hpp"
#include "fuzz_check.hpp"

#include <algorithm>

#include <sys/mman.h>
#include <unistd.h>

namespace {

// The path of an in-memory file holding `text`.
std::string as_file(std::string_view text) {
  static const int fd = memfd_create("fuzz.toml", 0);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
  return "/proc/self/fd/" + std::to_string(fd);
}

std::map<std::string, std::string> env_of(std::string_view lines) {
  std::map<std::string, std::string> env;
  while (!lines.empty()) {
    auto line = lines.substr(0, lines.find('\n'));
    lines.remove_prefix(std::min(lines.size(), line.size() + 1));
    auto eq = line.find('=');
    if (eq != std::string_view::npos) env[std::string(line.substr(0, eq))] = line.substr(eq + 1);
  }
  return env;
}

void check(const gh::config::Config& c) {
  FUZZ_CHECK(c.server.max_json_depth >= 2 && c.server.max_json_depth <= 128);
  FUZZ_CHECK(c.server.max_body_bytes >= 1024);
  FUZZ_CHECK(c.password.min_length <= c.password.max_bytes);
  FUZZ_CHECK(!c.tokens.issuer.empty() && !c.tokens.audience.empty());
  FUZZ_CHECK(c.log.level == "debug" || c.log.level == "info" || c.log.level == "warn" ||
             c.log.level == "error");
}

void check(const gh::domain::Roles& roles) {
  for (const auto& [name, role] : roles.all())
    for (const auto* targets : {&role.create, &role.update, &role.deactivate})
      for (const auto& t : *targets) FUZZ_CHECK(t == "*" || roles.exists(t));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto input = as_text(data, size);
  auto nul = input.find('\0');
  auto path = as_file(input.substr(0, nul));
  auto env = nul == std::string_view::npos ? std::map<std::string, std::string>() : env_of(input.substr(nul + 1));
  try {
    check(gh::config::Config::load(path, env));
  } catch (const gh::config::ConfigError&) {
  }
  try {
    check(gh::domain::Roles::load(path));
  } catch (const std::runtime_error&) {
  }
  return 0;
}
