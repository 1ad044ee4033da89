// Operator commands on accounts: seed, user create|set-role|deactivate|list,
// import. They work on the store directly, each in its own write transaction
// (LMDB serialises them with a running server's writer), and apply the same
// rules as the HTTP routes (domain/flows/, domain/): the same
// password policy, and every change appended to the audit chain in the same
// transaction, with the operator ("cli:<unix user>") as actor.
#include "domain/flows/accounts.hpp"
#include "domain/base64url.hpp"
#include "domain/clock.hpp"
#include "domain/email.hpp"
#include "domain/username.hpp"
#include "domain/password.hpp"
#include "app/commands.hpp"
#include "telemetry/log.hpp"

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

namespace gh::app {
namespace {

// A password from the environment variable `var`, or a generated one that is
// printed once (to stdout, never to the log).
std::string password_from(const char* var, bool& generated) {
  if (const char* p = std::getenv(var); p && *p) {
    generated = false;
    return p;
  }
  generated = true;
  return domain::b64url_encode(domain::random_bytes(18));
}

domain::HashParams params(const config::Config& cfg) {
  return {cfg.hashing.ops_limit, cfg.hashing.mem_limit_kib * 1024};
}

// The account with the email `raw` (normalised first): ok, not_found or a failure.
store::Status by_email(const store::ReadTxn& t, const std::string& raw, domain::User& out) {
  std::string why;
  auto email = domain::normalize_email(raw, why);
  if (!email) return store::Status::NotFound();
  return t.user_by_email(*email, out);
}

// Prints why a store call failed (when it did). Returns the exit code.
int report(const store::Status& st, const char* what = "the store failed") {
  if (st.ok()) return 0;
  std::cerr << "gatehouse: " << what << ": " << st.to_string() << "\n";
  return 1;
}

// Creates an account with a password (checked against the password policy
// and hashed here). Returns the exit code.
int create_account(store::Backend& db, const config::Config& cfg, const std::string& raw_email,
                   const std::string& role, const char* password_var, bool verified) {
  std::string why;
  auto email = domain::normalize_email(raw_email, why);
  if (!email) {
    std::cerr << "gatehouse: " << why << "\n";
    return 2;
  }
  auto policy = domain::PasswordPolicy::load(cfg.password.min_length, cfg.password.max_bytes,
                                            cfg.resolve(cfg.password.blocklist), why);
  if (!policy) {
    std::cerr << "gatehouse: " << why << "\n";
    return 2;
  }
  bool generated = false;
  auto password = password_from(password_var, generated);
  if (auto bad = policy->check(password)) {
    sodium_memzero(password.data(), password.size());
    std::cerr << "gatehouse: password from " << password_var << " refused: " << *bad << "\n";
    return 2;
  }
  auto hash = domain::hash_password(password, params(cfg));
  if (!hash) return 1;
  domain::User u;
  u.id = domain::random_id();
  u.email = *email;
  u.password_hash = *hash;
  u.role = role;
  u.email_verified = verified;
  u.created_at = u.updated_at = now_s();
  auto source = std::string(password_var) == "GATEHOUSE_ADMIN_PASSWORD" ? "seed" : "user create";
  auto st = db.write([&](store::WriteTxn& t) {
    auto s = t.insert_user(u);
    return s.ok() ? t.append_audit(operator_event("user_created", u.id, {{"role", role}, {"via", source}}).canonical())
                  : s;
  });
  if (st.is_conflict()) {
    std::cerr << "gatehouse: an account with this email already exists\n";
    return 1;
  }
  if (int code = report(st, "cannot create the account")) return code;
  std::cout << "created " << role << " " << u.email << " (id " << u.id << ")\n";
  if (generated) std::cout << "password (shown once): " << password << "\n";
  sodium_memzero(password.data(), password.size());
  return 0;
}

}  // namespace

int seed(const CommonOptions& o) {
  config::Config cfg;
  int code = 0;
  auto db = prepare(o, cfg, code);
  if (!db) return code;
  std::string existing;
  store::Status st;
  if (auto t = db->read(st))
    st = t->users_by_email("", false, [&](const domain::User& u) {
      if (u.role == "admin" && u.active) existing = u.email;
      return existing.empty();
    });
  if (int c = report(st)) return c;
  if (!existing.empty()) {
    std::cout << "an admin already exists (" << existing << "); nothing changed\n";
    return 0;
  }
  const char* email = std::getenv("GATEHOUSE_ADMIN_EMAIL");
  return create_account(*db, cfg, email && *email ? email : "admin@localhost", "admin",
                        "GATEHOUSE_ADMIN_PASSWORD", true);
}

int user_create(const CommonOptions& o, const UserOptions& u) {
  config::Config cfg;
  int code = 0;
  auto db = prepare(o, cfg, code);
  if (!db) return code;
  auto roles = load_roles(cfg);
  if (!roles) return 2;
  auto role = u.role.empty() ? std::string("user") : u.role;
  if (!roles->exists(role)) {
    std::cerr << "gatehouse: unknown role '" << role << "'\n";
    return 2;
  }
  return create_account(*db, cfg, u.email, role, "GATEHOUSE_USER_PASSWORD", false);
}

// Loads the user named by --email, changes it (`change` fills in the audit
// event), stores it with the audit record.
template <class Change>
int change_user(const CommonOptions& o, const UserOptions& u, Change change) {
  config::Config cfg;
  int code = 0;
  auto db = prepare(o, cfg, code);
  if (!db) return code;
  int exit_code = 0;
  auto st = db->write([&](store::WriteTxn& t) {
    domain::User user;
    auto s = by_email(t, u.email, user);
    if (s.is_not_found()) std::cerr << "gatehouse: no user with email '" << u.email << "'\n";
    if (!s.ok()) return s;
    domain::AuditEvent event;
    if ((exit_code = change(cfg, t, user, event))) return store::Status::NotFound();  // rolled back
    user.updated_at = now_s();
    if (s = t.update_user(user); !s.ok()) return s;
    return t.append_audit(event.canonical());
  });
  if (exit_code) return exit_code;
  return st.is_not_found() ? 1 : report(st);
}

int user_set_role(const CommonOptions& o, const UserOptions& u) {
  return change_user(o, u, [&](const config::Config& cfg, store::WriteTxn&, domain::User& user,
                               domain::AuditEvent& event) {
    auto roles = load_roles(cfg);
    if (!roles || !roles->exists(u.role)) {
      std::cerr << "gatehouse: unknown role '" << u.role << "'\n";
      return 2;
    }
    std::cout << user.email << ": role " << user.role << " -> " << u.role << "\n";
    event = operator_event("role_changed", user.id, {{"from", user.role}, {"to", u.role}});
    user.role = u.role;
    return 0;
  });
}

int user_deactivate(const CommonOptions& o, const UserOptions& u) {
  return change_user(o, u, [](const config::Config&, store::WriteTxn& t, domain::User& user,
                              domain::AuditEvent& event) {
    if (auto f = flows::deactivate(t, user)) {
      std::cerr << "gatehouse: " << f->description << "\n";
      return 1;
    }
    event = operator_event("user_deactivated", user.id);
    std::cout << user.email << ": deactivated; sessions and API tokens revoked\n";
    return 0;
  });
}

int user_list(const CommonOptions& o, const UserOptions& u) {
  return with_read(o, [&](const config::Config&, const store::ReadTxn& t) {
    return report(t.users_by_email("", false, [&](const domain::User& user) {
      if (u.role.empty() || user.role == u.role)
        std::cout << nlohmann::json{{"id", user.id}, {"email", user.email}, {"role", user.role},
                                    {"active", user.active}}
                         .dump()
                  << "\n";
      return true;
    }));
  });
}

// JSON lines {email, password_hash, role?, full_name?, username?}; a bad
// line is reported with its number and nothing of it is imported. The hashes
// are not plaintext, so the password policy cannot apply; every imported
// account gets its user_created audit record.
int import_users(const CommonOptions& o, const UserOptions& u) {
  config::Config cfg;
  int code = 0;
  auto db = prepare(o, cfg, code);
  if (!db) return code;
  auto roles = load_roles(cfg);
  if (!roles) return 2;
  std::ifstream in(u.file);
  if (!in) {
    std::cerr << "gatehouse: cannot read " << u.file << "\n";
    return 2;
  }
  std::string line;
  int n = 0, imported = 0, bad = 0;
  auto reject = [&](const std::string& why) {
    std::cerr << u.file << ":" << n << ": " << why << "\n";
    ++bad;
  };
  auto st = db->write([&](store::WriteTxn& t) -> store::Status {
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) {
      reject("not a JSON object");
      continue;
    }
    auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
    std::string why;
    auto email = domain::normalize_email(str("email"), why);
    auto hash = str("password_hash");
    auto role = str("role").empty() ? std::string("user") : str("role");
    if (!email) {
      reject(why);
      continue;
    }
    if (!domain::is_bcrypt(hash) && hash.rfind("$argon2id$", 0) != 0) {
      reject("password_hash must be bcrypt ($2a$/$2b$/$2y$) or Argon2id");
      continue;
    }
    if (!roles->exists(role)) {
      reject("unknown role '" + role + "'");
      continue;
    }
    auto username = str("username");
    if (!username.empty() && !domain::valid_username(username)) {
      reject(domain::kUsernameRule);
      continue;
    }
    domain::User user;
    user.id = domain::random_id();
    user.email = *email;
    user.password_hash = hash;
    user.role = role;
    user.full_name = str("full_name");
    user.username = username;
    user.created_at = user.updated_at = now_s();
    if (auto s = t.insert_user(user); s.is_conflict()) {
      reject("email or username already exists");
      continue;
    } else if (!s.ok()) {
      return s;
    }
    auto s = t.append_audit(operator_event("user_created", user.id, {{"role", role}, {"via", "import"}}).canonical());
    if (!s.ok()) return s;
    ++imported;
  }
  return store::Status::OK();
  });
  if (int c = report(st, "import failed, nothing imported")) return c;
  std::cout << "imported " << imported << " users, " << bad << " lines rejected\n";
  return bad ? 1 : 0;
}

}  // namespace gh::app
