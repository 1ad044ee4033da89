#include "store/store.hpp"
#include "domain/audit.hpp"

#include <cerrno>
#include <cstring>

namespace gh::store {
namespace {

template <class Record>
std::optional<Record> get_record(const Txn& t, MDB_dbi dbi, std::string_view key) {
  auto bytes = t.get(dbi, key);
  Record r;
  if (!bytes || !decode(*bytes, r)) return std::nullopt;
  return r;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

std::unique_ptr<Store> Store::open(const Options& opts, int& rc, std::string& why) {
  std::unique_ptr<Store> s(new Store());
  rc = s->env_.open(opts.path, opts.map_size_bytes, 16, opts.read_only);
  if (rc) {
    why = "cannot open store '" + opts.path + "': " + lmdb_error(rc);
    return nullptr;
  }
  Txn t;
  if ((rc = Txn::begin(s->env(), nullptr, opts.read_only ? MDB_RDONLY : 0, t))) {
    why = "cannot begin transaction: " + lmdb_error(rc);
    return nullptr;
  }
  struct {
    const char* name;
    MDB_dbi* dbi;
  } tables[] = {{"meta", &s->meta_},         {"users", &s->users_},
                {"emails", &s->emails_},     {"usernames", &s->usernames_},     {"sessions", &s->sessions_},
                {"user_sessions", &s->user_sessions_}, {"refresh", &s->refresh_},
                {"keys", &s->keys_},
                {"api_keys", &s->api_keys_}, {"user_api_keys", &s->user_api_keys_},
                {"avatars", &s->avatars_}, {"otp", &s->otp_}, {"user_otp", &s->user_otp_},
                {"audit", &s->audit_}};
  for (auto& tb : tables) {
    if ((rc = mdb_dbi_open(t.get(), tb.name, opts.read_only ? 0 : MDB_CREATE, tb.dbi))) {
      why = rc == MDB_NOTFOUND && opts.read_only
                ? "'" + opts.path + "' is not a Gatehouse store (no table " + tb.name + ")"
                : std::string("cannot open table ") + tb.name + ": " + lmdb_error(rc);
      return nullptr;
    }
  }
  if ((rc = t.commit())) {
    why = "cannot commit table creation: " + lmdb_error(rc);
    return nullptr;
  }
  return s;
}

int Store::schema_version() const {
  int rc = 0;
  auto t = read(rc);
  if (rc) return -1;
  auto v = meta(t, "schema_version");
  return v ? std::atoi(std::string(*v).c_str()) : 0;
}

// 1 -> 2: emails were lowercased in ASCII only; re-key those whose normal
// form is now different (e.g. `Älice@…` -> `älice@…`).
int Store::rekey_emails(Txn& t, const EmailNormalizer& normalize, std::vector<std::string>* notes) {
  if (!normalize) return 0;
  std::vector<std::pair<std::string, std::string>> moves;  // old key, new key
  {
    Cursor c(t, emails_);
    for (bool ok = c.first(); ok; ok = c.next()) {
      std::string old(c.key());
      auto now = normalize(old);
      if (!now) {
        if (notes) notes->push_back("kept " + old + ": this build refuses the address");
      } else if (*now != old) {
        moves.emplace_back(std::move(old), std::move(*now));
      }
    }
  }
  for (auto& [old, now] : moves) {
    auto id = user_id_by_email(t, old);
    auto holder = user_id_by_email(t, now);
    auto u = id ? user(t, *id) : std::nullopt;
    if (holder || !u) {
      if (notes) notes->push_back("kept " + old + ": " + (holder ? now + " is another account" : "no user record"));
      continue;
    }
    u->email = now;
    if (int rc = t.del(emails_, old)) return rc;
    if (int rc = put_user(t, *u)) return rc;
    if (notes) notes->push_back("re-keyed " + old + " as " + now);
  }
  return 0;
}

bool Store::migrate(std::string& why, const EmailNormalizer& normalize, std::vector<std::string>* notes) {
  int from = schema_version();
  if (from > kSchemaVersion) {
    why = "store schema " + std::to_string(from) + " is newer than this build (" +
          std::to_string(kSchemaVersion) + ")";
    return false;
  }
  if (from == kSchemaVersion) return true;
  int rc = 0;
  auto t = write(rc);
  if (rc) {
    why = lmdb_error(rc);
    return false;
  }
  // Forward migrations, one step per version. Version 1 is the initial
  // layout: the tables exist once open() has run, so a new store (0) only
  // gets its version; there is nothing to move.
  if (from >= 1 && from < 2 && (rc = rekey_emails(t, normalize, notes))) {
    why = "migration to schema 2 failed: " + lmdb_error(rc);
    return false;
  }
  if ((rc = put_meta(t, "schema_version", std::to_string(kSchemaVersion))) || (rc = t.commit())) {
    why = "migration commit failed: " + lmdb_error(rc);
    return false;
  }
  return true;
}

Txn Store::read(int& rc) const {
  Txn t;
  rc = Txn::begin(env(), nullptr, MDB_RDONLY, t);
  return t;
}

Txn Store::write(int& rc) {
  Txn t;
  rc = Txn::begin(env(), nullptr, 0, t);
  return t;
}

std::optional<User> Store::user(const Txn& t, std::string_view id) const {
  return get_record<User>(t, users_, id);
}

std::optional<std::string> Store::user_id_by_email(const Txn& t, std::string_view email) const {
  auto v = t.get(emails_, email);
  if (!v) return std::nullopt;
  return std::string(*v);
}

std::optional<std::string> Store::user_id_by_username(const Txn& t,
                                                      std::string_view username) const {
  auto v = t.get(usernames_, lowercase(username));
  if (!v) return std::nullopt;
  return std::string(*v);
}

int Store::put_user(Txn& t, const User& u) {
  int rc = t.put(users_, u.id, encode(u));
  if (!rc) rc = t.put(emails_, u.email, u.id);
  if (!rc && !u.username.empty()) rc = t.put(usernames_, lowercase(u.username), u.id);
  return rc;
}

std::optional<Session> Store::session(const Txn& t, std::string_view id) const {
  return get_record<Session>(t, sessions_, id);
}

int Store::put_session(Txn& t, const Session& s) {
  int rc = t.put(sessions_, s.id, encode(s));
  return rc ? rc : t.put(user_sessions_, s.user_id + s.id, "");
}

std::vector<Session> Store::sessions_of(const Txn& t, std::string_view user_id) const {
  std::vector<Session> out;
  Cursor c(t, user_sessions_);
  for (bool ok = c.seek(user_id); ok && c.key().substr(0, user_id.size()) == user_id; ok = c.next()) {
    if (auto s = session(t, c.key().substr(user_id.size()))) out.push_back(std::move(*s));
  }
  return out;
}

void Store::session_entries(const Session& s, std::vector<std::pair<MDB_dbi, std::string>>& out) const {
  out.emplace_back(sessions_, s.id);
  out.emplace_back(user_sessions_, s.user_id + s.id);
  if (!s.token_hash.empty()) out.emplace_back(refresh_, s.token_hash);
}

int Store::del_session(Txn& t, const Session& s) {
  std::vector<std::pair<MDB_dbi, std::string>> entries;
  session_entries(s, entries);
  for (auto& [dbi, key] : entries)
    if (int rc = t.del(dbi, key)) return rc;
  return 0;
}

std::optional<RefreshRef> Store::refresh(const Txn& t, std::string_view token_hash) const {
  return get_record<RefreshRef>(t, refresh_, token_hash);
}

int Store::put_refresh(Txn& t, std::string_view token_hash, const RefreshRef& r) {
  return t.put(refresh_, token_hash, encode(r));
}

void Store::users_by_email(const Txn& t, std::string_view from, bool exclusive,
                           const std::function<bool(const User&)>& visit) const {
  Cursor c(t, emails_);
  bool ok = from.empty() ? c.first() : c.seek(from);
  if (ok && exclusive && c.key() == from) ok = c.next();
  for (; ok; ok = c.next()) {
    auto u = user(t, c.value());
    if (u && !visit(*u)) return;
  }
}

int Store::del_username(Txn& t, std::string_view username) {
  return t.del(usernames_, lowercase(username));
}

std::optional<ApiKey> Store::api_key(const Txn& t, std::string_view secret_hash) const {
  return get_record<ApiKey>(t, api_keys_, secret_hash);
}

int Store::put_api_key(Txn& t, std::string_view secret_hash, const ApiKey& k) {
  int rc = t.put(api_keys_, secret_hash, encode(k));
  return rc ? rc : t.put(user_api_keys_, k.user_id + k.id, secret_hash);
}

std::vector<std::pair<std::string, ApiKey>> Store::api_keys_of(const Txn& t,
                                                             std::string_view user_id) const {
  std::vector<std::pair<std::string, ApiKey>> out;
  Cursor c(t, user_api_keys_);
  for (bool ok = c.seek(user_id); ok && c.key().substr(0, user_id.size()) == user_id; ok = c.next()) {
    std::string hash(c.value());
    if (auto k = api_key(t, hash)) out.emplace_back(std::move(hash), std::move(*k));
  }
  return out;
}

std::optional<OneTimeToken> Store::otp(const Txn& t, std::string_view token_hash) const {
  return get_record<OneTimeToken>(t, otp_, token_hash);
}

int Store::put_otp(Txn& t, std::string_view token_hash, const OneTimeToken& o) {
  return t.put(otp_, token_hash, encode(o));
}

namespace {
std::string otp_index_prefix(std::string_view user_id, std::string_view purpose) {
  return std::string(user_id) + ":" + std::string(purpose) + ":";
}
}  // namespace

int Store::issue_otp(Txn& t, std::string_view token_hash, const OneTimeToken& o, int max_live, std::int64_t now,
                     bool& issued) {
  issued = false;
  auto prefix = otp_index_prefix(o.user_id, o.purpose);
  std::vector<std::string> dead;
  int live = 0;
  {
    Cursor c(t, user_otp_);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next()) {
      auto hash = c.key().substr(prefix.size());
      auto tok = otp(t, hash);
      if (tok && !tok->used && tok->expires_at > now) ++live;
      else dead.emplace_back(c.key());
    }
  }
  for (auto& key : dead)
    if (int rc = t.del(user_otp_, key)) return rc;
  if (live >= max_live) return 0;
  int rc = put_otp(t, token_hash, o);
  if (rc || (rc = t.put(user_otp_, prefix + std::string(token_hash), ""))) return rc;
  issued = true;
  return 0;
}

int Store::retire_otps(Txn& t, std::string_view user_id, std::string_view purpose) {
  auto prefix = otp_index_prefix(user_id, purpose);
  std::vector<std::string> keys;
  {
    Cursor c(t, user_otp_);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next())
      keys.emplace_back(c.key());
  }
  for (auto& key : keys) {
    auto hash = std::string_view(key).substr(prefix.size());
    if (auto tok = otp(t, hash); tok && !tok->used) {
      tok->used = true;
      if (int rc = put_otp(t, hash, *tok)) return rc;
    }
    if (int rc = t.del(user_otp_, key)) return rc;
  }
  return 0;
}

namespace {
std::string seq_key(std::uint64_t seq) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, seq >>= 8) k[i] = static_cast<char>(seq & 0xff);
  return k;
}
std::uint64_t seq_of(std::string_view k) {
  std::uint64_t v = 0;
  for (char c : k.substr(0, 8)) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}
}  // namespace

