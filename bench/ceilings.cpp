// The physical ceilings `make bench` compares Gatehouse against, measured on
// this machine in the same run (the brief's PERFORMANCE.md):
//   hash-rate    raw crypto_pwhash_str_verify calls/s at the server's Argon2id
//                parameters, on as many threads as the hashing pool has;
//   commit-rate  synced LMDB commits/s of one small put each, with the same
//                environment flags as the store (store/lmdb/env.cpp);
//   hash         prints one Argon2id PHC string for a password, so the bench
//                can seed many users with a real hash at the real parameters
//                without paying one hash per user;
//   http-hello   Pistache answering 200 from its handler and nothing else, on
//                as many threads as the server uses: the framework's own
//                ceiling, shown beside nginx's (serves until killed).
// Output is one JSON object on stdout. Bench-only: not built by `make build`.
#include <lmdb.h>
#include <pistache/endpoint.h>
#include <sodium.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int usage() {
  std::fprintf(stderr,
               "usage: bench_ceilings hash-rate THREADS OPS MEM_KIB SECONDS\n"
               "       bench_ceilings commit-rate DIR SECONDS\n"
               "       bench_ceilings hash PASSWORD OPS MEM_KIB\n"
               "       bench_ceilings http-hello PORT THREADS\n");
  return 2;
}

bool hash(const char* password, unsigned long long ops, std::size_t mem_kib, char (&out)[crypto_pwhash_STRBYTES]) {
  return crypto_pwhash_str_alg(out, password, std::strlen(password), ops, mem_kib * 1024,
                               crypto_pwhash_ALG_ARGON2ID13) == 0;
}

int hash_rate(int threads, unsigned long long ops, std::size_t mem_kib, double seconds) {
  char phc[crypto_pwhash_STRBYTES];
  const char* pw = "correct horse battery staple";
  if (!hash(pw, ops, mem_kib, phc)) return 1;
  std::atomic<long> done{0};
  std::atomic<bool> failed{false};
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&] {
      while (Clock::now() < deadline) {
        if (crypto_pwhash_str_verify(phc, pw, std::strlen(pw)) != 0) failed = true;
        ++done;
      }
    });
  for (auto& t : pool) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("{\"threads\": %d, \"verifies\": %ld, \"seconds\": %.3f, \"rate\": %.2f}\n", threads, done.load(),
              elapsed, done.load() / elapsed);
  return failed ? 1 : 0;
}

int commit_rate(const char* dir, double seconds) {
  ::mkdir(dir, 0700);
  MDB_env* env = nullptr;
  MDB_dbi dbi;
  int rc = mdb_env_create(&env);
  if (!rc) rc = mdb_env_set_mapsize(env, std::size_t{64} << 20);
  if (!rc) rc = mdb_env_open(env, dir, MDB_NOTLS, 0600);
  if (rc) {
    std::fprintf(stderr, "lmdb: %s\n", mdb_strerror(rc));
    return 1;
  }
  long commits = 0;
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration<double>(seconds);
  while (!rc && Clock::now() < deadline) {
    MDB_txn* txn = nullptr;
    rc = mdb_txn_begin(env, nullptr, 0, &txn);
    if (!rc) rc = mdb_dbi_open(txn, nullptr, 0, &dbi);
    std::string key = "k" + std::to_string(commits % 1000), value(64, 'v');
    MDB_val k{key.size(), key.data()}, v{value.size(), value.data()};
    if (!rc) rc = mdb_put(txn, dbi, &k, &v, 0);
    if (!rc) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    ++commits;
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  mdb_env_close(env);
  if (rc) {
    std::fprintf(stderr, "lmdb: %s\n", mdb_strerror(rc));
    return 1;
  }
  std::printf("{\"commits\": %ld, \"seconds\": %.3f, \"rate\": %.2f}\n", commits, elapsed, commits / elapsed);
  return 0;
}

class Hello : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(Hello)
  void onRequest(const Pistache::Http::Request&, Pistache::Http::ResponseWriter w) override {
    // Pistache answers "Connection: close" unless told otherwise; wrk and the
    // server keep connections alive.
    w.headers().remove<Pistache::Http::Header::Connection>();
    w.headers().add<Pistache::Http::Header::Connection>(Pistache::Http::ConnectionControl::KeepAlive);
    w.send(Pistache::Http::Code::Ok, "ok");
  }
};

int http_hello(int port, int threads) {
  Pistache::Http::Endpoint server(Pistache::Address("127.0.0.1", Pistache::Port(static_cast<std::uint16_t>(port))));
  server.init(Pistache::Http::Endpoint::options().threads(threads).flags(Pistache::Tcp::Options::ReuseAddr));
  server.setHandler(Pistache::Http::make_handler<Hello>());
  std::printf("{\"listening\": %d}\n", port);
  std::fflush(stdout);
  server.serve();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "hash-rate" && argc == 6)
    return hash_rate(std::atoi(argv[2]), std::strtoull(argv[3], nullptr, 10), std::strtoull(argv[4], nullptr, 10),
                     std::atof(argv[5]));
  if (mode == "commit-rate" && argc == 4) return commit_rate(argv[2], std::atof(argv[3]));
  if (mode == "http-hello" && argc == 4) return http_hello(std::atoi(argv[2]), std::atoi(argv[3]));
  if (mode == "hash" && argc == 5) {
    char phc[crypto_pwhash_STRBYTES];
    if (!hash(argv[2], std::strtoull(argv[3], nullptr, 10), std::strtoull(argv[4], nullptr, 10), phc)) return 1;
    std::printf("{\"phc\": \"%s\"}\n", phc);
    return 0;
  }
  return usage();
}
