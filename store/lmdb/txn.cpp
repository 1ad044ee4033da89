#include "store/lmdb/txn.hpp"

#include "domain/ascii.hpp"
#include "domain/audit.hpp"
#include "store/audit_link.hpp"
#include "store/lmdb/records.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>

namespace gh::store::lmdb {

bool Tables::find(std::string_view name, MDB_dbi& out) const {
  const std::pair<const char*, MDB_dbi> all[] = {
      {"meta", meta},         {"users", users},         {"emails", emails},
      {"usernames", usernames}, {"sessions", sessions}, {"user_sessions", user_sessions},
      {"refresh", refresh},   {"keys", keys},           {"api_keys", api_keys},
      {"user_api_keys", user_api_keys}, {"avatars", avatars}, {"otp", otp},
      {"user_otp", user_otp}, {"audit", audit}};
  for (auto& [n, dbi] : all)
    if (name == n) return out = dbi, true;
  return false;
}

Status failure(int rc, std::string_view what) {
  return Status::Unavailable(std::string(what) + ": " + lmdb_error(rc));
}

Status status_of(int rc, std::string_view what) {
  if (rc == 0) return Status::OK();
  if (rc == MDB_NOTFOUND) return Status::NotFound();
  return failure(rc, what);
}

std::string seq_key(std::uint64_t seq) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, seq >>= 8) k[i] = static_cast<char>(seq & 0xff);
  return k;
}

