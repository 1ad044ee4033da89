// The store contract (store/store.hpp), for any engine: written against the
// contract only, the backend comes from backend_factory.hpp.
#include "tests/contract/backend_factory.hpp"

#include "domain/audit.hpp"
#include "domain/retention.hpp"
#include "store/store.hpp"
#include "tests/support/status_checks.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <filesystem>
#include <stdexcept>
#include <chrono>
#include <thread>
#include <unistd.h>

using namespace gh;
using namespace gh::store;
using gh::contract::make_backend;

namespace {

using Code = Status::Code;

struct Fixture {
  std::string dir;
  std::unique_ptr<Backend> db;
  Fixture() {
    static int n = 0;
    dir = std::filesystem::temp_directory_path() /
          ("gh-contract-" + std::string(contract::backend_name()) + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(n++));
    std::filesystem::remove_all(dir);
    db = make_backend(dir);
  }
  ~Fixture() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
  std::unique_ptr<ReadTxn> read() {
    Status st;
    auto t = db->read(st);
    INFO(st.to_string());
    REQUIRE(t);
    return t;
  }
  Status write(const std::function<Status(WriteTxn&)>& fn) { return db->write(fn); }
};

domain::User make_user(const std::string& id, const std::string& email, const std::string& username = "") {
  domain::User u;
  u.id = id;
  u.email = email;
  u.username = username;
  u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
  u.full_name = "Full " + id;
  u.data = {{"k", id}};
  u.created_at = 1;
  return u;
}

const std::string kAlice = "a0000000000000000000000000000000";
const std::string kBob = "b0000000000000000000000000000000";
const std::string kCarol = "c0000000000000000000000000000000";

domain::Session make_session(const std::string& id, const std::string& user_id, std::int64_t expires = 10'000) {
  domain::Session s;
  s.id = id;
  s.user_id = user_id;
  s.generation = 1;
  s.token_hash = "th-" + id;
  s.created_at = 1;
  s.last_used_at = 1;
  s.expires_at = expires;
  return s;
}

}  // namespace

// ---- users -------------------------------------------------------------------------

TEST_CASE("contract: users are found by id, email and case-insensitive username", "[contract][users]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) { return t.insert_user(make_user(kAlice, "alice@example.com", "Alice")); }));
  auto t = f.read();
  domain::User u;
  REQUIRE_OK(t->user(kAlice, u));
  CHECK(u.email == "alice@example.com");
  CHECK(u.username == "Alice");
  CHECK(u.full_name == "Full " + kAlice);
  CHECK(u.data == nlohmann::json{{"k", kAlice}});
  REQUIRE_OK(t->user_by_email("alice@example.com", u));
  CHECK(u.id == kAlice);
  REQUIRE_OK(t->user_by_username("ALICE", u));
  CHECK(u.id == kAlice);
  REQUIRE_OK(t->user_by_username("alice", u));
  CHECK(u.id == kAlice);
}

TEST_CASE("contract: every getter answers not_found for what is not there", "[contract]") {
  Fixture f;
  auto t = f.read();
  domain::User u;
  domain::Session s;
  domain::RefreshRef r;
  domain::ApiKey k;
  domain::OneTimeToken o;
  domain::Avatar a;
  domain::SigningKey key;
  std::string m;
  CHECK_CODE(t->user(kAlice, u), Code::not_found);
  CHECK_CODE(t->user_by_email("nobody@example.com", u), Code::not_found);
  CHECK_CODE(t->user_by_username("nobody", u), Code::not_found);
  CHECK_CODE(t->session("s1", s), Code::not_found);
  CHECK_CODE(t->refresh("h1", r), Code::not_found);
  CHECK_CODE(t->api_key("h1", k), Code::not_found);
  CHECK_CODE(t->otp("h1", o), Code::not_found);
  CHECK_CODE(t->avatar(kAlice, a), Code::not_found);
  CHECK_CODE(t->key("k1", key), Code::not_found);
  CHECK_CODE(t->meta("nothing", m), Code::not_found);
  // Listings of nothing are ok and empty.
  std::vector<domain::Session> sessions{make_session("x", "y")};
  REQUIRE_OK(t->sessions_of(kAlice, sessions));
  CHECK(sessions.empty());
  std::vector<std::pair<std::string, domain::ApiKey>> keys{{"x", {}}};
  REQUIRE_OK(t->api_keys_of(kAlice, keys));
  CHECK(keys.empty());
  int visited = 0;
  REQUIRE_OK(t->users_by_email("", false, [&](const domain::User&) { return ++visited, true; }));
  CHECK(visited == 0);
  std::uint64_t seq = 9;
  std::string hash = "x";
  REQUIRE_OK(t->audit_head(seq, hash));
  CHECK(seq == 0);
  CHECK(hash.empty());
  REQUIRE_OK(t->audit_after(0, [&](const AuditRecord&) { return ++visited, true; }));
  CHECK(visited == 0);
  Principal p;
  CHECK_CODE(f.db->principal("s1", p), Code::not_found);
  // Empty keys are absent too, never an engine failure.
  CHECK_CODE(t->user("", u), Code::not_found);
  CHECK_CODE(t->user_by_email("", u), Code::not_found);
  CHECK_CODE(t->user_by_username("", u), Code::not_found);
}

