// The account flows (domain/flows/) without an actor system: each step runs
// in a write of a real LMDB store in a temporary folder, and the tests read
// back what it stored.
#include "domain/flows/admin.hpp"
#include "domain/flows/links.hpp"
#include "domain/flows/login.hpp"
#include "domain/flows/registration.hpp"
#include "domain/flows/settings.hpp"
#include "domain/base64url.hpp"
#include "domain/pkce.hpp"
#include "domain/username.hpp"
#include "store/lmdb/backend.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

using namespace gh;
using flows::Outcome;

namespace {

constexpr std::int64_t kNow = 1'700'000'000;

struct Store {
  std::string dir;
  std::unique_ptr<store::Backend> db;
  Store() {
    static int n = 0;
    dir = std::filesystem::temp_directory_path() / ("gh-flows-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(dir);
    store::Status st;
    db = store::lmdb::open({dir, std::size_t{64} << 20}, st);
    INFO(st.to_string());
    REQUIRE(db);
  }
  ~Store() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
  // Runs a step in one write: committed when it is done, rolled back when it
  // refuses (as the writer's batch does with a refused op).
  Outcome run(const std::function<Outcome(store::WriteTxn&)>& step) {
    Outcome out;
    auto st = db->write([&](store::WriteTxn& t) -> store::Status {
      out = step(t);
      return out ? store::Status::Conflict("refused") : store::Status::OK();
    });
    if (!out) REQUIRE(st.ok());
    return out;
  }
  domain::User user(const std::string& id) {
    store::Status st;
    auto t = db->read(st);
    REQUIRE(t);
    domain::User u;
    REQUIRE(t->user(id, u).ok());
    return u;
  }
  std::vector<domain::Session> sessions(const std::string& id) {
    store::Status st;
    auto t = db->read(st);
    REQUIRE(t);
    std::vector<domain::Session> out;
    REQUIRE(t->sessions_of(id, out).ok());
    return out;
  }
  domain::User add(const std::string& email, const std::string& role = "user", const std::string& username = "") {
    auto u = flows::new_account({email, username, "", role}, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", kNow);
    REQUIRE_FALSE(run([&](store::WriteTxn& t) { return flows::insert_account(t, u); }));
    return u;
  }
  std::string open_session(const domain::User& u) {
    auto s = flows::new_session(u, "10.0.0.1", "test", kNow, 3600);
    std::vector<std::string> evicted;
    REQUIRE_FALSE(run([&](store::WriteTxn& t) { return flows::open_session(t, s.session, 10, kNow, evicted); }));
    return s.session.id;
  }
};

Errc code(const Outcome& o) {
  REQUIRE(o);
  return o->code;
}

}  // namespace

// ---- usernames ---------------------------------------------------------------

TEST_CASE("usernames: 3-32 of [A-Za-z0-9_.-], starting with a letter or digit", "[flows][username]") {
  for (auto ok : {"abc", "Alice", "a.b-c_d", "007"}) CHECK(domain::valid_username(ok));
  CHECK(domain::valid_username(std::string(32, 'x')));
  for (auto bad : {"", "ab", "_abc", ".abc", "-abc", "a b", "al!ce", "émile", "a/b"}) CHECK_FALSE(domain::valid_username(bad));
  CHECK_FALSE(domain::valid_username(std::string(33, 'x')));
}

// ---- registration ------------------------------------------------------------

TEST_CASE("registration: a new email creates; a taken one conflicts, or goes on quietly under notify", "[flows]") {
  Store s;
  flows::SignUpPath path;
  domain::User existing;
  REQUIRE_FALSE(flows::decide_sign_up(*s.db, "a@example.com", flows::ExistingEmail::conflict, path, existing));
  CHECK(path == flows::SignUpPath::create);
  auto a = s.add("a@example.com", "user", "alice");
  CHECK(s.user(a.id).created_at == kNow);

  CHECK(code(flows::decide_sign_up(*s.db, "a@example.com", flows::ExistingEmail::conflict, path, existing)) ==
        Errc::conflict);
  REQUIRE_FALSE(flows::decide_sign_up(*s.db, "a@example.com", flows::ExistingEmail::notify, path, existing));
  CHECK(path == flows::SignUpPath::notify_existing);
  CHECK(existing.id == a.id);
  CHECK(flows::session_on_sign_up(flows::ExistingEmail::conflict));
  CHECK_FALSE(flows::session_on_sign_up(flows::ExistingEmail::notify));

  // The store keeps uniqueness: the insert refuses a taken email or username.
  auto dup = flows::new_account({"a@example.com", "", ""}, "x", kNow);
  CHECK(code(s.run([&](store::WriteTxn& t) { return flows::insert_account(t, dup); })) == Errc::conflict);
  auto taken = flows::new_account({"b@example.com", "ALICE", ""}, "x", kNow);
  CHECK(code(s.run([&](store::WriteTxn& t) { return flows::insert_account(t, taken); })) == Errc::conflict);
}

// ---- login -------------------------------------------------------------------

TEST_CASE("login: unknown, throttled, inactive and wrong password get one answer", "[flows][login]") {
  flows::LoginFacts ok;
  ok.known = ok.password_ok = ok.active = ok.email_verified = true;
  auto d = flows::decide_login(ok);
  CHECK(d.verdict == flows::LoginVerdict::succeeded);
  CHECK(d.open_session);
  CHECK_FALSE(d.answer());

  auto unknown = ok;
  unknown.known = false;
  auto throttled = ok;
  throttled.waiting = true;
  auto inactive = ok;
  inactive.active = false;
  auto wrong = ok;
  wrong.password_ok = false;
  std::vector<std::pair<flows::LoginFacts, const char*>> refusals = {
      {unknown, "unknown_user"}, {throttled, "throttled"}, {inactive, "inactive"}, {wrong, "wrong_password"}};
  for (auto& [facts, reason] : refusals) {
    auto r = flows::decide_login(facts);
    CHECK(std::string(r.reason()) == reason);
    CHECK_FALSE(r.open_session);
    auto a = r.answer();
    REQUIRE(a);
    CHECK(a->code == Errc::invalid_credentials);
    CHECK(a->description == flows::bad_login().description);
  }
  // Only checked passwords count: not unknown emails, not attempts while waiting.
  CHECK_FALSE(flows::decide_login(unknown).count_account_failure);
  CHECK_FALSE(flows::decide_login(throttled).count_account_failure);
  CHECK(flows::decide_login(wrong).count_account_failure);
  CHECK(flows::decide_login(inactive).count_account_failure);
  auto by_device = wrong;
  by_device.by_device = true;
  CHECK(flows::decide_login(by_device).count_device_failure);
  CHECK_FALSE(flows::decide_login(by_device).count_account_failure);
}

TEST_CASE("login: success clears counts, rehashes, and an unverified email is refused with 403", "[flows][login]") {
  flows::LoginFacts f;
  f.known = f.password_ok = f.active = f.had_failures = f.rehash = true;
  auto d = flows::decide_login(f);
  CHECK(d.verdict == flows::LoginVerdict::unverified);
  CHECK(code(d.answer()) == Errc::forbidden);
  CHECK(d.clear_account);
  CHECK(d.upgrade_hash);
  CHECK_FALSE(d.open_session);
  f.allow_unverified = true;
  CHECK(flows::decide_login(f).open_session);
  f.by_device = true;  // a device's success clears only its own count
  d = flows::decide_login(f);
  CHECK(d.clear_device);
  CHECK_FALSE(d.clear_account);
}

TEST_CASE("login: failures are counted in the store and back the account off", "[flows][login]") {
  Store s;
  auto a = s.add("a@example.com");
  domain::Backoff backoff;  // after 5 failures
  domain::DeviceFailures devices(backoff);
  for (int i = 0; i < 5; ++i)
    REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::record_attempt(t, a.id, true, backoff, kNow); }));
  auto u = s.user(a.id);
  CHECK(u.failed_logins == 5);
  CHECK(flows::backing_off(backoff, devices, "", u, kNow));
  CHECK_FALSE(flows::backing_off(backoff, devices, "device-1", u, kNow));  // a known device waits for its own only
  CHECK_FALSE(flows::backing_off(backoff, devices, "", u, kNow + 2));
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::record_attempt(t, a.id, false, backoff, kNow); }));
  CHECK(s.user(a.id).failed_logins == 0);
  // An account gone meanwhile is nothing to count.
  CHECK_FALSE(s.run([&](store::WriteTxn& t) { return flows::record_attempt(t, "nobody", true, backoff, kNow); }));
}

