#include "tests/support/pg_cluster.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace gh::testing {
namespace {

constexpr const char* kBin = "/usr/lib/postgresql/15/bin/";

// In the child: become `postgres` when root, send output to `log`, exec.
[[noreturn]] void exec_as_postgres(const std::vector<std::string>& argv, const std::string& log, bool die_with_parent) {
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("postgres");
    if (!pw || initgroups("postgres", pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
      _exit(126);
    setenv("HOME", pw->pw_dir, 1);
  }
  // After the uid change (which clears it): SIGINT when the test dies.
  if (die_with_parent) prctl(PR_SET_PDEATHSIG, SIGINT);
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  int null = ::open("/dev/null", O_RDONLY);
  if (null >= 0) dup2(null, 0);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

std::string read_file(const std::string& path) {
  std::string out;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    std::fclose(f);
  }
  return out;
}

}  // namespace

bool PgCluster::start(std::string& why) {
  char tmpl[] = "/tmp/gh-pg-XXXXXX";
  if (!mkdtemp(tmpl)) {
    why = "mkdtemp failed";
    return false;
  }
  dir_ = tmpl;
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("postgres");
    if (!pw) {
      why = "running as root and there is no postgres user (install postgresql-15)";
      return false;
    }
    if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      why = "cannot chown " + dir_;
      return false;
    }
  }
  const std::string data = dir_ + "/data", log = dir_ + "/log";
  pid_t p = fork();
  if (p == 0)
    exec_as_postgres({std::string(kBin) + "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                      "--locale=C", "--no-sync"},
                     log, false);
  int status = 0;
  waitpid(p, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    why = "initdb failed (exit " + std::to_string(WEXITSTATUS(status)) + "): " + read_file(log);
    return false;
  }
  pid_ = fork();
  if (pid_ == 0)
    exec_as_postgres({std::string(kBin) + "postgres", "-D", data, "-c", "listen_addresses=", "-c",
                      "unix_socket_directories=" + dir_, "-c", "fsync=off", "-c", "full_page_writes=off", "-c",
                      "max_connections=200", "-c", "shared_buffers=32MB"},
                     log, true);
  // Ready when it answers on its socket.
  const std::string probe = url("postgres");
  for (int i = 0; i < 300; ++i) {
    if (PQping(probe.c_str()) == PQPING_OK) return true;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      why = "postgres exited: " + read_file(log);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  why = "postgres did not answer within 30 s: " + read_file(log);
  stop();
  return false;
}

void PgCluster::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGINT);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
}

std::string PgCluster::url(const std::string& db) const {
  return "postgresql:///" + db + "?host=" + dir_ + "&user=postgres";
}

bool PgCluster::admin(const std::string& sql, std::string& why) const {
  PGconn* c = PQconnectdb(url("postgres").c_str());
  bool ok = PQstatus(c) == CONNECTION_OK;
  if (!ok) why = PQerrorMessage(c);
  if (ok) {
    PGresult* r = PQexec(c, sql.c_str());
    ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) why = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return ok;
}

std::string PgCluster::create_database(const std::string& prefix, std::string& why, const std::string& template_db) {
  std::string name = prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(next_db_++);
  std::string sql = "CREATE DATABASE " + name + (template_db.empty() ? "" : " TEMPLATE " + template_db);
  return admin(sql, why) ? name : std::string();
}

PgCluster& cluster() {
  static PgCluster c;
  return c;
}

}  // namespace gh::testing