TEST_CASE("contract: insert_user refuses a taken email, username or id and writes nothing", "[contract][users]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) { return t.insert_user(make_user(kAlice, "alice@example.com", "Alice")); }));
  CHECK_CODE(f.write([](WriteTxn& t) { return t.insert_user(make_user(kBob, "alice@example.com", "bob")); }),
             Code::conflict);
  CHECK_CODE(f.write([](WriteTxn& t) { return t.insert_user(make_user(kBob, "bob@example.com", "Alice")); }),
             Code::conflict);
  CHECK_CODE(f.write([](WriteTxn& t) { return t.insert_user(make_user(kBob, "bob@example.com", "aLICE")); }),
             Code::conflict);  // usernames compare in ASCII lower case
  CHECK_CODE(f.write([](WriteTxn& t) { return t.insert_user(make_user(kAlice, "other@example.com", "other")); }),
             Code::conflict);  // the id is another account
  {
    auto t = f.read();
    domain::User u;
    CHECK_CODE(t->user(kBob, u), Code::not_found);
    CHECK_CODE(t->user_by_email("bob@example.com", u), Code::not_found);
    CHECK_CODE(t->user_by_username("bob", u), Code::not_found);
    CHECK_CODE(t->user_by_email("other@example.com", u), Code::not_found);
    CHECK_CODE(t->user_by_username("other", u), Code::not_found);
    REQUIRE_OK(t->user(kAlice, u));
    CHECK(u.email == "alice@example.com");
  }
  // Inside one transaction the conflict is reported and the transaction goes on.
  REQUIRE_OK(f.write([](WriteTxn& t) {
    CHECK(t.insert_user(make_user(kBob, "alice@example.com")).is_conflict());
    return t.insert_user(make_user(kBob, "bob@example.com"));  // no username: none needed
  }));
  auto t = f.read();
  domain::User u;
  REQUIRE_OK(t->user_by_email("bob@example.com", u));
  CHECK(u.id == kBob);
}

TEST_CASE("contract: update_user moves the index entries and keeps them unique", "[contract][users]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) {
    auto st = t.insert_user(make_user(kAlice, "alice@example.com", "Alice"));
    return st.ok() ? t.insert_user(make_user(kBob, "bob@example.com", "Bob")) : st;
  }));
  CHECK_CODE(f.write([](WriteTxn& t) { return t.update_user(make_user(kCarol, "carol@example.com")); }),
             Code::not_found);
  auto current = [&](const std::string& id) {
    domain::User u;
    auto t = f.read();
    REQUIRE_OK(t->user(id, u));
    return u;
  };

  SECTION("a new email and username replace the old ones") {
    auto u = current(kAlice);
    u.email = "alice2@example.com";
    u.username = "Ally";
    u.full_name = "Changed";
    REQUIRE_OK(f.write([&](WriteTxn& t) { return t.update_user(u); }));
    auto t = f.read();
    domain::User got;
    CHECK_CODE(t->user_by_email("alice@example.com", got), Code::not_found);
    CHECK_CODE(t->user_by_username("alice", got), Code::not_found);
    REQUIRE_OK(t->user_by_email("alice2@example.com", got));
    CHECK(got.full_name == "Changed");
    REQUIRE_OK(t->user_by_username("ally", got));
    CHECK(got.id == kAlice);
    // The old ones are free for another account now.
    CHECK(t->user_by_email("bob@example.com", got).ok());
    REQUIRE_OK(f.write([](WriteTxn& w) { return w.insert_user(make_user(kCarol, "alice@example.com", "alice")); }));
  }
  SECTION("renaming onto another's username or email is a conflict that writes nothing") {
    auto u = current(kAlice);
    u.username = "BOB";
    u.full_name = "Changed";
    CHECK_CODE(f.write([&](WriteTxn& t) { return t.update_user(u); }), Code::conflict);
    u = current(kAlice);
    u.email = "bob@example.com";
    u.full_name = "Changed";
    CHECK_CODE(f.write([&](WriteTxn& t) { return t.update_user(u); }), Code::conflict);
    u = current(kAlice);
    u.email = "new@example.com";  // a free email with a taken username: nothing at all
    u.username = "bob";
    CHECK_CODE(f.write([&](WriteTxn& t) {
                 auto st = t.update_user(u);
                 domain::User mid;
                 CHECK(t.user_by_email("new@example.com", mid).is_not_found());
                 return st;
               }),
               Code::conflict);
    auto t = f.read();
    domain::User got;
    REQUIRE_OK(t->user(kAlice, got));
    CHECK(got.full_name == "Full " + kAlice);
    CHECK(got.email == "alice@example.com");
    CHECK_CODE(t->user_by_email("new@example.com", got), Code::not_found);
    REQUIRE_OK(t->user_by_username("bob", got));
    CHECK(got.id == kBob);
    REQUIRE_OK(t->user_by_username("alice", got));
    CHECK(got.id == kAlice);
  }
  SECTION("a user may change the case of its own username, or keep everything") {
    auto u = current(kAlice);
    u.username = "ALICE";
    REQUIRE_OK(f.write([&](WriteTxn& t) { return t.update_user(u); }));
    u.failed_logins = 3;
    REQUIRE_OK(f.write([&](WriteTxn& t) { return t.update_user(u); }));  // same email, same name
    auto t = f.read();
    domain::User got;
    REQUIRE_OK(t->user_by_username("alice", got));
    CHECK(got.username == "ALICE");
    CHECK(got.failed_logins == 3);
    REQUIRE_OK(t->user_by_email("alice@example.com", got));
    CHECK(got.id == kAlice);
  }
  SECTION("clearing the username frees it") {
    auto u = current(kAlice);
    u.username.clear();
    REQUIRE_OK(f.write([&](WriteTxn& t) { return t.update_user(u); }));
    auto t = f.read();
    domain::User got;
    CHECK_CODE(t->user_by_username("alice", got), Code::not_found);
    REQUIRE_OK(f.write([](WriteTxn& w) { return w.insert_user(make_user(kCarol, "carol@example.com", "Alice")); }));
  }
}

