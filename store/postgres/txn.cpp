#include "store/postgres/txn.hpp"

#include "domain/ascii.hpp"
#include "domain/audit.hpp"
#include "store/audit_link.hpp"

namespace gh::store::postgres {

#define GH_USER_COLS                                                                                        \
  "id, email, password_hash, role, username, full_name, avatar_url, onboarding, data, email_verified, active, " \
  "created_at, updated_at, failed_logins, last_failed_at, device_epoch"
#define GH_SESSION_COLS                                                                                    \
  "id, user_id, generation, token_hash, rotated_at, created_at, last_used_at, expires_at, revoked, "       \
  "revoke_reason, ip, user_agent"
#define GH_API_KEY_COLS "id, user_id, name, scopes, allowed_ips, created_at, expires_at, revoked"
#define GH_OTP_COLS "purpose, user_id, expires_at, used, redirect_to, code_challenge"

const char* const kUserColumns = GH_USER_COLS;
const char* const kSessionColumns = GH_SESSION_COLS;

namespace {

// ---- the statements ------------------------------------------------------------------

const Stmt kUser{"user", "SELECT " GH_USER_COLS " FROM users WHERE id = $1"};
const Stmt kUserByEmail{"user_by_email", "SELECT " GH_USER_COLS " FROM users WHERE email = $1"};
const Stmt kUserByName{"user_by_name", "SELECT " GH_USER_COLS " FROM users WHERE username_key = $1"};
const Stmt kUsersFrom{"users_from", "SELECT " GH_USER_COLS " FROM users WHERE email >= $1 ORDER BY email LIMIT $2"};
const Stmt kUsersAfter{"users_after", "SELECT " GH_USER_COLS " FROM users WHERE email > $1 ORDER BY email LIMIT $2"};
const Stmt kInsertUser{"insert_user",
                       "INSERT INTO users (" GH_USER_COLS ", username_key) VALUES "
                       "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
                       "ON CONFLICT DO NOTHING"};
// (user exists, email or username held by another): every check before the write.
const Stmt kUserClash{"user_clash",
                      "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1), "
                      "EXISTS (SELECT 1 FROM users WHERE id <> $1 AND (email = $2 OR username_key = $3))"};
const Stmt kUpdateUser{"update_user",
                       "UPDATE users SET email = $2, password_hash = $3, role = $4, username = $5, full_name = $6, "
                       "avatar_url = $7, onboarding = $8, data = $9, email_verified = $10, active = $11, "
                       "created_at = $12, updated_at = $13, failed_logins = $14, last_failed_at = $15, "
                       "device_epoch = $16, username_key = $17 WHERE id = $1"};

const Stmt kSession{"session", "SELECT " GH_SESSION_COLS " FROM sessions WHERE id = $1"};
const Stmt kSessionsOf{"sessions_of", "SELECT " GH_SESSION_COLS " FROM sessions WHERE user_id = $1 ORDER BY id"};
const Stmt kPutSession{"put_session",
                       "INSERT INTO sessions (" GH_SESSION_COLS ") VALUES "
                       "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO UPDATE SET "
                       "user_id = EXCLUDED.user_id, generation = EXCLUDED.generation, "
                       "token_hash = EXCLUDED.token_hash, rotated_at = EXCLUDED.rotated_at, "
                       "created_at = EXCLUDED.created_at, last_used_at = EXCLUDED.last_used_at, "
                       "expires_at = EXCLUDED.expires_at, revoked = EXCLUDED.revoked, "
                       "revoke_reason = EXCLUDED.revoke_reason, ip = EXCLUDED.ip, user_agent = EXCLUDED.user_agent"};
// The session and its current refresh token, in one statement.
const Stmt kDeleteSession{"delete_session",
                          "WITH s AS (DELETE FROM sessions WHERE id = $1) "
                          "DELETE FROM refresh WHERE token_hash = $2"};
const Stmt kRefresh{"refresh", "SELECT session_id, generation, expires_at FROM refresh WHERE token_hash = $1"};
const Stmt kPutRefresh{"put_refresh",
                       "INSERT INTO refresh (token_hash, session_id, generation, expires_at) VALUES ($1, $2, $3, $4) "
                       "ON CONFLICT (token_hash) DO UPDATE SET session_id = EXCLUDED.session_id, "
                       "generation = EXCLUDED.generation, expires_at = EXCLUDED.expires_at"};

const Stmt kApiKey{"api_key", "SELECT " GH_API_KEY_COLS " FROM api_keys WHERE secret_hash = $1"};
const Stmt kApiKeysOf{"api_keys_of",
                      "SELECT secret_hash, " GH_API_KEY_COLS " FROM api_keys WHERE user_id = $1 ORDER BY id"};
const Stmt kPutApiKey{"put_api_key",
                      "INSERT INTO api_keys (secret_hash, " GH_API_KEY_COLS ") VALUES "
                      "($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (secret_hash) DO UPDATE SET "
                      "id = EXCLUDED.id, user_id = EXCLUDED.user_id, name = EXCLUDED.name, "
                      "scopes = EXCLUDED.scopes, allowed_ips = EXCLUDED.allowed_ips, "
                      "created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, "
                      "revoked = EXCLUDED.revoked"};

const Stmt kOtp{"otp", "SELECT " GH_OTP_COLS " FROM otp WHERE token_hash = $1"};
#define GH_OTP_UPSERT                                                                                   \
  " ON CONFLICT (token_hash) DO UPDATE SET purpose = EXCLUDED.purpose, user_id = EXCLUDED.user_id, "   \
  "expires_at = EXCLUDED.expires_at, used = EXCLUDED.used, redirect_to = EXCLUDED.redirect_to, "        \
  "code_challenge = EXCLUDED.code_challenge"
const Stmt kPutOtp{"put_otp", "INSERT INTO otp (token_hash, " GH_OTP_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
                              GH_OTP_UPSERT};
// Inserted only while fewer than $9 issued tokens of the user and purpose are live at $8.
const Stmt kIssueOtp{"issue_otp",
                     "INSERT INTO otp (token_hash, " GH_OTP_COLS ", issued) "
                     "SELECT $1, $2, $3, $4, $5, $6, $7, true WHERE (SELECT count(*) FROM otp WHERE user_id = $3 "
                     "AND purpose = $2 AND issued AND NOT used AND expires_at > $8) < $9" GH_OTP_UPSERT
                     ", issued = true"};
const Stmt kRetireOtps{"retire_otps",
                       "UPDATE otp SET used = true, issued = false WHERE user_id = $1 AND purpose = $2 AND issued"};

const Stmt kAvatar{"avatar", "SELECT content_type, bytes, updated_at FROM avatars WHERE user_id = $1"};
const Stmt kPutAvatar{"put_avatar",
                      "INSERT INTO avatars (user_id, content_type, bytes, updated_at) VALUES ($1, $2, $3, $4) "
                      "ON CONFLICT (user_id) DO UPDATE SET content_type = EXCLUDED.content_type, "
                      "bytes = EXCLUDED.bytes, updated_at = EXCLUDED.updated_at"};
const Stmt kKey{"key", "SELECT kid, seed, created_at FROM signing_keys WHERE kid = $1"};
const Stmt kPutKey{"put_key",
                   "INSERT INTO signing_keys (kid, seed, created_at) VALUES ($1, $2, $3) "
                   "ON CONFLICT (kid) DO UPDATE SET seed = EXCLUDED.seed, created_at = EXCLUDED.created_at"};
const Stmt kDeleteKey{"delete_key", "DELETE FROM signing_keys WHERE kid = $1"};
const Stmt kMeta{"meta", "SELECT value FROM meta WHERE name = $1"};
const Stmt kPutMeta{"put_meta",
                    "INSERT INTO meta (name, value) VALUES ($1, $2) "
                    "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"};

const Stmt kAuditHead{"audit_head", "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"};
const Stmt kAuditAfter{"audit_after",
                       "SELECT seq, prev, hash, canonical FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"};
const Stmt kAppendAudit{"append_audit", "INSERT INTO audit (seq, prev, hash, canonical) VALUES ($1, $2, $3, $4)"};

// The prune walks: `limit` + 1 rows after the cursor (the extra one says
// whether the table goes on).
const Stmt kPruneSessions{"prune_sessions",
                          "SELECT " GH_SESSION_COLS " FROM sessions WHERE id > $1 ORDER BY id LIMIT $2"};
const Stmt kPruneRefresh{"prune_refresh",
                         "SELECT r.token_hash, r.session_id, r.generation, r.expires_at, s.id IS NOT NULL "
                         "FROM refresh r LEFT JOIN sessions s ON s.id = r.session_id "
                         "WHERE r.token_hash > $1 ORDER BY r.token_hash LIMIT $2"};
const Stmt kPruneApiKeys{"prune_api_keys",
                         "SELECT secret_hash, " GH_API_KEY_COLS
                         " FROM api_keys WHERE secret_hash > $1 ORDER BY secret_hash LIMIT $2"};
const Stmt kPruneOtp{"prune_otp",
                     "SELECT token_hash, " GH_OTP_COLS " FROM otp WHERE token_hash > $1 ORDER BY token_hash LIMIT $2"};
const Stmt kDeleteSessions{"delete_sessions",
                           "WITH s AS (DELETE FROM sessions WHERE id = ANY($1)) "
                           "DELETE FROM refresh WHERE token_hash = ANY($2)"};
const Stmt kDeleteRefresh{"delete_refresh", "DELETE FROM refresh WHERE token_hash = ANY($1)"};
const Stmt kDeleteApiKeys{"delete_api_keys", "DELETE FROM api_keys WHERE secret_hash = ANY($1)"};
const Stmt kDeleteOtps{"delete_otps", "DELETE FROM otp WHERE token_hash = ANY($1)"};

constexpr std::int64_t kPage = 256;

Params& user_params(Params& p, const domain::User& u) {
  p.text(u.id)
      .text(u.email)
      .text(u.password_hash)
      .text(u.role)
      .text(u.username)
      .text(u.full_name)
      .text(u.avatar_url)
      .text(u.onboarding)
      .json(u.data)
      .boolean(u.email_verified)
      .boolean(u.active)
      .i64(u.created_at)
      .i64(u.updated_at)
      .i64(u.failed_logins)
      .i64(u.last_failed_at)
      .i64(u.device_epoch);
  if (u.username.empty()) p.null(Oid::text);
  else p.text(domain::ascii_lower(u.username));
  return p;
}

bool decode_refresh(Row& r, domain::RefreshRef& out) {
  return r.bytes(out.session_id) && r.u64(out.generation) && r.i64(out.expires_at);
}

bool decode_api_key(Row& r, domain::ApiKey& k) {
  return r.bytes(k.id) && r.bytes(k.user_id) && r.bytes(k.name) && r.text_array(k.scopes) &&
         r.text_array(k.allowed_ips) && r.i64(k.created_at) && r.i64(k.expires_at) && r.boolean(k.revoked);
}

bool decode_otp(Row& r, domain::OneTimeToken& o) {
  return r.bytes(o.purpose) && r.bytes(o.user_id) && r.i64(o.expires_at) && r.boolean(o.used) &&
         r.bytes(o.redirect_to) && r.bytes(o.code_challenge);
}

Params otp_params(std::string_view hash, const domain::OneTimeToken& o) {
  Params p;
  p.bytea(hash).text(o.purpose).text(o.user_id).i64(o.expires_at).boolean(o.used).text(o.redirect_to).text(
      o.code_challenge);
  return p;
}

}  // namespace

bool decode_user(Row& r, domain::User& u) {
  return r.bytes(u.id) && r.bytes(u.email) && r.bytes(u.password_hash) && r.bytes(u.role) && r.bytes(u.username) &&
         r.bytes(u.full_name) && r.bytes(u.avatar_url) && r.bytes(u.onboarding) && r.json(u.data) &&
         r.boolean(u.email_verified) && r.boolean(u.active) && r.i64(u.created_at) && r.i64(u.updated_at) &&
         r.int_(u.failed_logins) && r.i64(u.last_failed_at) && r.i64(u.device_epoch);
}

bool decode_session(Row& r, domain::Session& s) {
  return r.bytes(s.id) && r.bytes(s.user_id) && r.u64(s.generation) && r.bytes(s.token_hash) &&
         r.i64(s.rotated_at) && r.i64(s.created_at) && r.i64(s.last_used_at) && r.i64(s.expires_at) &&
         r.boolean(s.revoked) && r.bytes(s.revoke_reason) && r.bytes(s.ip) && r.bytes(s.user_agent);
}

// ---- the transaction ---------------------------------------------------------------

PgTxn::~PgTxn() {
  if (open_ && conn_ && !conn_->broken()) (void)conn_->simple("ROLLBACK", "rollback");
}

Status PgTxn::begin_read() {
  // The snapshot is taken at the first statement: take it now, so the
  // transaction sees the store as it was when read() returned.
  Status st = conn_->simple("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1", "begin a read transaction");
  open_ = st.ok() || !conn_->idle();
  return st;
}

Status PgTxn::begin_write() {
  static const std::string sql = "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(" +
                                 std::to_string(kWriterLock) + ")";
  Status st = conn_->simple(sql.c_str(), "begin a write transaction");
  open_ = st.ok() || !conn_->idle();
  return st;
}

Status PgTxn::commit() {
  if (failed_) return Status::Unavailable("a statement of the transaction failed: rolled back");
  Result r;
  Status st = conn_->simple("COMMIT", "commit", &r);
  open_ = !conn_->idle();
  // Even when the outcome is unknown: a stamp that grows needlessly only
  // costs a read.
  if (b_.stamps)
    for (auto slot : touched_) b_.stamps->grow(slot);
  touched_.clear();
  if (!st.ok()) return st;
  // COMMIT of an aborted transaction succeeds as a ROLLBACK.
  if (std::string_view(PQcmdStatus(r.get())) != "COMMIT") return Status::Unavailable("commit: rolled back");
  return Status::OK();
}

Status PgTxn::savepoint() { return conn_->simple("SAVEPOINT op", "savepoint"); }

Status PgTxn::release_savepoint() { return conn_->simple("RELEASE SAVEPOINT op", "release savepoint"); }

Status PgTxn::rollback_to() {
  Status st = conn_->simple("ROLLBACK TO SAVEPOINT op; RELEASE SAVEPOINT op", "rollback to savepoint");
  if (st.ok()) failed_ = false;
  return st;
}

Status PgTxn::run(const Stmt& s, const Params& p, Result& out, std::string_view what) const {
  Status st = conn_->exec(s, p, out, what);
  if (!st.ok()) failed_ = true;
  return st;
}

template <class Decode>
Status PgTxn::one(const Stmt& s, const Params& p, std::string_view what, Decode&& decode) const {
  Result r;
  Status st = run(s, p, r, what);
  if (!st.ok()) return st;
  if (r.rows() == 0) return Status::NotFound();
  Row row(r, 0);
  if (!decode(row)) return Status::Corrupt(std::string("undecodable row in ") + std::string(what));
  return st;
}

// ---- users -----------------------------------------------------------------------

Status PgTxn::user(std::string_view id, domain::User& out) const {
  return one(kUser, Params().text(id), "users", [&](Row& r) { return decode_user(r, out); });
}

Status PgTxn::user_by_email(std::string_view email, domain::User& out) const {
  return one(kUserByEmail, Params().text(email), "users", [&](Row& r) { return decode_user(r, out); });
}

Status PgTxn::user_by_username(std::string_view username, domain::User& out) const {
  return one(kUserByName, Params().text(domain::ascii_lower(username)), "users",
             [&](Row& r) { return decode_user(r, out); });
}

Status PgTxn::users_by_email(std::string_view from, bool exclusive,
                             const std::function<bool(const domain::User&)>& visit) const {
  std::string cursor(from);
  bool after = exclusive;
  for (;;) {
    Result r;
    Status st = run(after ? kUsersAfter : kUsersFrom, Params().text(cursor).i64(kPage), r, "users");
    if (!st.ok()) return st;
    for (int i = 0; i < r.rows(); ++i) {
      domain::User u;
      Row row(r, i);
      if (!decode_user(row, u)) return Status::Corrupt("undecodable row in users");
      if (!visit(u)) return Status::OK();
      cursor = u.email;
    }
    if (r.rows() < kPage) return Status::OK();
    after = true;
  }
}

Status PgTxn::insert_user(const domain::User& u) {
  touch(u.id);
  Params p;
  Result r;
  Status st = run(kInsertUser, user_params(p, u), r, "insert a user");
  if (!st.ok()) return st;
  // ON CONFLICT DO NOTHING: a taken id, email or username writes nothing.
  if (r.affected() == 0) return Status::Conflict("user id, email or username taken");
  return st;
}

Status PgTxn::update_user(const domain::User& u) {
  Params check;
  check.text(u.id).text(u.email);
  if (u.username.empty()) check.null(Oid::text);
  else check.text(domain::ascii_lower(u.username));
  Result r;
  Status st = run(kUserClash, check, r, "users");
  if (!st.ok()) return st;
  bool exists = false, clash = false;
  Row row(r, 0);
  if (r.rows() != 1 || !row.boolean(exists) || !row.boolean(clash)) return Status::Corrupt("user check");
  if (!exists) return Status::NotFound();
  if (clash) return Status::Conflict("email or username taken");
  Params p;
  touch(u.id);
  return run(kUpdateUser, user_params(p, u), r, "update a user");
}

Status PgTxn::rekey_emails(const Backend::EmailNormalizer& normalize, std::vector<std::string>* notes) {
  if (!normalize) return Status::OK();
  std::vector<domain::User> moves;
  std::vector<std::string> targets;
  Status st = users_by_email("", false, [&](const domain::User& u) {
    auto now = normalize(u.email);
    if (!now) {
      if (notes) notes->push_back("kept " + u.email + ": this build refuses the address");
    } else if (*now != u.email) {
      moves.push_back(u);
      targets.push_back(std::move(*now));
    }
    return true;
  });
  if (!st.ok()) return st;
  for (std::size_t i = 0; i < moves.size(); ++i) {
    auto& u = moves[i];
    domain::User holder;
    st = user_by_email(targets[i], holder);
    if (st.failed()) return st;
    if (st.ok()) {
      if (notes) notes->push_back("kept " + u.email + ": " + targets[i] + " is another account");
      continue;
    }
    std::string old = u.email;
    u.email = targets[i];
    if (st = update_user(u); !st.ok()) return st;
    if (notes) notes->push_back("re-keyed " + old + " as " + u.email);
  }
  return Status::OK();
}

// ---- sessions and refresh tokens --------------------------------------------------

Status PgTxn::session(std::string_view id, domain::Session& out) const {
  return one(kSession, Params().text(id), "sessions", [&](Row& r) { return decode_session(r, out); });
}

Status PgTxn::sessions_of(std::string_view user_id, std::vector<domain::Session>& out) const {
  out.clear();
  Result r;
  Status st = run(kSessionsOf, Params().text(user_id), r, "sessions");
  if (!st.ok()) return st;
  for (int i = 0; i < r.rows(); ++i) {
    domain::Session s;
    Row row(r, i);
    if (!decode_session(row, s)) return Status::Corrupt("undecodable row in sessions");
    out.push_back(std::move(s));
  }
  return st;
}

Status PgTxn::refresh(std::string_view token_hash, domain::RefreshRef& out) const {
  return one(kRefresh, Params().bytea(token_hash), "refresh", [&](Row& r) { return decode_refresh(r, out); });
}

Status PgTxn::put_session(const domain::Session& s) {
  touch(s.id);
  Params p;
  p.text(s.id)
      .text(s.user_id)
      .i64(static_cast<std::int64_t>(s.generation))
      .bytea(s.token_hash)
      .i64(s.rotated_at)
      .i64(s.created_at)
      .i64(s.last_used_at)
      .i64(s.expires_at)
      .boolean(s.revoked)
      .text(s.revoke_reason)
      .bytea(s.ip)
      .bytea(s.user_agent);
  Result r;
  return run(kPutSession, p, r, "write a session");
}

Status PgTxn::delete_session(const domain::Session& s) {
  touch(s.id);
  Result r;
  return run(kDeleteSession, Params().text(s.id).bytea(s.token_hash), r, "delete a session");
}

Status PgTxn::put_refresh(std::string_view token_hash, const domain::RefreshRef& ref) {
  Result r;
  return run(kPutRefresh,
             Params().bytea(token_hash).text(ref.session_id).i64(static_cast<std::int64_t>(ref.generation)).i64(
                 ref.expires_at),
             r, "write a refresh token");
}

// ---- API keys -----------------------------------------------------------------------

Status PgTxn::api_key(std::string_view secret_hash, domain::ApiKey& out) const {
  return one(kApiKey, Params().bytea(secret_hash), "api_keys", [&](Row& r) { return decode_api_key(r, out); });
}

Status PgTxn::api_keys_of(std::string_view user_id, std::vector<std::pair<std::string, domain::ApiKey>>& out) const {
  out.clear();
  Result r;
  Status st = run(kApiKeysOf, Params().text(user_id), r, "api_keys");
  if (!st.ok()) return st;
  for (int i = 0; i < r.rows(); ++i) {
    std::pair<std::string, domain::ApiKey> e;
    Row row(r, i);
    if (!row.bytes(e.first) || !decode_api_key(row, e.second)) return Status::Corrupt("undecodable row in api_keys");
    out.push_back(std::move(e));
  }
  return st;
}

Status PgTxn::put_api_key(std::string_view secret_hash, const domain::ApiKey& k) {
  Params p;
  p.bytea(secret_hash)
      .text(k.id)
      .text(k.user_id)
      .text(k.name)
      .text_array(k.scopes)
      .text_array(k.allowed_ips)
      .i64(k.created_at)
      .i64(k.expires_at)
      .boolean(k.revoked);
  Result r;
  return run(kPutApiKey, p, r, "write an API key");
}

// ---- one-time tokens ----------------------------------------------------------------

Status PgTxn::otp(std::string_view token_hash, domain::OneTimeToken& out) const {
  return one(kOtp, Params().bytea(token_hash), "otp", [&](Row& r) { return decode_otp(r, out); });
}

Status PgTxn::put_otp(std::string_view token_hash, const domain::OneTimeToken& o) {
  Result r;
  return run(kPutOtp, otp_params(token_hash, o), r, "write a one-time token");
}

Status PgTxn::issue_otp(std::string_view token_hash, const domain::OneTimeToken& o, int max_live, std::int64_t now,
                        bool& issued) {
  issued = false;
  auto p = otp_params(token_hash, o);
  p.i64(now).i64(max_live);
  Result r;
  Status st = run(kIssueOtp, p, r, "issue a one-time token");
  if (st.ok()) issued = r.affected() == 1;
  return st;
}

Status PgTxn::retire_otps(std::string_view user_id, std::string_view purpose) {
  Result r;
  return run(kRetireOtps, Params().text(user_id).text(purpose), r, "retire one-time tokens");
}

// ---- avatars, keys, meta ------------------------------------------------------------

Status PgTxn::avatar(std::string_view user_id, domain::Avatar& out) const {
  return one(kAvatar, Params().text(user_id), "avatars",
             [&](Row& r) { return r.bytes(out.content_type) && r.bytes(out.bytes) && r.i64(out.updated_at); });
}

Status PgTxn::put_avatar(std::string_view user_id, const domain::Avatar& a) {
  Result r;
  return run(kPutAvatar, Params().text(user_id).text(a.content_type).bytea(a.bytes).i64(a.updated_at), r,
             "write an avatar");
}

Status PgTxn::key(std::string_view kid, domain::SigningKey& out) const {
  return one(kKey, Params().text(kid), "signing_keys",
             [&](Row& r) { return r.bytes(out.kid) && r.bytes(out.seed) && r.i64(out.created_at); });
}

Status PgTxn::put_key(const domain::SigningKey& k) {
  Result r;
  return run(kPutKey, Params().text(k.kid).bytea(k.seed).i64(k.created_at), r, "write a signing key");
}

Status PgTxn::delete_key(std::string_view kid) {
  Result r;
  return run(kDeleteKey, Params().text(kid), r, "delete a signing key");
}

Status PgTxn::meta(std::string_view name, std::string& out) const {
  return one(kMeta, Params().text(name), "meta", [&](Row& r) { return r.bytes(out); });
}

Status PgTxn::put_meta(std::string_view name, std::string_view value) {
  Result r;
  return run(kPutMeta, Params().text(name).bytea(value), r, "write a meta value");
}

// ---- the audit log ------------------------------------------------------------------

Status PgTxn::audit_head(std::uint64_t& seq, std::string& hash) const {
  seq = 0;
  hash.clear();
  Status st = one(kAuditHead, Params(), "audit", [&](Row& r) { return r.u64(seq) && r.bytes(hash); });
  return st.is_not_found() ? Status::OK() : st;
}

Status PgTxn::append_audit(const std::string& canonical, AuditRecord* out) {
  // Writers are serialised (kWriterLock), so the head read here is the head.
  std::uint64_t seq = 0;
  std::string head;
  if (Status st = audit_head(seq, head); !st.ok()) return st;
  AuditRecord rec;
  Status st = next_audit_record(seq, std::move(head), canonical, b_.audit_key, b_.audit_keyed_from, [&] {
    std::string mark;
    return meta("audit_keyed_from", mark);
  }, rec);
  if (!st.ok()) return st;
  Result r;
  st = run(kAppendAudit, Params().i64(static_cast<std::int64_t>(rec.seq)).bytea(rec.prev).bytea(rec.hash).bytea(canonical),
           r, "append to the audit log");
  if (st.ok() && out) *out = std::move(rec);
  return st;
}

Status PgTxn::audit_after(std::uint64_t after, const std::function<bool(const AuditRecord&)>& visit) const {
  for (;;) {
    Result r;
    Status st = run(kAuditAfter, Params().i64(static_cast<std::int64_t>(after)).i64(kPage), r, "audit");
    if (!st.ok()) return st;
    for (int i = 0; i < r.rows(); ++i) {
      AuditRecord rec;
      Row row(r, i);
      if (!row.u64(rec.seq)) return Status::Corrupt("undecodable row in audit");
      after = rec.seq;
      if (!row.bytes(rec.prev) || !row.bytes(rec.hash) || !row.bytes(rec.canonical)) continue;  // the verifier sees the gap
      if (!visit(rec)) return Status::OK();
    }
    if (r.rows() < kPage) return Status::OK();
  }
}

// ---- maintenance --------------------------------------------------------------------

Status PgTxn::prune(PruneTable table, std::string& cursor, std::size_t limit, const domain::PruneRules& rules,
                    std::size_t& deleted) {
  deleted = 0;
  const Stmt& walk = table == PruneTable::sessions   ? kPruneSessions
                     : table == PruneTable::refresh  ? kPruneRefresh
                     : table == PruneTable::api_keys ? kPruneApiKeys
                                                     : kPruneOtp;
  Params p;
  if (table == PruneTable::sessions) p.text(cursor);
  else p.bytea(cursor);
  p.i64(static_cast<std::int64_t>(limit) + 1);
  Result r;
  Status st = run(walk, p, r, "prune");
  if (!st.ok()) return st;
  const int seen = std::min<int>(r.rows(), static_cast<int>(limit));
  std::vector<std::string> keys, tokens;  // rows to delete; a session's current refresh tokens
  std::string last;
  for (int i = 0; i < seen; ++i) {
    Row row(r, i);
    // Undecodable records are left alone.
    switch (table) {
      case PruneTable::sessions: {
        domain::Session s;
        if (!decode_session(row, s)) {
          Row(r, i).bytes(last);
          continue;
        }
        last = s.id;
        if (!rules.session(s)) continue;
        keys.push_back(s.id);
        if (!s.token_hash.empty()) tokens.push_back(s.token_hash);
        break;
      }
      case PruneTable::refresh: {
        domain::RefreshRef ref;
        bool session_there = false;
        if (!row.bytes(last)) continue;
        if (!decode_refresh(row, ref) || !row.boolean(session_there)) continue;
        if (!rules.refresh(ref) && session_there) continue;  // live, or its session is there: kept
        keys.push_back(last);
        break;
      }
      case PruneTable::api_keys: {
        domain::ApiKey k;
        if (!row.bytes(last)) continue;
        if (!decode_api_key(row, k) || !rules.api_key(k)) continue;
        keys.push_back(last);
        break;
      }
      case PruneTable::otp: {
        domain::OneTimeToken o;
        if (!row.bytes(last)) continue;
        if (!decode_otp(row, o) || !rules.otp(o)) continue;
        keys.push_back(last);
        break;
      }
    }
  }
  if (r.rows() > static_cast<int>(limit)) cursor = last;
  else cursor.clear();
  if (keys.empty()) return Status::OK();
  Result d;
  switch (table) {
    case PruneTable::sessions:
      st = run(kDeleteSessions, Params().text_array(keys).bytea_array(tokens), d, "prune sessions");
      break;
    case PruneTable::refresh: st = run(kDeleteRefresh, Params().bytea_array(keys), d, "prune refresh"); break;
    case PruneTable::api_keys: st = run(kDeleteApiKeys, Params().bytea_array(keys), d, "prune api_keys"); break;
    case PruneTable::otp: st = run(kDeleteOtps, Params().bytea_array(keys), d, "prune otp"); break;
  }
  if (st.ok()) deleted = keys.size();
  return st;
}

}  // namespace gh::store::postgres