namespace {

std::uint64_t seq_of(std::string_view k) {
  std::uint64_t v = 0;
  for (char c : k.substr(0, 8)) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string otp_index_prefix(std::string_view user_id, std::string_view purpose) {
  return std::string(user_id) + ":" + std::string(purpose) + ":";
}

// The end of a cursor walk: ok when it ran off the table, else the error.
Status walk_end(int rc, const char* table) {
  return rc == 0 || rc == MDB_NOTFOUND ? Status::OK() : failure(rc, std::string("cursor on ") + table);
}

}  // namespace

// ---- change stamps -------------------------------------------------------------

void Stamps::began(std::uint64_t txnid) {
  // A gap since the last transaction accounted for: another process
  // committed in between, and what it wrote is unknown.
  if (known_.load() + 1 != txnid) counts_.grow_all();
  known_.store(txnid - 1);
  writing_.store(true);
}

void Stamps::ended(std::uint64_t txnid, bool committed, const std::vector<std::uint32_t>& slots) {
  if (committed) {
    for (auto slot : slots) counts_.grow(slot);
    known_.store(txnid);
  }
  writing_.store(false);
}

std::uint64_t Stamps::stamp(MDB_env* env, std::string_view a, std::string_view b) {
  MDB_envinfo info;
  if (mdb_env_info(env, &info)) return 0;
  auto known = known_.load();
  if (info.me_last_txnid != known) {
    if (writing_.load()) return 0;  // our own commit, not accounted for yet
    known = known_.load();
    if (info.me_last_txnid != known) {  // another process committed
      counts_.grow_all();
      known_.compare_exchange_strong(known, info.me_last_txnid);
    }
  }
  return counts_.stamp(a, b);
}

// ---- primitives ------------------------------------------------------------

Status LmdbTxn::raw(MDB_dbi dbi, std::string_view key, std::string_view& out, const char* table) const {
  return status_of(lmdb::get(txn_, dbi, key, out), std::string("read from ") + table);
}

template <class Record>
Status LmdbTxn::record(MDB_dbi dbi, std::string_view key, Record& out, const char* table) const {
  std::string_view bytes;
  Status st = raw(dbi, key, bytes, table);
  if (!st.ok()) return st;
  if (!decode(bytes, out)) return Status::Corrupt(std::string("undecodable record in ") + table);
  return st;
}

void LmdbTxn::touch(MDB_dbi dbi, std::string_view key) {
  if (touched_ && (dbi == b_.db.users || dbi == b_.db.sessions)) touched_->push_back(Stamps::slot_of(key));
}

Status LmdbTxn::put(MDB_dbi dbi, std::string_view key, std::string_view value, const char* table) {
  touch(dbi, key);
  int rc = lmdb::put(txn_, dbi, key, value);
  return rc ? failure(rc, std::string("write to ") + table) : Status::OK();
}

Status LmdbTxn::del(MDB_dbi dbi, std::string_view key, const char* table) {
  touch(dbi, key);
  int rc = lmdb::del(txn_, dbi, key);
  return rc ? failure(rc, std::string("delete from ") + table) : Status::OK();
}

// ---- users -----------------------------------------------------------------

Status LmdbTxn::user(std::string_view id, domain::User& out) const {
  return record(b_.db.users, id, out, "users");
}

Status LmdbTxn::user_by_email(std::string_view email, domain::User& out) const {
  std::string_view id;
  Status st = raw(b_.db.emails, email, id, "emails");
  return st.ok() ? user(std::string(id), out) : st;
}

Status LmdbTxn::user_by_username(std::string_view username, domain::User& out) const {
  std::string_view id;
  Status st = raw(b_.db.usernames, domain::ascii_lower(username), id, "usernames");
  return st.ok() ? user(std::string(id), out) : st;
}

Status LmdbTxn::users_by_email(std::string_view from, bool exclusive,
                               const std::function<bool(const domain::User&)>& visit) const {
  Cursor c(txn_, b_.db.emails);
  int rc = from.empty() ? c.first() : c.seek(from);
  if (rc == 0 && exclusive && c.key() == from) rc = c.next();
  for (; rc == 0; rc = c.next()) {
    domain::User u;
    Status st = user(c.value(), u);
    if (st.is_not_found()) continue;  // an index entry naming no user
    if (!st.ok()) return st;
    if (!visit(u)) return Status::OK();
  }
  return walk_end(rc, "emails");
}

Status LmdbTxn::write_user(const domain::User& u) {
  Status st = put(b_.db.users, u.id, encode(u), "users");
  if (st.ok()) st = put(b_.db.emails, u.email, u.id, "emails");
  if (st.ok() && !u.username.empty()) st = put(b_.db.usernames, domain::ascii_lower(u.username), u.id, "usernames");
  return st;
}

Status LmdbTxn::insert_user(const domain::User& u) {
  std::string_view holder;
  Status st = raw(b_.db.users, u.id, holder, "users");
  if (st.ok()) return Status::Conflict("user id exists");
  if (st.failed()) return st;
  st = raw(b_.db.emails, u.email, holder, "emails");
  if (st.ok() && holder != u.id) return Status::Conflict("email taken");
  if (st.failed()) return st;
  if (!u.username.empty()) {
    st = raw(b_.db.usernames, domain::ascii_lower(u.username), holder, "usernames");
    if (st.ok() && holder != u.id) return Status::Conflict("username taken");
    if (st.failed()) return st;
  }
  return write_user(u);
}

Status LmdbTxn::update_user(const domain::User& u) {
  domain::User old;
  Status st = user(u.id, old);
  if (!st.ok()) return st;
  const std::string new_name = domain::ascii_lower(u.username), old_name = domain::ascii_lower(old.username);
  std::string_view holder;
  // Every check before any write: a conflict leaves nothing behind.
  if (u.email != old.email) {
    st = raw(b_.db.emails, u.email, holder, "emails");
    if (st.ok() && holder != u.id) return Status::Conflict("email taken");
    if (st.failed()) return st;
  }
  if (!new_name.empty() && new_name != old_name) {
    st = raw(b_.db.usernames, new_name, holder, "usernames");
    if (st.ok() && holder != u.id) return Status::Conflict("username taken");
    if (st.failed()) return st;
  }
  // The old index entries go, when they are this user's.
  if (u.email != old.email) {
    st = raw(b_.db.emails, old.email, holder, "emails");
    if (st.ok() && holder == u.id) st = del(b_.db.emails, old.email, "emails");
    if (st.failed()) return st;
  }
  if (!old_name.empty() && old_name != new_name) {
    st = raw(b_.db.usernames, old_name, holder, "usernames");
    if (st.ok() && holder == u.id) st = del(b_.db.usernames, old_name, "usernames");
    if (st.failed()) return st;
  }
  return write_user(u);
}

// 1 -> 2: emails were lowercased in ASCII only; re-key those whose normal
// form is now different (e.g. `Älice@…` -> `älice@…`).
Status LmdbTxn::rekey_emails(const Backend::EmailNormalizer& normalize, std::vector<std::string>* notes) {
  if (!normalize) return Status::OK();
  std::vector<std::pair<std::string, std::string>> moves;  // old key, new key
  {
    Cursor c(txn_, b_.db.emails);
    int rc = c.first();
    for (; rc == 0; rc = c.next()) {
      std::string old(c.key());
      auto now = normalize(old);
      if (!now) {
        if (notes) notes->push_back("kept " + old + ": this build refuses the address");
      } else if (*now != old) {
        moves.emplace_back(std::move(old), std::move(*now));
      }
    }
    if (Status st = walk_end(rc, "emails"); !st.ok()) return st;
  }
  for (auto& [old, now] : moves) {
    std::string_view id_view, holder_view;
    Status id_st = raw(b_.db.emails, old, id_view, "emails");
    if (id_st.failed()) return id_st;
    std::string id(id_view);
    Status holder_st = raw(b_.db.emails, now, holder_view, "emails");
    if (holder_st.failed()) return holder_st;
    domain::User u;
    Status user_st = id_st.ok() ? user(id, u) : Status::NotFound();
    if (user_st.is_unavailable()) return user_st;
    if (holder_st.ok() || !user_st.ok()) {
      if (notes) notes->push_back("kept " + old + ": " + (holder_st.ok() ? now + " is another account" : "no user record"));
      continue;
    }
    u.email = now;
    if (Status st = del(b_.db.emails, old, "emails"); !st.ok()) return st;
    if (Status st = write_user(u); !st.ok()) return st;
    if (notes) notes->push_back("re-keyed " + old + " as " + now);
  }
  return Status::OK();
}

// ---- sessions and refresh tokens ------------------------------------------------

Status LmdbTxn::session(std::string_view id, domain::Session& out) const {
  return record(b_.db.sessions, id, out, "sessions");
}

Status LmdbTxn::sessions_of(std::string_view user_id, std::vector<domain::Session>& out) const {
  out.clear();
  Cursor c(txn_, b_.db.user_sessions);
  int rc = c.seek(user_id);
  for (; rc == 0 && starts_with(c.key(), user_id); rc = c.next()) {
    domain::Session s;
    Status st = session(c.key().substr(user_id.size()), s);
    if (st.is_not_found()) continue;
    if (!st.ok()) return st;
    out.push_back(std::move(s));
  }
  return walk_end(rc, "user_sessions");
}

Status LmdbTxn::refresh(std::string_view token_hash, domain::RefreshRef& out) const {
  return record(b_.db.refresh, token_hash, out, "refresh");
}

Status LmdbTxn::put_session(const domain::Session& s) {
  Status st = put(b_.db.sessions, s.id, encode(s), "sessions");
  return st.ok() ? put(b_.db.user_sessions, s.user_id + s.id, "", "user_sessions") : st;
}

void LmdbTxn::session_entries(const domain::Session& s, std::vector<std::pair<MDB_dbi, std::string>>& out) const {
  out.emplace_back(b_.db.sessions, s.id);
  out.emplace_back(b_.db.user_sessions, s.user_id + s.id);
  if (!s.token_hash.empty()) out.emplace_back(b_.db.refresh, s.token_hash);
}

Status LmdbTxn::delete_session(const domain::Session& s) {
  std::vector<std::pair<MDB_dbi, std::string>> entries;
  session_entries(s, entries);
  for (auto& [dbi, key] : entries)
    if (Status st = del(dbi, key, "sessions"); !st.ok()) return st;
  return Status::OK();
}

Status LmdbTxn::put_refresh(std::string_view token_hash, const domain::RefreshRef& r) {
  return put(b_.db.refresh, token_hash, encode(r), "refresh");
}

// ---- API keys ----------------------------------------------------------------------

Status LmdbTxn::api_key(std::string_view secret_hash, domain::ApiKey& out) const {
  return record(b_.db.api_keys, secret_hash, out, "api_keys");
}

Status LmdbTxn::api_keys_of(std::string_view user_id,
                            std::vector<std::pair<std::string, domain::ApiKey>>& out) const {
  out.clear();
  Cursor c(txn_, b_.db.user_api_keys);
  int rc = c.seek(user_id);
  for (; rc == 0 && starts_with(c.key(), user_id); rc = c.next()) {
    std::string hash(c.value());
    domain::ApiKey k;
    Status st = api_key(hash, k);
    if (st.is_not_found()) continue;
    if (!st.ok()) return st;
    out.emplace_back(std::move(hash), std::move(k));
  }
  return walk_end(rc, "user_api_keys");
}

Status LmdbTxn::put_api_key(std::string_view secret_hash, const domain::ApiKey& k) {
  Status st = put(b_.db.api_keys, secret_hash, encode(k), "api_keys");
  return st.ok() ? put(b_.db.user_api_keys, k.user_id + k.id, secret_hash, "user_api_keys") : st;
}

// ---- one-time tokens ----------------------------------------------------------------

Status LmdbTxn::otp(std::string_view token_hash, domain::OneTimeToken& out) const {
  return record(b_.db.otp, token_hash, out, "otp");
}

Status LmdbTxn::put_otp(std::string_view token_hash, const domain::OneTimeToken& o) {
  return put(b_.db.otp, token_hash, encode(o), "otp");
}

Status LmdbTxn::issue_otp(std::string_view token_hash, const domain::OneTimeToken& o, int max_live,
                          std::int64_t now, bool& issued) {
  issued = false;
  auto prefix = otp_index_prefix(o.user_id, o.purpose);
  std::vector<std::string> dead;
  int live = 0;
  {
    Cursor c(txn_, b_.db.user_otp);
    int rc = c.seek(prefix);
    for (; rc == 0 && starts_with(c.key(), prefix); rc = c.next()) {
      domain::OneTimeToken tok;
      Status st = otp(c.key().substr(prefix.size()), tok);
      if (st.is_unavailable()) return st;
      // Missing or undecodable tokens count as dead, as used or expired ones.
      if (st.ok() && !tok.used && tok.expires_at > now) ++live;
      else dead.emplace_back(c.key());
    }
    if (Status st = walk_end(rc, "user_otp"); !st.ok()) return st;
  }
  for (auto& key : dead)
    if (Status st = del(b_.db.user_otp, key, "user_otp"); !st.ok()) return st;
  if (live >= max_live) return Status::OK();
  Status st = put_otp(token_hash, o);
  if (st.ok()) st = put(b_.db.user_otp, prefix + std::string(token_hash), "", "user_otp");
  if (st.ok()) issued = true;
  return st;
}

Status LmdbTxn::retire_otps(std::string_view user_id, std::string_view purpose) {
  auto prefix = otp_index_prefix(user_id, purpose);
  std::vector<std::string> keys;
  {
    Cursor c(txn_, b_.db.user_otp);
    int rc = c.seek(prefix);
    for (; rc == 0 && starts_with(c.key(), prefix); rc = c.next()) keys.emplace_back(c.key());
    if (Status st = walk_end(rc, "user_otp"); !st.ok()) return st;
  }
  for (auto& key : keys) {
    auto hash = std::string_view(key).substr(prefix.size());
    domain::OneTimeToken tok;
    Status st = otp(hash, tok);
    if (st.is_unavailable()) return st;
    if (st.ok() && !tok.used) {
      tok.used = true;
      if (st = put_otp(hash, tok); !st.ok()) return st;
    }
    if (st = del(b_.db.user_otp, key, "user_otp"); !st.ok()) return st;
  }
  return Status::OK();
}

// ---- avatars, keys, meta ------------------------------------------------------------

Status LmdbTxn::avatar(std::string_view user_id, domain::Avatar& out) const {
  return record(b_.db.avatars, user_id, out, "avatars");
}

Status LmdbTxn::put_avatar(std::string_view user_id, const domain::Avatar& a) {
  return put(b_.db.avatars, user_id, encode(a), "avatars");
}

Status LmdbTxn::key(std::string_view kid, domain::SigningKey& out) const {
  return record(b_.db.keys, kid, out, "keys");
}

Status LmdbTxn::put_key(const domain::SigningKey& k) { return put(b_.db.keys, k.kid, encode(k), "keys"); }

Status LmdbTxn::delete_key(std::string_view kid) { return del(b_.db.keys, kid, "keys"); }

Status LmdbTxn::meta(std::string_view name, std::string& out) const {
  std::string_view v;
  Status st = raw(b_.db.meta, name, v, "meta");
  if (st.ok()) out.assign(v);
  return st;
}

Status LmdbTxn::put_meta(std::string_view name, std::string_view value) {
  return put(b_.db.meta, name, value, "meta");
}

// ---- the audit log ---------------------------------------------------------------

Status LmdbTxn::audit_head(std::uint64_t& seq, std::string& hash) const {
  seq = 0;
  hash.clear();
  std::string head;
  Status st = meta("audit_head", head);
  if (st.failed()) return st;
  if (st.ok() && head.size() == 40) {
    seq = seq_of(head);
    hash = head.substr(8);
  }
  return Status::OK();
}

Status LmdbTxn::append_audit(const std::string& canonical, AuditRecord* out) {
  std::uint64_t seq = 0;
  std::string head;
  if (Status st = audit_head(seq, head); !st.ok()) return st;
  AuditRecord rec;
  Status st = next_audit_record(seq, std::move(head), canonical, b_.audit_key, b_.audit_keyed_from, [&] {
    std::string_view mark;
    return raw(b_.db.meta, "audit_keyed_from", mark, "meta");
  }, rec);
  if (!st.ok()) return st;
  nlohmann::json j = {{"p", nlohmann::json::binary(std::vector<std::uint8_t>(rec.prev.begin(), rec.prev.end()))},
                      {"h", nlohmann::json::binary(std::vector<std::uint8_t>(rec.hash.begin(), rec.hash.end()))},
                      {"c", canonical}};
  std::string value(1, '\1');
  nlohmann::json::to_cbor(j, value);
  st = put(b_.db.audit, seq_key(rec.seq), value, "audit");
  if (st.ok()) st = put_meta("audit_head", seq_key(rec.seq) + rec.hash);
  if (st.ok() && out) *out = std::move(rec);
  return st;
}

Status LmdbTxn::audit_after(std::uint64_t after, const std::function<bool(const AuditRecord&)>& visit) const {
  Cursor c(txn_, b_.db.audit);
  int rc = c.seek(seq_key(after + 1));
  for (; rc == 0; rc = c.next()) {
    auto v = c.value();
    if (v.size() < 2 || v[0] != '\1') continue;
    auto j = nlohmann::json::from_cbor(v.begin() + 1, v.end(), true, false);
    if (!j.is_object() || !j.contains("p") || !j["p"].is_binary() || !j.contains("h") || !j["h"].is_binary() ||
        !j.contains("c") || !j["c"].is_string())
      continue;  // unreadable: the verifier sees the gap
    auto bin = [](const nlohmann::json& b) { return std::string(b.get_binary().begin(), b.get_binary().end()); };
    if (!visit(AuditRecord{seq_of(c.key()), bin(j["p"]), bin(j["h"]), j["c"].get<std::string>()}))
      return Status::OK();
  }
  return walk_end(rc, "audit");
}

// ---- maintenance -------------------------------------------------------------------

Status LmdbTxn::prune(PruneTable table, std::string& cursor, std::size_t limit, const domain::PruneRules& rules,
                      std::size_t& deleted) {
  deleted = 0;
  const auto& db = b_.db;
  MDB_dbi dbi = table == PruneTable::sessions   ? db.sessions
                : table == PruneTable::refresh  ? db.refresh
                : table == PruneTable::api_keys ? db.api_keys
                                                : db.otp;
  // Keys to delete (table, key), collected first: no cursor is open while deleting.
  std::vector<std::pair<MDB_dbi, std::string>> dead;
  std::size_t found = 0;
  {
    Cursor c(txn_, dbi);
    int rc = cursor.empty() ? c.first() : c.seek(cursor);
    if (rc == 0 && !cursor.empty() && c.key() == cursor) rc = c.next();
    std::string last;
    for (std::size_t seen = 0; rc == 0 && seen < limit; rc = c.next(), ++seen) {
      last.assign(c.key());
      auto key = c.key();
      auto value = c.value();
      // Undecodable records are left alone.
      switch (table) {
        case PruneTable::sessions: {
          domain::Session r;
          if (!decode(value, r) || !rules.session(r)) break;
          r.id.assign(key);
          session_entries(r, dead);
          ++found;
          break;
        }
        case PruneTable::refresh: {
          domain::RefreshRef r;
          if (!decode(value, r)) break;
          if (!rules.refresh(r)) {
            std::string_view s;
            Status st = raw(db.sessions, r.session_id, s, "sessions");
            if (st.failed()) return st;
            if (st.ok()) break;  // its session is there: kept
          }
          dead.emplace_back(db.refresh, std::string(key));
          ++found;
          break;
        }
        case PruneTable::api_keys: {
          domain::ApiKey r;
          if (!decode(value, r) || !rules.api_key(r)) break;
          dead.emplace_back(db.api_keys, std::string(key));
          dead.emplace_back(db.user_api_keys, r.user_id + r.id);
          ++found;
          break;
        }
        case PruneTable::otp: {
          domain::OneTimeToken r;
          if (!decode(value, r) || !rules.otp(r)) break;
          dead.emplace_back(db.otp, std::string(key));
          // Its live-link index entry (see issue_otp), and the one newest-link
          // entry per user and purpose that stores of older builds have.
          dead.emplace_back(db.user_otp, otp_index_prefix(r.user_id, r.purpose) + std::string(key));
          auto old_key = r.user_id + ":" + r.purpose;
          std::string_view newest;
          Status st = raw(db.user_otp, old_key, newest, "user_otp");
          if (st.failed()) return st;
          if (st.ok() && newest == key) dead.emplace_back(db.user_otp, old_key);
          ++found;
          break;
        }
      }
    }
    if (Status st = walk_end(rc, "prune"); !st.ok()) return st;
    if (rc == 0) cursor = std::move(last);
    else cursor.clear();
  }
  for (auto& [table_dbi, key] : dead)
    if (Status st = del(table_dbi, key, "prune"); !st.ok()) return st;
  deleted = found;
  return Status::OK();
}

}  // namespace gh::store::lmdb