TEST_CASE("contract: users_by_email pages in email order and stops when asked", "[contract][users]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) {
    for (char c : std::string("ecadb")) {
      std::string id(32, c);
      auto st = t.insert_user(make_user(id, std::string(1, c) + "@example.com"));
      if (!st.ok()) return st;
    }
    return Status::OK();
  }));
  auto t = f.read();
  auto emails = [&](std::string_view from, bool exclusive, std::size_t stop_after) {
    std::vector<std::string> out;
    REQUIRE_OK(t->users_by_email(from, exclusive, [&](const domain::User& u) {
      out.push_back(u.email);
      return out.size() < stop_after;
    }));
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(emails("", false, 99) == V{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"});
  CHECK(emails("c@example.com", false, 99) == V{"c@example.com", "d@example.com", "e@example.com"});
  CHECK(emails("c@example.com", true, 99) == V{"d@example.com", "e@example.com"});
  CHECK(emails("bb", true, 99) == V{"c@example.com", "d@example.com", "e@example.com"});  // a cursor between keys
  CHECK(emails("", false, 2) == V{"a@example.com", "b@example.com"});
  CHECK(emails("e@example.com", true, 99).empty());
  CHECK(emails("z", false, 99).empty());
  // Pages of two, each starting after the last one seen.
  std::vector<std::string> all;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    auto p = emails(cursor, !cursor.empty(), 2);
    if (p.empty()) break;
    all.insert(all.end(), p.begin(), p.end());
    cursor = p.back();
  }
  CHECK(all.size() == 5);
}

// ---- sessions, refresh tokens ----------------------------------------------------------

TEST_CASE("contract: sessions are listed per user, deleted with their index and current token",
          "[contract][sessions]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) {
    for (auto id : {"s2", "s1", "s3"}) {
      auto s = make_session(id, kAlice);
      if (auto st = t.put_session(s); !st.ok()) return st;
      if (auto st = t.put_refresh(s.token_hash, domain::RefreshRef{s.id, 1, s.expires_at}); !st.ok()) return st;
    }
    auto st = t.put_refresh("old-s1", domain::RefreshRef{"s1", 0, 10'000});
    return st.ok() ? t.put_session(make_session("s9", kBob)) : st;
  }));
  {
    auto t = f.read();
    std::vector<domain::Session> list;
    REQUIRE_OK(t->sessions_of(kAlice, list));
    REQUIRE(list.size() == 3);
    CHECK(list[0].id == "s1");
    CHECK(list[1].id == "s2");
    CHECK(list[2].id == "s3");
    REQUIRE_OK(t->sessions_of(kBob, list));
    REQUIRE(list.size() == 1);
    CHECK(list[0].user_id == kBob);
    domain::Session s;
    REQUIRE_OK(t->session("s2", s));
    CHECK(s.token_hash == "th-s2");
    CHECK(s.expires_at == 10'000);
    domain::RefreshRef r;
    REQUIRE_OK(t->refresh("old-s1", r));
    CHECK(r.session_id == "s1");
    CHECK(r.generation == 0);
  }
  // Replacing a session (a rotation) keeps one index entry.
  auto rotated = make_session("s1", kAlice);
  rotated.generation = 2;
  rotated.token_hash = "th-s1-2";
  REQUIRE_OK(f.write([&](WriteTxn& t) { return t.put_session(rotated); }));
  REQUIRE_OK(f.write([&](WriteTxn& t) { return t.delete_session(rotated); }));
  auto t = f.read();
  std::vector<domain::Session> list;
  REQUIRE_OK(t->sessions_of(kAlice, list));
  CHECK(list.size() == 2);
  domain::Session s;
  CHECK_CODE(t->session("s1", s), Code::not_found);
  domain::RefreshRef r;
  CHECK_CODE(t->refresh("th-s1-2", r), Code::not_found);  // its current token went with it
  REQUIRE_OK(t->refresh("old-s1", r));  // earlier generations stay, naming no session
  CHECK_CODE(t->session(r.session_id, s), Code::not_found);
  REQUIRE_OK(t->refresh("th-s2", r));
}

// ---- API keys ---------------------------------------------------------------------

TEST_CASE("contract: API keys are found by secret hash and listed per user in key id order", "[contract][api_keys]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) {
    for (auto [hash, id, user] : {std::tuple{"h-b", "k2", kAlice}, {"h-a", "k1", kAlice}, {"h-c", "k3", kBob}}) {
      domain::ApiKey k{id, user, std::string("name ") + id, {"read"}, {"10.0.0.0/8"}, 1, 0, false};
      if (auto st = t.put_api_key(hash, k); !st.ok()) return st;
    }
    return Status::OK();
  }));
  auto t = f.read();
  domain::ApiKey k;
  REQUIRE_OK(t->api_key("h-b", k));
  CHECK(k.id == "k2");
  CHECK(k.scopes == std::vector<std::string>{"read"});
  CHECK(k.allowed_ips == std::vector<std::string>{"10.0.0.0/8"});
  std::vector<std::pair<std::string, domain::ApiKey>> list;
  REQUIRE_OK(t->api_keys_of(kAlice, list));
  REQUIRE(list.size() == 2);
  CHECK(list[0].first == "h-a");
  CHECK(list[0].second.id == "k1");
  CHECK(list[1].first == "h-b");
  // Revoking is writing it again.
  k.revoked = true;
  REQUIRE_OK(f.write([&](WriteTxn& w) { return w.put_api_key("h-b", k); }));
  auto t2 = f.read();
  REQUIRE_OK(t2->api_key("h-b", k));
  CHECK(k.revoked);
  REQUIRE_OK(t2->api_keys_of(kAlice, list));
  CHECK(list.size() == 2);
}