TEST_CASE("login: a rehash is stored unless the password changed meanwhile", "[flows][login]") {
  Store s;
  auto a = s.add("a@example.com");
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::upgrade_hash(t, a.id, "other", "new", kNow); }));
  CHECK(s.user(a.id).password_hash == a.password_hash);
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::upgrade_hash(t, a.id, a.password_hash, "new", kNow); }));
  CHECK(s.user(a.id).password_hash == "new");
}

// ---- administration ------------------------------------------------------------

TEST_CASE("admin: updates follow the matrix; one's own profile is always one's own", "[flows][admin]") {
  Store s;
  auto roles = domain::Roles::builtin();
  auto admin = s.add("admin@example.com", "admin");
  auto mgr = s.add("mgr@example.com", "manager");
  auto user = s.add("user@example.com", "user");
  auto bob = s.add("bob@example.com", "user", "bob");
  domain::User out;
  std::string old_role;
  auto update = [&](const domain::User& by, const std::string& id, const flows::ProfilePatch& p) {
    return s.run([&](store::WriteTxn& t) {
      return flows::update_user(t, roles, {by.id, by.role}, id, p, kNow + 5, out, old_role);
    });
  };
  flows::ProfilePatch name;
  name.full_name = "Me";
  REQUIRE_FALSE(update(user, user.id, name));  // own
  CHECK(s.user(user.id).full_name == "Me");
  CHECK(s.user(user.id).updated_at == kNow + 5);
  CHECK(code(update(user, bob.id, name)) == Errc::forbidden);
  CHECK(code(update(mgr, admin.id, name)) == Errc::forbidden);
  REQUIRE_FALSE(update(mgr, user.id, name));

  flows::ProfilePatch promote;
  promote.role = "admin";
  CHECK(code(update(mgr, user.id, promote)) == Errc::forbidden);  // may not give it
  CHECK(code(update(user, user.id, promote)) == Errc::forbidden);  // nor to oneself
  CHECK(s.user(user.id).role == "user");
  promote.role = "emperor";
  CHECK(code(update(admin, user.id, promote)) == Errc::invalid_request);
  promote.role = "manager";
  REQUIRE_FALSE(update(admin, user.id, promote));
  CHECK(old_role == "user");
  CHECK(s.user(user.id).role == "manager");
  CHECK(flows::patched_fields(promote) == nlohmann::json::array({"role"}));

  flows::ProfilePatch taken;
  taken.username = "BOB";
  auto f = update(user, user.id, taken);
  CHECK(code(f) == Errc::conflict);
  CHECK(f->description == "this username is taken");
  CHECK(code(update(admin, "nobody", name)) == Errc::not_found);
}