std::pair<std::uint64_t, std::string> Store::audit_head(const Txn& t) const {
  auto head = meta(t, "audit_head");
  if (!head || head->size() != 40) return {0, std::string()};
  return {seq_of(*head), head->substr(8)};
}

void Store::set_audit_key(std::string key, std::uint64_t keyed_from) {
  audit_key_ = std::move(key);
  audit_keyed_from_ = keyed_from;
}

int Store::append_audit(Txn& t, const std::string& canonical, std::uint64_t* seq_out,
                        std::string* hash_out) {
  auto [seq, prev] = audit_head(t);
  if (prev.empty()) prev.assign(32, '\0');
  bool keyed = !audit_key_.empty() && seq + 1 >= audit_keyed_from_;
  if (!keyed && t.get(meta_, "audit_keyed_from")) return EACCES;
  auto hash = domain::audit_chain_hash(prev, canonical, keyed ? audit_key_ : std::string());
  nlohmann::json rec = {{"p", nlohmann::json::binary(std::vector<std::uint8_t>(prev.begin(), prev.end()))},
                        {"h", nlohmann::json::binary(std::vector<std::uint8_t>(hash.begin(), hash.end()))},
                        {"c", canonical}};
  std::string value(1, '\1');
  nlohmann::json::to_cbor(rec, value);
  int rc = t.put(audit_, seq_key(seq + 1), value);
  if (!rc) rc = put_meta(t, "audit_head", seq_key(seq + 1) + hash);
  if (seq_out) *seq_out = seq + 1;
  if (hash_out) *hash_out = hash;
  return rc;
}