// ---- one-time tokens ------------------------------------------------------------------

TEST_CASE("contract: a one-time token is used once", "[contract][otp]") {
  Fixture f;
  domain::OneTimeToken o{"magic", kAlice, 1000, false, "https://app.example/cb", "challenge"};
  REQUIRE_OK(f.write([&](WriteTxn& t) { return t.put_otp("h1", o); }));
  // Redeeming: read, check, mark used, in one transaction.
  auto redeem = [&] {
    bool redeemed = false;
    REQUIRE_OK(f.write([&](WriteTxn& t) {
      domain::OneTimeToken got;
      auto st = t.otp("h1", got);
      if (!st.ok()) return st;
      if (got.used) return Status::OK();
      got.used = true;
      redeemed = true;
      return t.put_otp("h1", got);
    }));
    return redeemed;
  };
  CHECK(redeem());
  CHECK_FALSE(redeem());
  auto t = f.read();
  domain::OneTimeToken got;
  REQUIRE_OK(t->otp("h1", got));
  CHECK(got.used);
  CHECK(got.redirect_to == "https://app.example/cb");
  CHECK(got.code_challenge == "challenge");
}

TEST_CASE("contract: issue_otp keeps at most max_live live tokens; retire_otps ends them", "[contract][otp]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) {
    domain::OneTimeToken o{"reset", "u1", 1000, false, "", ""};
    bool issued = false;
    for (auto h : {"h1", "h2", "h3"}) {
      REQUIRE_OK(t.issue_otp(h, o, 3, 100, issued));
      CHECK(issued);
    }
    REQUIRE_OK(t.issue_otp("h4", o, 3, 100, issued));
    CHECK_FALSE(issued);  // at the cap
    domain::OneTimeToken got;
    CHECK(t.otp("h4", got).is_not_found());
    for (auto h : {"h1", "h2", "h3"}) {
      REQUIRE_OK(t.otp(h, got));
      CHECK_FALSE(got.used);  // earlier ones still valid
    }
    // Another purpose and another user have their own.
    REQUIRE_OK(t.issue_otp("m1", domain::OneTimeToken{"magic", "u1", 1000, false, "", ""}, 3, 100, issued));
    CHECK(issued);
    REQUIRE_OK(t.issue_otp("v1", domain::OneTimeToken{"reset", "u2", 1000, false, "", ""}, 3, 100, issued));
    CHECK(issued);
    // A used one does not count.
    REQUIRE_OK(t.otp("h1", got));
    got.used = true;
    REQUIRE_OK(t.put_otp("h1", got));
    REQUIRE_OK(t.issue_otp("h4", o, 3, 100, issued));
    CHECK(issued);
    // Once they expire, new ones are issued again.
    domain::OneTimeToken later{"reset", "u1", 2000, false, "", ""};
    REQUIRE_OK(t.issue_otp("h5", later, 3, 1000, issued));
    CHECK(issued);
    REQUIRE_OK(t.issue_otp("h6", later, 3, 1000, issued));
    CHECK(issued);
    // Using one retires the other live ones of that purpose and user only.
    REQUIRE_OK(t.retire_otps("u1", "reset"));
    for (auto h : {"h5", "h6"}) {
      REQUIRE_OK(t.otp(h, got));
      CHECK(got.used);
    }
    REQUIRE_OK(t.otp("m1", got));
    CHECK_FALSE(got.used);
    REQUIRE_OK(t.otp("v1", got));
    CHECK_FALSE(got.used);
    // After retiring, the cap is free again.
    REQUIRE_OK(t.issue_otp("h7", later, 1, 1000, issued));
    CHECK(issued);
    return Status::OK();
  }));
}

// ---- avatars, keys, meta --------------------------------------------------------------------

TEST_CASE("contract: avatars, signing keys and meta values", "[contract][keys]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) {
    REQUIRE_OK(t.put_avatar(kAlice, domain::Avatar{"image/png", std::string("\x89PNG\0\1", 6), 5}));
    REQUIRE_OK(t.put_key(domain::SigningKey{"k1", std::string(32, '\x07'), 9}));
    REQUIRE_OK(t.put_key(domain::SigningKey{"k2", std::string(32, '\x08'), 10}));
    REQUIRE_OK(t.put_meta("current_kid", "k2"));
    return t.put_meta("binary", std::string("\0\xff", 2));
  }));
  {
    auto t = f.read();
    domain::Avatar a;
    REQUIRE_OK(t->avatar(kAlice, a));
    CHECK(a.bytes == std::string("\x89PNG\0\1", 6));
    CHECK(a.content_type == "image/png");
    domain::SigningKey k;
    REQUIRE_OK(t->key("k1", k));
    CHECK(k.seed == std::string(32, '\x07'));
    std::string m;
    REQUIRE_OK(t->meta("current_kid", m));
    CHECK(m == "k2");
    REQUIRE_OK(t->meta("binary", m));
    CHECK(m == std::string("\0\xff", 2));
  }
  REQUIRE_OK(f.write([](WriteTxn& t) {
    REQUIRE_OK(t.delete_key("k1"));
    REQUIRE_OK(t.delete_key("never-there"));  // deleting nothing is fine
    return t.put_meta("current_kid", "k3");
  }));
  auto t = f.read();
  domain::SigningKey k;
  CHECK_CODE(t->key("k1", k), Code::not_found);
  REQUIRE_OK(t->key("k2", k));
  std::string m;
  REQUIRE_OK(t->meta("current_kid", m));
  CHECK(m == "k3");
}