TEST_CASE("admin: (de)activation follows the matrix, never one's own, and revokes", "[flows][admin]") {
  Store s;
  auto roles = domain::Roles::builtin();
  auto admin = s.add("admin@example.com", "admin");
  auto mgr = s.add("mgr@example.com", "manager");
  auto user = s.add("user@example.com", "user");
  s.open_session(user);
  s.open_session(user);
  domain::User out;
  auto set = [&](const domain::User& by, const std::string& id, bool on) {
    return s.run([&](store::WriteTxn& t) { return flows::set_active(t, roles, {by.id, by.role}, id, on, kNow, out); });
  };
  CHECK(code(set(admin, admin.id, false)) == Errc::forbidden);
  CHECK(code(set(mgr, admin.id, false)) == Errc::forbidden);
  CHECK(code(set(user, mgr.id, false)) == Errc::forbidden);
  REQUIRE_FALSE(set(mgr, user.id, false));
  CHECK_FALSE(s.user(user.id).active);
  for (auto& sess : s.sessions(user.id)) {
    CHECK(sess.revoked);
    CHECK(sess.revoke_reason == "deactivated");
  }
  REQUIRE_FALSE(set(admin, user.id, true));
  CHECK(s.user(user.id).active);
}

TEST_CASE("admin: creation needs an existing role the matrix lets one create", "[flows][admin]") {
  Store s;
  auto roles = domain::Roles::builtin();
  flows::Actor mgr{"m", "manager"}, admin{"a", "admin"};
  CHECK(code(flows::may_create(roles, admin, "emperor")) == Errc::invalid_request);
  CHECK(code(flows::may_create(roles, mgr, "admin")) == Errc::forbidden);
  CHECK(code(flows::may_create(roles, {"u", "user"}, "user")) == Errc::forbidden);
  CHECK_FALSE(flows::may_create(roles, mgr, "user"));
  auto u = flows::new_account({"new@example.com", "", "", "admin"}, "phc", kNow);
  CHECK(code(s.run([&](store::WriteTxn& t) { return flows::create_user(t, roles, mgr, u); })) == Errc::forbidden);
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::create_user(t, roles, admin, u); }));
  CHECK(s.user(u.id).role == "admin");
  auto again = flows::new_account({"new@example.com", "", "", "user"}, "phc", kNow);
  CHECK(code(s.run([&](store::WriteTxn& t) { return flows::create_user(t, roles, admin, again); })) ==
        Errc::conflict);
}