void Store::audit_after(const Txn& t, std::uint64_t after,
                        const std::function<bool(std::uint64_t, const std::string&, const std::string&,
                                                 const std::string&)>& visit) const {
  Cursor c(t, audit_);
  for (bool ok = c.seek(seq_key(after + 1)); ok; ok = c.next()) {
    auto v = c.value();
    if (v.size() < 2 || v[0] != '\1') continue;
    auto j = nlohmann::json::from_cbor(v.begin() + 1, v.end(), true, false);
    if (!j.is_object() || !j.contains("p") || !j["p"].is_binary() || !j.contains("h") ||
        !j["h"].is_binary() || !j.contains("c") || !j["c"].is_string())
      continue;  // unreadable: the verifier sees the gap
    auto bin = [](const nlohmann::json& b) { return std::string(b.get_binary().begin(), b.get_binary().end()); };
    if (!visit(seq_of(c.key()), bin(j["p"]), bin(j["h"]), j["c"].get<std::string>())) return;
  }
}

std::optional<Avatar> Store::avatar(const Txn& t, std::string_view user_id) const {
  return get_record<Avatar>(t, avatars_, user_id);
}

int Store::put_avatar(Txn& t, std::string_view user_id, const Avatar& a) {
  return t.put(avatars_, user_id, encode(a));
}