// ---- the audit log ------------------------------------------------------------------------

namespace {
std::vector<domain::AuditRecord> audit_records(Fixture& f, std::uint64_t after = 0) {
  std::vector<domain::AuditRecord> out;
  auto t = f.read();
  REQUIRE_OK(t->audit_after(after, [&](const AuditRecord& r) {
    out.push_back({r.seq, r.prev, r.hash, r.canonical});
    return true;
  }));
  return out;
}

void append(Fixture& f, int n, int from = 0) {
  REQUIRE_OK(f.write([&](WriteTxn& t) {
    for (int i = from; i < from + n; ++i) {
      domain::AuditEvent e;
      e.type = "login_succeeded";
      e.time = 1000 + i;
      e.subject_user_id = "u" + std::to_string(i);
      AuditRecord rec;
      auto st = t.append_audit(e.canonical(), &rec);
      if (!st.ok()) return st;
      CHECK(rec.canonical == e.canonical());
      CHECK(rec.hash.size() == 32);
    }
    return Status::OK();
  }));
}
}  // namespace

TEST_CASE("contract: the audit chain appends, reads back and verifies", "[contract][audit]") {
  Fixture f;
  append(f, 5);
  auto records = audit_records(f);
  REQUIRE(records.size() == 5);
  for (std::size_t i = 0; i < records.size(); ++i) CHECK(records[i].seq == i + 1);
  CHECK(records[0].prev == std::string(32, '\0'));
  CHECK(records[1].prev == records[0].hash);
  CHECK(records[1].hash == domain::audit_chain_hash(records[1].prev, records[1].canonical));
  std::uint64_t seq = 0;
  std::string hash;
  {
    auto t = f.read();
    REQUIRE_OK(t->audit_head(seq, hash));
  }
  CHECK(seq == 5);
  CHECK(hash == records[4].hash);
  domain::ChainVerifier v;
  std::string problem;
  for (auto& r : records) REQUIRE(v.feed(r, problem));
  CHECK(v.finish(seq, hash, problem));
  // From a seq, and stopping.
  auto tail = audit_records(f, 3);
  REQUIRE(tail.size() == 2);
  CHECK(tail[0].seq == 4);
  int seen = 0;
  auto t = f.read();
  REQUIRE_OK(t->audit_after(0, [&](const AuditRecord&) { return ++seen < 2; }));
  CHECK(seen == 2);
  // The record an append returns is the one stored.
  AuditRecord out;
  REQUIRE_OK(f.write([&](WriteTxn& w) { return w.append_audit("{\"n\":6}", &out); }));
  CHECK(out.seq == 6);
  CHECK(out.prev == records[4].hash);
  auto all = audit_records(f);
  REQUIRE(all.size() == 6);
  CHECK(all[5].hash == out.hash);
}

TEST_CASE("contract: a keyed audit chain links with the MAC from keyed_from on", "[contract][audit]") {
  Fixture f;
  append(f, 2);  // records of an unkeyed build
  std::string key(32, 'K');
  f.db->set_audit_key(key, 3);
  REQUIRE_OK(f.write([](WriteTxn& t) { return t.put_meta("audit_keyed_from", "3"); }));
  append(f, 3, 2);
  auto records = audit_records(f);
  REQUIRE(records.size() == 5);
  CHECK(records[1].hash == domain::audit_chain_hash(records[1].prev, records[1].canonical));
  CHECK(records[2].hash == domain::audit_chain_hash(records[2].prev, records[2].canonical, key));
  std::string problem;
  domain::ChainVerifier ok(key, 3);
  for (auto& r : records) REQUIRE(ok.feed(r, problem));
  std::uint64_t seq = 0;
  std::string hash;
  {
    auto t = f.read();
    REQUIRE_OK(t->audit_head(seq, hash));
  }
  CHECK(ok.finish(seq, hash, problem));
  domain::ChainVerifier unkeyed;
  for (int i = 0; i < 2; ++i) REQUIRE(unkeyed.feed(records[i], problem));
  CHECK_FALSE(unkeyed.feed(records[2], problem));
  // Without the key nothing more can be appended to the keyed chain.
  f.db->set_audit_key("", 0);
  Status inside;
  CHECK_CODE(f.write([&](WriteTxn& t) { return inside = t.append_audit("{}"); }), Code::unavailable);
  CHECK(inside.message() == "the audit chain is keyed and no key is set");
  CHECK(audit_records(f).size() == 5);
}

// ---- batches ----------------------------------------------------------------------------------