// ---- settings ------------------------------------------------------------------

TEST_CASE("settings: an avatar is stored with its URL", "[flows][settings]") {
  Store s;
  auto a = s.add("a@example.com");
  domain::User out;
  domain::Avatar av{"image/png", "\x89PNG", kNow};
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::set_avatar(t, a.id, av, "/avatars/x", kNow, out); }));
  CHECK(s.user(a.id).avatar_url == "/avatars/x");
  store::Status st;
  auto t = s.db->read(st);
  domain::Avatar back;
  REQUIRE(t->avatar(a.id, back).ok());
  CHECK(back.bytes == av.bytes);
  CHECK(code(s.run([&](store::WriteTxn& t) { return flows::set_avatar(t, "nobody", av, "", kNow, out); })) ==
        Errc::not_found);
}

TEST_CASE("settings: a password change bumps the epoch, clears the back-off, revokes what was asked", "[flows][settings]") {
  Store s;
  auto a = s.add("a@example.com");
  auto keep = s.open_session(a);
  s.open_session(a);
  s.open_session(a);
  domain::ApiKey key;
  key.id = "k1";
  key.user_id = a.id;
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::add_api_key(t, "hash-k1", key, 5, kNow); }));
  domain::Backoff backoff;
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::record_attempt(t, a.id, true, backoff, kNow); }));

  domain::User out;
  flows::Revocation counts;
  flows::PasswordRevocation what{true, false, keep};
  CHECK(code(s.run([&](store::WriteTxn& t) {
          return flows::change_password(t, a.id, "stale", "new-phc", what, kNow, out, counts);
        })) == Errc::conflict);
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) {
    return flows::change_password(t, a.id, a.password_hash, "new-phc", what, kNow, out, counts);
  }));
  CHECK(counts.sessions == 2);
  CHECK(counts.api_tokens == 0);
  auto u = s.user(a.id);
  CHECK(u.password_hash == "new-phc");
  CHECK(u.device_epoch == a.device_epoch + 1);
  CHECK(u.failed_logins == 0);
  for (auto& sess : s.sessions(a.id)) CHECK(sess.revoked == (sess.id != keep));

  what = {false, true, ""};
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) {
    return flows::change_password(t, a.id, "new-phc", "newer", what, kNow, out, counts);
  }));
  CHECK(counts.sessions == 0);
  CHECK(counts.api_tokens == 1);
  CHECK(s.user(a.id).device_epoch == a.device_epoch + 2);
}

// ---- links -------------------------------------------------------------------

TEST_CASE("links: purposes map to their mail, page, event and lifetime", "[flows][links]") {
  flows::LinkPolicy p{900, 86400, 1800, 3};
  CHECK(std::string(flows::link_kind("magic")) == "magic_link");
  CHECK(std::string(flows::link_kind("verify")) == "verify_email");
  CHECK(std::string(flows::link_kind("reset")) == "reset_password");
  CHECK(std::string(flows::link_path("reset")) == "/auth/password/reset");
  CHECK(std::string(flows::link_sent_event("verify")) == "verification_sent");
  CHECK(flows::link_ttl(p, "magic") == 900);
  CHECK(flows::link_ttl(p, "verify") == 86400);
  CHECK(flows::link_ttl(p, "reset") == 1800);
  auto m = flows::new_link(p, "magic", "u", kNow, "https://app/cb", "challenge");
  CHECK(m.record.expires_at == kNow + 900);
  CHECK(m.record.redirect_to == "https://app/cb");
  CHECK(m.hash == domain::blake2b256(m.token));
  auto r = flows::new_link(p, "reset", "u", kNow, "https://app/cb", "challenge");  // binds only to magic
  CHECK(r.record.redirect_to.empty());
  CHECK(r.record.code_challenge.empty());
  std::optional<domain::User> none, inactive(std::in_place);
  inactive->active = false;
  CHECK_FALSE(flows::link_recipient(none));
  CHECK_FALSE(flows::link_recipient(inactive));
}

