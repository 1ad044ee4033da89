// Inside the PostgreSQL engine: the schema migrations, the SQL files of
// store/postgres/migrations/ compiled into the binary (embed_migrations.cmake).
#pragma once

#include <vector>

namespace gh::store::postgres {

struct Migration {
  int version;       ///< 1, 2, … (the file's NNNN)
  const char* name;  ///< "0001_init.sql"
  const char* sql;   ///< the file's text, run as one simple query
};

/// Every migration of this build, in version order (version i at index i-1).
const std::vector<Migration>& migrations();

}  // namespace gh::store::postgres