int Store::prune(Txn& t, PruneTable table, std::string& cursor, std::size_t limit, const PruneRules& rules,
                 std::size_t& deleted) {
  deleted = 0;
  MDB_dbi dbi = table == PruneTable::sessions   ? sessions_
                : table == PruneTable::refresh  ? refresh_
                : table == PruneTable::api_keys ? api_keys_
                                                : otp_;
  // Keys to delete (table, key), collected first: no cursor is open while deleting.
  std::vector<std::pair<MDB_dbi, std::string>> dead;
  {
    Cursor c(t, dbi);
    bool ok = cursor.empty() ? c.first() : c.seek(cursor);
    if (ok && !cursor.empty() && c.key() == cursor) ok = c.next();
    std::string last;
    for (std::size_t seen = 0; ok && seen < limit; ok = c.next(), ++seen) {
      last.assign(c.key());
      auto key = c.key();
      auto value = c.value();
      switch (table) {
        case PruneTable::sessions: {
          Session r;
          if (!decode(value, r) || !rules.session(r)) break;
          r.id.assign(key);
          session_entries(r, dead);
          ++deleted;
          break;
        }
        case PruneTable::refresh: {
          RefreshRef r;
          if (!decode(value, r) || (!rules.refresh(r) && t.get(sessions_, r.session_id))) break;
          dead.emplace_back(refresh_, std::string(key));
          ++deleted;
          break;
        }
        case PruneTable::api_keys: {
          ApiKey r;
          if (!decode(value, r) || !rules.api_key(r)) break;
          dead.emplace_back(api_keys_, std::string(key));
          dead.emplace_back(user_api_keys_, r.user_id + r.id);
          ++deleted;
          break;
        }
        case PruneTable::otp: {
          OneTimeToken r;
          if (!decode(value, r) || !rules.otp(r)) break;
          dead.emplace_back(otp_, std::string(key));
          // Its live-link index entry (see issue_otp), and the one newest-link
          // entry per user and purpose that stores of older builds have.
          dead.emplace_back(user_otp_, otp_index_prefix(r.user_id, r.purpose) + std::string(key));
          auto old_key = r.user_id + ":" + r.purpose;
          if (auto newest = t.get(user_otp_, old_key); newest && *newest == key) dead.emplace_back(user_otp_, old_key);
          ++deleted;
          break;
        }
      }
    }
    if (ok) cursor = std::move(last);
    else cursor.clear();
  }
  for (auto& [table_dbi, key] : dead)
    if (int rc = t.del(table_dbi, key)) return rc;
  return 0;
}

Fill Store::fill(int& rc) const {
  Fill f;
  MDB_envinfo info;
  MDB_stat st;
  if ((rc = mdb_env_info(env(), &info)) || (rc = mdb_env_stat(env(), &st))) return f;
  auto t = read(rc);
  if (rc) return f;
  // The free list (table 0): each value is a page-number array led by its
  // length, as mdb_stat -f counts it.
  std::uint64_t free_pages = 0;
  {
    Cursor c(t, 0);
    for (bool ok = c.first(); ok; ok = c.next())
      if (c.value().size() >= sizeof(std::size_t)) {
        std::size_t n = 0;
        std::memcpy(&n, c.value().data(), sizeof n);
        free_pages += n;
      }
  }
  std::uint64_t pages = static_cast<std::uint64_t>(info.me_last_pgno) + 1;
  f.used_bytes = (pages > free_pages ? pages - free_pages : 0) * st.ms_psize;
  f.map_bytes = info.me_mapsize;
  return f;
}

std::optional<SigningKey> Store::key(const Txn& t, std::string_view kid) const {
  return get_record<SigningKey>(t, keys_, kid);
}

int Store::put_key(Txn& t, const SigningKey& k) { return t.put(keys_, k.kid, encode(k)); }

int Store::del_key(Txn& t, std::string_view kid) { return t.del(keys_, kid); }

std::optional<std::string> Store::meta(const Txn& t, std::string_view name) const {
  auto v = t.get(meta_, name);
  if (!v) return std::nullopt;
  return std::string(*v);
}

int Store::put_meta(Txn& t, std::string_view name, std::string_view value) {
  return t.put(meta_, name, value);
}

}  // namespace gh::store
