// Micro-benchmarks of the hot pieces (Google Benchmark): JWT signing and
// verification, the verified-token path through the cache, store reads and
// writes, and request-body parsing. `make bench-micro` runs them.
#include "domain/jwt.hpp"
#include "domain/keyring.hpp"
#include "domain/token_cache.hpp"
#include "http/json_body.hpp"
#include "store/lmdb/backend.hpp"

#include <benchmark/benchmark.h>
#include <sodium.h>

#include <filesystem>
#include <stdexcept>
#include <vector>
#include <unistd.h>

using namespace gh;

namespace {

domain::AccessClaims claims() {
  domain::AccessClaims c;
  c.iss = "http://127.0.0.1:8000";
  c.aud = "gatehouse";
  c.sub = "0123456789abcdef0123456789abcdef";
  c.sid = "fedcba9876543210fedcba9876543210";
  c.jti = "j";
  c.role = "user";
  c.client_id = "gatehouse";
  c.iat = c.nbf = 1'800'000'000;
  c.exp = c.iat + 900;
  return c;
}

const domain::KeyRing& ring() {
  static const domain::KeyRing r(domain::SigningKey{"k1", std::string(32, 'k'), 0}, nullptr);
  return r;
}

void BM_JwtSign(benchmark::State& st) {
  auto c = claims();
  for (auto _ : st) benchmark::DoNotOptimize(domain::sign_access_token(c, ring()));
}
BENCHMARK(BM_JwtSign);

void BM_JwtVerify(benchmark::State& st) {
  auto token = domain::sign_access_token(claims(), ring());
  domain::VerifyOptions opts{"http://127.0.0.1:8000", "gatehouse", 30};
  for (auto _ : st) {
    domain::AccessClaims out;
    benchmark::DoNotOptimize(domain::verify_signature(token, ring(), out));
    benchmark::DoNotOptimize(domain::check_claims(out, opts, 1'800'000'100));
  }
}
BENCHMARK(BM_JwtVerify);

// What a token check costs once the signature is cached: hash, lookup, claims.
void BM_VerifiedTokenPath(benchmark::State& st) {
  auto token = domain::sign_access_token(claims(), ring());
  domain::TokenCache cache(65536);
  domain::AccessClaims c;
  domain::verify_signature(token, ring(), c);
  cache.insert(token, c);
  domain::VerifyOptions opts{"http://127.0.0.1:8000", "gatehouse", 30};
  for (auto _ : st) {
    auto hit = cache.find(token);
    benchmark::DoNotOptimize(domain::check_claims(*hit, opts, 1'800'000'100));
  }
}
BENCHMARK(BM_VerifiedTokenPath)->Threads(1)->Threads(2);

struct BenchStore {
  std::string dir = std::filesystem::temp_directory_path() / ("gh-bench-" + std::to_string(::getpid()));
  std::unique_ptr<store::Backend> db;
  BenchStore() {
    std::filesystem::remove_all(dir);
    store::Status st;
    db = store::lmdb::open({dir, std::size_t{1} << 30}, st);
    if (!db) throw std::runtime_error(st.to_string());
    st = db->write([](store::WriteTxn& t) {
      for (int i = 0; i < 10000; ++i) {
        domain::User u;
        u.id = std::to_string(1'000'000'000 + i) + std::string(22, 'a');
        u.email = "user" + std::to_string(i) + "@example.com";
        u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";
        if (auto s = t.insert_user(u); !s.ok()) return s;
        domain::Session sess;
        sess.id = session_id(i);
        sess.user_id = u.id;
        sess.token_hash = std::string(32, 'h');
        sess.ip = "203.0.113.7";
        sess.user_agent = "Mozilla/5.0 (X11; Linux x86_64) bench";
        if (auto s = t.put_session(sess); !s.ok()) return s;
      }
      return store::Status::OK();
    });
    if (!st.ok()) throw std::runtime_error(st.to_string());
  }
  ~BenchStore() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
  static std::string session_id(int i) { return std::to_string(2'000'000'000 + i) + std::string(22, 's'); }
};

BenchStore& bench_store() {
  static BenchStore s;
  return s;
}

// A short read transaction with an email lookup and a user decode: the read
// side of a login or a token check.
void BM_StoreReadUser(benchmark::State& st) {
  auto& s = bench_store();
  int i = 0;
  for (auto _ : st) {
    store::Status rs;
    auto t = s.db->read(rs);
    domain::User u;
    benchmark::DoNotOptimize(t->user_by_email("user" + std::to_string(i++ % 10000) + "@example.com", u));
  }
}
BENCHMARK(BM_StoreReadUser);

// The hot read of a token check: a session and its user (Backend::principal,
// a per-thread read transaction reset and renewed)...
void BM_Principal(benchmark::State& st) {
  auto& s = bench_store();
  std::vector<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.push_back(BenchStore::session_id(i));
  std::size_t i = 0;
  for (auto _ : st) {
    store::Principal p;
    auto r = s.db->principal(ids[i++ % ids.size()], p);
    if (!r.ok()) st.SkipWithError(r.to_string().c_str());
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_Principal)->Threads(1)->Threads(2);

// ... against the same two reads through read(): a read transaction begun
// and ended per check.
void BM_PrincipalViaRead(benchmark::State& st) {
  auto& s = bench_store();
  std::vector<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.push_back(BenchStore::session_id(i));
  std::size_t i = 0;
  for (auto _ : st) {
    store::Status rs;
    auto t = s.db->read(rs);
    store::Principal p;
    auto r = t->session(ids[i++ % ids.size()], p.session);
    if (r.ok()) r = t->user(p.session.user_id, p.user);
    if (!r.ok()) st.SkipWithError(r.to_string().c_str());
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_PrincipalViaRead)->Threads(1)->Threads(2);

// Puts without a synced commit: the CPU side of a write (the fsync is the
// group commit's, measured by the macro benchmark). The transaction is given
// up at the end (the function answers a failure).
void BM_StorePutSession(benchmark::State& st) {
  auto& s = bench_store();
  (void)s.db->write([&](store::WriteTxn& t) {
    std::uint64_t i = 0;
    for (auto _ : st) {
      domain::Session sess;
      sess.id = std::to_string(i++);
      sess.user_id = std::string(32, 'u');
      sess.token_hash = std::string(32, 'h');
      benchmark::DoNotOptimize(t.put_session(sess));
    }
    return store::Status::Unavailable("benchmark: not committed");
  });
}
BENCHMARK(BM_StorePutSession);

void BM_ParseLoginBody(benchmark::State& st) {
  std::string body = R"({"email":"alice@example.com","password":"correct horse battery staple"})";
  for (auto _ : st) {
    std::string why;
    benchmark::DoNotOptimize(http::parse_json_object(body, 16, why));
  }
}
BENCHMARK(BM_ParseLoginBody);

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
