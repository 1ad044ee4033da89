// A throwaway PostgreSQL 15 cluster for tests: initdb in a temporary folder,
// the server listening only on a Unix socket in that folder, stopped (SIGINT,
// a fast shutdown) and the folder removed at the end. initdb and postgres
// refuse to run as root, so under root both run as the `postgres` user. The
// server also gets SIGINT should the test process die first (PR_SET_PDEATHSIG),
// so nothing is left running.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace gh::testing {

class PgCluster {
 public:
  PgCluster() = default;
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;
  ~PgCluster() { stop(); }

  /// initdb, start, wait until it answers; false with `why`.
  bool start(std::string& why);
  /// Fast shutdown, waits for the server, removes the folder.
  void stop();
  bool running() const { return pid_ > 0; }

  /// The libpq URL of database `db` (over the socket, as user postgres).
  std::string url(const std::string& db) const;
  /// Runs `sql` on the `postgres` database (autocommit, one statement: CREATE
  /// DATABASE cannot run in a transaction); false with `why`.
  bool admin(const std::string& sql, std::string& why) const;
  /// A new, empty database with a unique name (from `template_db` when
  /// given); its name, or "" with `why`.
  std::string create_database(const std::string& prefix, std::string& why, const std::string& template_db = "");

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int next_db_ = 0;
};

/// The cluster of this test process (started by the test main).
PgCluster& cluster();

}  // namespace gh::testing