TEST_CASE("links: at most max_live live links; a link is used once and retires its siblings", "[flows][links]") {
  Store s;
  auto a = s.add("a@example.com");
  flows::LinkPolicy p{900, 86400, 1800, 2};
  std::vector<flows::NewLink> links;
  for (int i = 0; i < 3; ++i) {
    links.push_back(flows::new_link(p, "verify", a.id, kNow));
    bool issued = false;
    REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::issue_link(t, links.back(), p, kNow, issued); }));
    CHECK(issued == (i < 2));
  }
  domain::User out;
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::redeem(t, links[0].hash, "verify", kNow + 1, out); }));
  CHECK(s.user(a.id).email_verified);
  CHECK(code(s.run([&](store::WriteTxn& t) { return flows::redeem(t, links[0].hash, "verify", kNow + 1, out); })) ==
        Errc::invalid_grant);  // used
  CHECK(code(s.run([&](store::WriteTxn& t) { return flows::redeem(t, links[1].hash, "verify", kNow + 1, out); })) ==
        Errc::invalid_grant);  // retired
  CHECK(code(s.run([&](store::WriteTxn& t) { return flows::redeem(t, links[2].hash, "verify", kNow + 1, out); })) ==
        Errc::invalid_grant);  // never issued
  auto late = flows::new_link(p, "magic", a.id, kNow);
  bool issued = false;
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::issue_link(t, late, p, kNow, issued); }));
  CHECK(code(s.run([&](store::WriteTxn& t) { return flows::redeem(t, late.hash, "verify", kNow, out); })) ==
        Errc::invalid_grant);  // another purpose
  CHECK(code(s.run([&](store::WriteTxn& t) { return flows::redeem(t, late.hash, "magic", kNow + 901, out); })) ==
        Errc::invalid_grant);  // expired
  CHECK(code(s.run([&](store::WriteTxn& t) {
          return flows::redeem_for(t, late.hash, "magic", "someone-else", kNow, out);
        })) == Errc::invalid_grant);  // rolled back: still usable by its owner
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::redeem_for(t, late.hash, "magic", a.id, kNow, out); }));
}

TEST_CASE("links: a magic link with a redirect issues a PKCE-bound code in the same commit", "[flows][links]") {
  Store s;
  auto a = s.add("a@example.com");
  flows::LinkPolicy p;
  std::string verifier(43, 'v');
  auto challenge = domain::pkce_s256(verifier);
  auto link = flows::new_link(p, "magic", a.id, kNow, "https://app/cb", challenge);
  bool issued = false;
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::issue_link(t, link, p, kNow, issued); }));
  domain::User out;
  std::string code_value = "the-code";
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) {
    return flows::redeem_with_code(t, link.hash, code_value, challenge, kNow, out);
  }));
  auto code_hash = domain::blake2b256(code_value);
  CHECK(code(s.run([&](store::WriteTxn& t) {
          return flows::redeem(t, code_hash, "code", kNow, out, std::string(43, 'w'));
        })) == Errc::invalid_grant);  // a wrong verifier leaves it unused
  CHECK(code(s.run([&](store::WriteTxn& t) {
          return flows::redeem(t, code_hash, "code", kNow + flows::kMagicCodeTtlS + 1, out, verifier);
        })) == Errc::invalid_grant);
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::redeem(t, code_hash, "code", kNow, out, verifier); }));
  CHECK(out.id == a.id);
}

TEST_CASE("links: a reset sets the password, bumps the epoch and revokes everything", "[flows][links][settings]") {
  Store s;
  auto a = s.add("a@example.com");
  s.open_session(a);
  s.open_session(a);
  domain::ApiKey key;
  key.id = "k1";
  key.user_id = a.id;
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::add_api_key(t, "hash-k1", key, 5, kNow); }));
  flows::LinkPolicy p;
  auto link = flows::new_link(p, "reset", a.id, kNow);
  bool issued = false;
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::issue_link(t, link, p, kNow, issued); }));
  domain::User out;
  flows::Revocation counts;
  REQUIRE_FALSE(s.run([&](store::WriteTxn& t) { return flows::reset_password(t, link.hash, "reset-phc", kNow, out, counts); }));
  CHECK(counts.sessions == 2);
  CHECK(counts.api_tokens == 1);
  auto u = s.user(a.id);
  CHECK(u.password_hash == "reset-phc");
  CHECK(u.device_epoch == a.device_epoch + 1);
  for (auto& sess : s.sessions(a.id)) CHECK(sess.revoke_reason == "password_changed");
  CHECK(code(s.run([&](store::WriteTxn& t) {
          return flows::reset_password(t, link.hash, "again", kNow, out, counts);
        })) == Errc::invalid_grant);  // single use
  CHECK(s.user(a.id).password_hash == "reset-phc");
}