TEST_CASE("contract: a batch commits its operations together; a rolled-back one leaves no trace",
          "[contract][batch]") {
  Fixture f;
  auto batch = f.db->batch();
  CHECK(batch->size() == 0);
  REQUIRE_OK(batch->apply([](WriteTxn& t) { return t.put_meta("a", "1").ok(); }));
  REQUIRE_OK(batch->apply([](WriteTxn& t) {
    REQUIRE_OK(t.put_meta("bad", "1"));
    REQUIRE_OK(t.insert_user(make_user(kBob, "bob@example.com", "bob")));
    return false;  // rolled back
  }));
  REQUIRE_OK(batch->apply([](WriteTxn& t) {
    // Sees the earlier operation of the batch, not the rolled-back one.
    std::string v;
    REQUIRE_OK(t.meta("a", v));
    CHECK(t.meta("bad", v).is_not_found());
    domain::User u;
    CHECK(t.user(kBob, u).is_not_found());
    return t.put_meta("b", "2").ok();
  }));
  CHECK(batch->size() == 2);
  {  // nothing is visible before the commit
    auto t = f.read();
    std::string v;
    CHECK_CODE(t->meta("a", v), Code::not_found);
    CHECK_CODE(t->meta("b", v), Code::not_found);
  }
  auto before = f.read();  // a snapshot from before the commit
  REQUIRE_OK(batch->commit());
  CHECK(batch->size() == 0);
  std::string v;
  CHECK_CODE(before->meta("a", v), Code::not_found);  // it keeps its snapshot
  before.reset();
  auto t = f.read();
  REQUIRE_OK(t->meta("a", v));
  REQUIRE_OK(t->meta("b", v));
  CHECK(v == "2");
  CHECK_CODE(t->meta("bad", v), Code::not_found);
  domain::User u;
  CHECK_CODE(t->user(kBob, u), Code::not_found);
  CHECK_CODE(t->user_by_username("bob", u), Code::not_found);
  t.reset();
  // The batch goes on: a new one starts empty.
  REQUIRE_OK(batch->apply([](WriteTxn& t) { return t.put_meta("c", "3").ok(); }));
  CHECK(batch->size() == 1);
  REQUIRE_OK(batch->commit());
  REQUIRE_OK(batch->commit());  // nothing open: nothing to do
  auto t2 = f.read();
  REQUIRE_OK(t2->meta("c", v));
}

TEST_CASE("contract: an operation that throws is rolled back and the exception passes through",
          "[contract][batch]") {
  Fixture f;
  auto batch = f.db->batch();
  REQUIRE_OK(batch->apply([](WriteTxn& t) { return t.put_meta("a", "1").ok(); }));
  CHECK_THROWS_AS(batch->apply([](WriteTxn& t) -> bool {
    (void)t.put_meta("thrown", "1");
    throw std::runtime_error("op failed");
  }),
                  std::runtime_error);
  REQUIRE_OK(batch->apply([](WriteTxn& t) { return t.put_meta("b", "1").ok(); }));
  CHECK(batch->size() == 2);
  REQUIRE_OK(batch->commit());
  auto t = f.read();
  std::string v;
  REQUIRE_OK(t->meta("a", v));
  REQUIRE_OK(t->meta("b", v));
  CHECK_CODE(t->meta("thrown", v), Code::not_found);
}

TEST_CASE("contract: a batch destroyed uncommitted writes nothing; write() commits only on ok", "[contract][batch]") {
  Fixture f;
  {
    auto batch = f.db->batch();
    REQUIRE_OK(batch->apply([](WriteTxn& t) { return t.put_meta("lost", "1").ok(); }));
  }
  CHECK_CODE(f.write([](WriteTxn& t) {
               REQUIRE_OK(t.put_meta("refused", "1"));
               return Status::Conflict("no");
             }),
             Code::conflict);
  auto t = f.read();
  std::string v;
  CHECK_CODE(t->meta("lost", v), Code::not_found);
  CHECK_CODE(t->meta("refused", v), Code::not_found);
}

TEST_CASE("contract: concurrent write() calls all commit; readers during a batch see their snapshot",
          "[contract][batch][threads]") {
  Fixture f;
  constexpr int kThreads = 4, kEach = 25;
  std::atomic<int> failures{0};
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
      threads.emplace_back([&, i] {
        for (int j = 0; j < kEach; ++j) {
          auto st = f.db->write([&](WriteTxn& t) {
            // A read-modify-write: a counter shared by every thread.
            std::string v;
            auto got = t.meta("counter", v);
            if (got.failed()) return got;
            int n = got.ok() ? std::stoi(v) : 0;
            auto s = t.put_meta("counter", std::to_string(n + 1));
            return s.ok() ? t.put_meta("k" + std::to_string(i) + "-" + std::to_string(j), "v") : s;
          });
          if (!st.ok()) ++failures;
        }
      });
    for (auto& t : threads) t.join();
  }
  CHECK(failures == 0);
  {
    auto t = f.read();
    std::string v;
    REQUIRE_OK(t->meta("counter", v));
    CHECK(v == std::to_string(kThreads * kEach));  // no update lost
    for (int i = 0; i < kThreads; ++i)
      for (int j = 0; j < kEach; ++j) CHECK(t->meta("k" + std::to_string(i) + "-" + std::to_string(j), v).ok());
  }
  // Readers on other threads while a batch is open see the committed state.
  auto batch = f.db->batch();
  REQUIRE_OK(batch->apply([](WriteTxn& t) { return t.put_meta("counter", "-1").ok(); }));
  std::atomic<int> old_seen{0};
  {
    std::vector<std::thread> readers;
    for (int i = 0; i < 3; ++i)
      readers.emplace_back([&] {
        for (int j = 0; j < 50; ++j) {
          Status st;
          auto t = f.db->read(st);
          std::string v;
          if (t && t->meta("counter", v).ok() && v == std::to_string(kThreads * kEach)) ++old_seen;
        }
      });
    for (auto& t : readers) t.join();
  }
  CHECK(old_seen == 150);
  REQUIRE_OK(batch->commit());
  auto t = f.read();
  std::string v;
  REQUIRE_OK(t->meta("counter", v));
  CHECK(v == "-1");
}

// ---- principal ----------------------------------------------------------------------------------

TEST_CASE("contract: principal() reads a session and its user together", "[contract][principal]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) {
    REQUIRE_OK(t.insert_user(make_user(kAlice, "alice@example.com", "alice")));
    REQUIRE_OK(t.put_session(make_session("s1", kAlice)));
    return t.put_session(make_session("orphan", kCarol));  // a session whose user is not there
  }));
  Principal p;
  REQUIRE_OK(f.db->principal("s1", p));
  CHECK(p.session.id == "s1");
  CHECK(p.session.user_id == kAlice);
  CHECK(p.user.id == kAlice);
  CHECK(p.user.email == "alice@example.com");
  CHECK_CODE(f.db->principal("nope", p), Code::not_found);
  CHECK_CODE(f.db->principal("orphan", p), Code::not_found);
  CHECK_CODE(f.db->principal("", p), Code::not_found);
  // It sees every commit (a reused snapshot would not).
  auto revoked = make_session("s1", kAlice);
  revoked.revoked = true;
  revoked.revoke_reason = "logout";
  REQUIRE_OK(f.write([&](WriteTxn& t) { return t.put_session(revoked); }));
  REQUIRE_OK(f.db->principal("s1", p));
  CHECK(p.session.revoked);
  CHECK(p.session.revoke_reason == "logout");
  auto u = make_user(kAlice, "alice@example.com", "alice");
  u.active = false;
  REQUIRE_OK(f.write([&](WriteTxn& t) { return t.update_user(u); }));
  REQUIRE_OK(f.db->principal("s1", p));
  CHECK_FALSE(p.user.active);
  REQUIRE_OK(f.write([&](WriteTxn& t) { return t.delete_session(revoked); }));
  CHECK_CODE(f.db->principal("s1", p), Code::not_found);
}

TEST_CASE("contract: change_stamp grows with every committed write to the session or its user",
          "[contract][principal]") {
  // A cache of principal() keeps an entry while the stamp taken before its
  // read stays the same; 0 means "do not cache". An engine that gives
  // stamps must change them on each of these writes, batched or not (a
  // change without a write is allowed, but a read must not cause one).
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) {
    REQUIRE_OK(t.insert_user(make_user(kAlice, "alice@example.com", "alice")));
    return t.put_session(make_session("s1", kAlice));
  }));
  auto stamp = [&] { return f.db->change_stamp("s1", kAlice); };
  // Both engines give stamps; PostgreSQL's only once its listener is
  // LISTENing (it starts with the first call).
  std::uint64_t before = stamp();
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       before == 0 && std::chrono::steady_clock::now() < end; before = stamp())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(before != 0);
  {
    CHECK(stamp() == before);  // reads change nothing
    auto s = make_session("s1", kAlice);
    s.revoked = true;
    REQUIRE_OK(f.write([&](WriteTxn& t) { return t.put_session(s); }));
    auto after_session = stamp();
    CHECK(after_session != before);
    auto u = make_user(kAlice, "alice@example.com", "alice");
    u.role = "admin";
    auto batch = f.db->batch();
    REQUIRE_OK(batch->apply([&](WriteTxn& t) { return t.update_user(u).ok(); }));
    REQUIRE_OK(batch->commit());
    auto after_user = stamp();
    CHECK(after_user != after_session);
    REQUIRE_OK(f.write([&](WriteTxn& t) { return t.delete_session(s); }));
    CHECK(stamp() != after_user);
  }
}

TEST_CASE("contract: principal() from many threads, across backends closed and opened", "[contract][principal][threads]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) {
    REQUIRE_OK(t.insert_user(make_user(kAlice, "alice@example.com")));
    return t.put_session(make_session("s1", kAlice));
  }));
  std::atomic<int> ok{0}, bad{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 2000; ++j) {
        Principal p;
        auto st = f.db->principal(j % 2 ? "s1" : "none", p);
        if ((j % 2 ? st.ok() && p.user.id == kAlice : st.is_not_found())) ++ok;
        else ++bad;
      }
    });
  // Meanwhile the writer commits.
  for (int i = 0; i < 20; ++i)
    REQUIRE_OK(f.write([&](WriteTxn& t) { return t.put_meta("tick", std::to_string(i)); }));
  for (auto& t : threads) t.join();
  CHECK(ok == 8000);
  CHECK(bad == 0);
  // A thread that used a backend outlives it; a new one at the same place works.
  std::mutex m;
  std::condition_variable cv;
  int phase = 0;
  std::atomic<bool> first_ok{false}, later_not_found{false};  // Catch2 assertions are for the main thread
  std::thread keeper([&] {
    Principal p;
    first_ok = f.db->principal("s1", p).ok();
    std::unique_lock<std::mutex> l(m);
    phase = 1;
    cv.notify_all();
    cv.wait(l, [&] { return phase == 2; });
    l.unlock();
    later_not_found = f.db->principal("s1", p).is_not_found();  // the new, empty store
  });
  {
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return phase == 1; });
  }
  Principal p;
  REQUIRE_OK(f.db->principal("s1", p));
  f.db.reset();
  std::filesystem::remove_all(f.dir);
  f.db = make_backend(f.dir);
  CHECK_CODE(f.db->principal("s1", p), Code::not_found);
  {
    std::lock_guard<std::mutex> l(m);
    phase = 2;
  }
  cv.notify_all();
  keeper.join();
  CHECK(first_ok);
  CHECK(later_not_found);
  stop = true;
}

// ---- prune -------------------------------------------------------------------------------------

TEST_CASE("contract: a prune step is bounded, resumes after its cursor and deletes index entries",
          "[contract][prune]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) {
    for (int i = 0; i < 5; ++i) {
      auto s = make_session("s" + std::to_string(i), kAlice, i < 3 ? 10 : 10'000);  // s0-s2 dead at 1000
      REQUIRE_OK(t.put_session(s));
      REQUIRE_OK(t.put_refresh(s.token_hash, domain::RefreshRef{s.id, 1, s.expires_at}));
    }
    REQUIRE_OK(t.put_refresh("orphan", domain::RefreshRef{"gone", 0, 10'000}));
    REQUIRE_OK(t.put_api_key("h-revoked", domain::ApiKey{"k1", kAlice, "a", {}, {}, 1, 0, true}));
    REQUIRE_OK(t.put_api_key("h-live", domain::ApiKey{"k2", kAlice, "b", {}, {}, 1, 0, false}));
    bool issued = false;
    REQUIRE_OK(t.issue_otp("o-used", domain::OneTimeToken{"magic", kAlice, 10'000, true, "", ""}, 9, 0, issued));
    REQUIRE_OK(t.issue_otp("o-live", domain::OneTimeToken{"magic", kAlice, 10'000, false, "", ""}, 9, 0, issued));
    return Status::OK();
  }));
  auto rules = domain::prune_rules(1000, 0);
  auto step = [&](PruneTable table, std::string& cursor, std::size_t limit) {
    std::size_t deleted = 0;
    REQUIRE_OK(f.write([&](WriteTxn& t) { return t.prune(table, cursor, limit, rules, deleted); }));
    return deleted;
  };
  std::string cursor;
  CHECK(step(PruneTable::sessions, cursor, 2) == 2);  // s0, s1
  CHECK(cursor == "s1");
  CHECK(step(PruneTable::sessions, cursor, 2) == 1);  // s2 (s3 kept)
  CHECK(cursor == "s3");
  CHECK(step(PruneTable::sessions, cursor, 2) == 0);  // s4, then the end
  CHECK(cursor.empty());
  {
    auto t = f.read();
    std::vector<domain::Session> list;
    REQUIRE_OK(t->sessions_of(kAlice, list));
    REQUIRE(list.size() == 2);
    CHECK(list[0].id == "s3");
    domain::RefreshRef r;
    CHECK_CODE(t->refresh("th-s0", r), Code::not_found);  // the current token went with its session
    REQUIRE_OK(t->refresh("th-s3", r));
  }
  CHECK(step(PruneTable::refresh, cursor, 100) == 1);  // the orphan
  CHECK(cursor.empty());
  CHECK(step(PruneTable::api_keys, cursor, 100) == 1);
  CHECK(step(PruneTable::otp, cursor, 100) == 1);
  auto t = f.read();
  domain::RefreshRef r;
  CHECK_CODE(t->refresh("orphan", r), Code::not_found);
  std::vector<std::pair<std::string, domain::ApiKey>> keys;
  REQUIRE_OK(t->api_keys_of(kAlice, keys));
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].first == "h-live");
  domain::OneTimeToken o;
  CHECK_CODE(t->otp("o-used", o), Code::not_found);
  REQUIRE_OK(t->otp("o-live", o));
  t.reset();
  // The pruned token's index entry is gone: only the live one counts.
  REQUIRE_OK(f.write([](WriteTxn& w) {
    bool issued = false;
    REQUIRE_OK(w.issue_otp("o-new", domain::OneTimeToken{"magic", kAlice, 10'000, false, "", ""}, 2, 0, issued));
    CHECK(issued);
    return Status::OK();
  }));
}

// ---- schema -------------------------------------------------------------------------------------

TEST_CASE("contract: migrate stamps a new store, is idempotent and refuses a newer one", "[contract][schema]") {
  Fixture f;
  int v = -1;
  REQUIRE_OK(f.db->schema_version(v));
  CHECK(v == 0);
  std::vector<std::string> notes;
  REQUIRE_OK(f.db->migrate([](std::string_view e) { return std::optional<std::string>(std::string(e)); }, &notes));
  REQUIRE_OK(f.db->schema_version(v));
  CHECK(v == kSchemaVersion);
  CHECK(notes.empty());
  REQUIRE_OK(f.db->migrate());
  REQUIRE_OK(f.write([](WriteTxn& t) { return t.put_meta("schema_version", std::to_string(kSchemaVersion + 1)); }));
  auto st = f.db->migrate();
  CHECK(st.failed());
  CHECK(st.message().find("newer") != std::string::npos);
}

TEST_CASE("contract: migrate from schema 1 re-keys emails whose normal form changed", "[contract][schema]") {
  Fixture f;
  REQUIRE_OK(f.write([](WriteTxn& t) {
    REQUIRE_OK(t.insert_user(make_user(kAlice, "Alice@example.com")));
    REQUIRE_OK(t.insert_user(make_user(kBob, "bob@example.com")));
    REQUIRE_OK(t.insert_user(make_user(kCarol, "BOB@example.com")));  // would collide
    return t.put_meta("schema_version", "1");
  }));
  auto lower = [](std::string_view e) -> std::optional<std::string> {
    std::string s(e);
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  std::vector<std::string> notes;
  REQUIRE_OK(f.db->migrate(lower, &notes));
  int v = 0;
  REQUIRE_OK(f.db->schema_version(v));
  CHECK(v == 2);
  auto t = f.read();
  domain::User u;
  REQUIRE_OK(t->user_by_email("alice@example.com", u));
  CHECK(u.id == kAlice);
  CHECK(u.email == "alice@example.com");
  CHECK_CODE(t->user_by_email("Alice@example.com", u), Code::not_found);
  REQUIRE_OK(t->user_by_email("BOB@example.com", u));
  CHECK(u.id == kCarol);  // left for the operator
  CHECK(std::count_if(notes.begin(), notes.end(), [](auto& n) { return n.find("re-keyed") == 0; }) == 1);
  CHECK(std::count_if(notes.begin(), notes.end(), [](auto& n) { return n.find("another account") != std::string::npos; }) == 1);
}

TEST_CASE("contract: fill reports a size", "[contract]") {
  Fixture f;
  Fill fl;
  REQUIRE_OK(f.db->fill(fl));
  CHECK(fl.used_bytes <= fl.map_bytes);
}
