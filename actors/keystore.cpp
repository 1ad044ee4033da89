#include "actors/keystore.hpp"

#include "domain/audit.hpp"
#include "domain/base64url.hpp"
#include "domain/clock.hpp"

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

namespace gh {
namespace {

// meta `name`, or nullopt when it is not set; a store failure is returned.
store::Status meta_opt(const store::ReadTxn& t, std::string_view name, std::optional<std::string>& out) {
  std::string v;
  auto st = t.meta(name, v);
  out.reset();
  if (st.is_not_found()) return store::Status::OK();
  if (st.ok()) out = std::move(v);
  return st;
}

// meta "retired_keys": [{"kid", "retired_at"}], newest first. A store of an
// older build has only "previous_kid": that key is retired, time unknown (0).
store::Status retired_of(const store::ReadTxn& t, std::vector<domain::RetiredKey>& out) {
  out.clear();
  std::optional<std::string> s, prev;
  if (auto st = meta_opt(t, "retired_keys", s); !st.ok()) return st;
  if (s) {
    auto j = nlohmann::json::parse(*s, nullptr, false);
    if (j.is_array())
      for (auto& e : j)
        if (e.is_object() && e.value("kid", nlohmann::json()).is_string())
          out.push_back({e["kid"].get<std::string>(), e.value("retired_at", std::int64_t{0})});
    return store::Status::OK();
  }
  if (auto st = meta_opt(t, "previous_kid", prev); !st.ok()) return st;
  if (prev) out.push_back({*prev, 0});
  return store::Status::OK();
}

store::Status put_retired(store::WriteTxn& t, const std::vector<domain::RetiredKey>& keys) {
  auto j = nlohmann::json::array();
  for (auto& k : keys) j.push_back({{"kid", k.kid}, {"retired_at", k.retired_at}});
  auto st = t.put_meta("retired_keys", j.dump());
  // Older builds read only previous_kid: give them the newest retired key.
  if (st.ok() && !keys.empty()) st = t.put_meta("previous_kid", keys.front().kid);
  return st;
}

// Deletes the retired keys whose tokens have all expired; their kids go to `dropped`.
store::Status prune(store::WriteTxn& t, std::vector<domain::RetiredKey>& keys, std::int64_t now,
                    std::int64_t keep_s, std::vector<std::string>& dropped) {
  std::vector<domain::RetiredKey> kept;
  for (auto& k : keys) {
    if (!domain::retired_key_expired(k, now, keep_s)) {
      kept.push_back(k);
      continue;
    }
    if (auto st = t.delete_key(k.kid); !st.ok()) return st;
    dropped.push_back(k.kid);
  }
  keys = std::move(kept);
  return store::Status::OK();
}

// meta "key_schedule": {kid: signs_from}, the time from which each rotated
// key signs. A key without an entry (the first key, keys rotated by older
// builds) signs from the start.
store::Status schedule_of(const store::ReadTxn& t, nlohmann::json& out) {
  std::optional<std::string> s;
  if (auto st = meta_opt(t, "key_schedule", s); !st.ok()) return st;
  out = s ? nlohmann::json::parse(*s, nullptr, false) : nlohmann::json::object();
  if (!out.is_object()) out = nlohmann::json::object();
  return store::Status::OK();
}

std::int64_t signs_from(const nlohmann::json& schedule, const std::string& kid) {
  auto it = schedule.find(kid);
  return it != schedule.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

}  // namespace

store::Status read_keys(const store::ReadTxn& t, std::int64_t now, std::shared_ptr<const domain::KeyRing>& out,
                        std::int64_t& next_change) {
  next_change = 0;
  std::string cur_kid;
  domain::SigningKey cur;
  if (auto st = t.meta("current_kid", cur_kid); !st.ok()) return st;
  if (auto st = t.key(cur_kid, cur); !st.ok())
    return st.is_not_found() ? store::Status::Corrupt("the current signing key record is missing") : st;
  std::vector<domain::RetiredKey> retired_kids;
  if (auto st = retired_of(t, retired_kids); !st.ok()) return st;
  nlohmann::json schedule;
  if (auto st = schedule_of(t, schedule); !st.ok()) return st;
  std::vector<domain::SigningKey> keys{cur};  // newest first
  for (auto& r : retired_kids) {
    domain::SigningKey k;
    auto st = t.key(r.kid, k);
    if (st.ok()) keys.push_back(std::move(k));
    else if (!st.is_not_found()) return st;
  }
  // The newest key whose time has come signs; the newer ones wait their
  // turn, published; the older ones verify what they signed.
  std::size_t signer = 0;
  while (signer + 1 < keys.size() && signs_from(schedule, keys[signer].kid) > now) {
    next_change = signs_from(schedule, keys[signer].kid);
    ++signer;
  }
  auto others = keys;
  others.erase(others.begin() + static_cast<std::ptrdiff_t>(signer));
  out = std::make_shared<const domain::KeyRing>(keys[signer], others);
  return store::Status::OK();
}

namespace {

// The schedule without the entries of keys that are gone.
store::Status put_schedule(store::WriteTxn& t, nlohmann::json schedule, const std::vector<std::string>& dropped) {
  for (auto& kid : dropped) schedule.erase(kid);
  return t.put_meta("key_schedule", schedule.dump());
}

}  // namespace

std::shared_ptr<const domain::KeyRing> load_keys(store::Backend& db, std::int64_t keep_s, std::string& why) {
  std::shared_ptr<const domain::KeyRing> ring;
  auto st = db.write([&](store::WriteTxn& t) -> store::Status {
    auto now = now_s();
    std::optional<std::string> cur_kid;
    if (auto s = meta_opt(t, "current_kid", cur_kid); !s.ok()) return s;
    if (!cur_kid) {
      auto key = domain::KeyRing::generate(now);
      if (auto s = t.put_key(key); !s.ok()) return s;
      if (auto s = t.put_meta("current_kid", key.kid); !s.ok()) return s;
    }
    // This process is the only signer from now on: keys retired while an older
    // process was still signing with them are retired as of now.
    std::vector<domain::RetiredKey> retired;
    if (auto s = retired_of(t, retired); !s.ok()) return s;
    for (auto& k : retired)
      if (k.retired_at == 0) k.retired_at = now;
    std::vector<std::string> dropped;
    if (auto s = prune(t, retired, now, keep_s, dropped); !s.ok()) return s;
    if (auto s = put_retired(t, retired); !s.ok()) return s;
    nlohmann::json schedule;
    if (auto s = schedule_of(t, schedule); !s.ok()) return s;
    if (auto s = put_schedule(t, std::move(schedule), dropped); !s.ok()) return s;
    std::int64_t next = 0;
    return read_keys(t, now, ring, next);
  });
  if (!st.ok()) {
    why = "cannot load the signing keys: " + st.to_string();
    return nullptr;
  }
  return ring;
}

bool rotate_keys(store::Backend& db, std::int64_t keep_s, std::int64_t delay_s, KeyRotation& out, std::string& why,
                 const std::function<store::Status(store::WriteTxn&, const KeyRotation&)>& also) {
  auto st = db.write([&](store::WriteTxn& t) -> store::Status {
    auto now = now_s();
    auto key = domain::KeyRing::generate(now);
    out = KeyRotation{key.kid, {}, {}, now + delay_s};
    std::vector<domain::RetiredKey> retired;
    if (auto s = retired_of(t, retired); !s.ok()) return s;
    if (auto s = prune(t, retired, now, keep_s, out.dropped); !s.ok()) return s;
    std::optional<std::string> old;
    if (auto s = meta_opt(t, "current_kid", old); !s.ok()) return s;
    if (old) {
      out.retired_kid = *old;
      // Running servers sign with it until the new key's time.
      retired.insert(retired.begin(), domain::RetiredKey{*old, out.signs_from});
    }
    if (auto s = put_retired(t, retired); !s.ok()) return s;
    nlohmann::json schedule;
    if (auto s = schedule_of(t, schedule); !s.ok()) return s;
    schedule[key.kid] = out.signs_from;
    if (auto s = put_schedule(t, std::move(schedule), out.dropped); !s.ok()) return s;
    if (auto s = t.put_key(key); !s.ok()) return s;
    if (auto s = t.put_meta("current_kid", key.kid); !s.ok()) return s;
    return also ? also(t, out) : store::Status::OK();
  });
  if (!st.ok()) why = "cannot store the signing key: " + st.to_string();
  return st.ok();
}

std::string load_secret(store::Backend& db, const std::string& name, std::string& why) {
  std::string secret;
  auto st = db.write([&](store::WriteTxn& t) -> store::Status {
    std::optional<std::string> s;
    if (auto r = meta_opt(t, name, s); !r.ok()) return r;
    if (s && s->size() == 32) {
      secret = *s;
      return store::Status::OK();
    }
    secret = domain::random_bytes(32);
    return t.put_meta(name, secret);
  });
  if (!st.ok()) {
    why = "cannot store " + name + ": " + st.to_string();
    return {};
  }
  return secret;
}

// ---- the audit MAC key -----------------------------------------------------

namespace {

// 16 bytes that identify a key without revealing it (meta "audit_key_id").
std::string key_id(const std::string& key) {
  static const std::string label = "gatehouse audit key id";
  std::string out(16, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(label.data()), label.size(),
                     reinterpret_cast<const unsigned char*>(key.data()), key.size());
  return out;
}

std::string seq_text(std::uint64_t n) { return std::to_string(n); }

// Creates the key file with O_EXCL (mode 0600). EEXIST: another process won the race.
int create_key_file(const std::string& path, const AuditKey& k) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  std::string text =
      "# Gatehouse audit-log MAC key. Keep it secret and OUTSIDE the data folder\n"
      "# (a secret store or a separate mount): whoever holds it can rewrite the\n"
      "# audit chain undetected, and without it `gatehouse audit verify` cannot\n"
      "# check the chain. Back it up; never edit it.\n"
      "key = " + domain::hex(k.key) + "\n" +
      "keyed_from = " + seq_text(k.keyed_from) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  int err = ok ? 0 : errno;
  ::close(fd);
  if (!ok) ::unlink(path.c_str());
  return err;
}

}  // namespace

bool read_audit_key(const std::string& path, AuditKey& out, std::string& why) {
  std::ifstream in(path);
  if (!in) {
    why = "cannot read the audit key file '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::string line, hexkey, from;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t\r"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    auto name = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (name == "key") hexkey = value;
    if (name == "keyed_from") from = value;
  }
  std::string key(32, '\0');
  std::size_t len = 0;
  bool ok = hexkey.size() == 64 &&
            sodium_hex2bin(reinterpret_cast<unsigned char*>(key.data()), key.size(), hexkey.data(), hexkey.size(),
                           nullptr, &len, nullptr) == 0 &&
            len == 32 && !from.empty() && from.find_first_not_of("0123456789") == std::string::npos;
  if (!ok) {
    why = "the audit key file '" + path + "' is malformed (expected key = <64 hex> and keyed_from = <n>)";
    return false;
  }
  out.key = std::move(key);
  out.keyed_from = std::stoull(from);
  if (out.keyed_from == 0) out.keyed_from = 1;
  return true;
}

bool audit_key_matches(const store::ReadTxn& t, const AuditKey& k, std::string& why) {
  std::optional<std::string> from, id;
  auto st = meta_opt(t, "audit_keyed_from", from);
  if (st.ok() && from) st = meta_opt(t, "audit_key_id", id);
  if (!st.ok()) {
    why = "cannot read the store: " + st.to_string();
    return false;
  }
  if (!from) return true;
  if (*from != seq_text(k.keyed_from) || id != key_id(k.key)) {
    why = "the audit key file is not the key this store's audit chain was keyed with";
    return false;
  }
  return true;
}

bool open_audit_key(store::Backend& db, const std::string& path, std::string& why) {
  AuditKey k;
  std::optional<std::string> keyed;
  std::uint64_t head = 0;
  {
    store::Status st;
    auto t = db.read(st);
    std::string hash;
    if (t) st = meta_opt(*t, "audit_keyed_from", keyed);
    if (st.ok()) st = t->audit_head(head, hash);
    if (!st.ok()) {
      why = "cannot read the store: " + st.to_string();
      return false;
    }
  }
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    if (keyed) {
      why = "the audit chain of this store is keyed but the key file '" + path +
            "' is missing: restore it (audit.key_file)";
      return false;
    }
    k.key = domain::random_bytes(32);
    k.keyed_from = head + 1;
    int err = create_key_file(path, k);
    if (err && err != EEXIST) {
      why = "cannot create the audit key file '" + path + "': " + std::strerror(err);
      return false;
    }
  }
  if (!read_audit_key(path, k, why)) return false;
  std::string refused;  // a reason that is not the store's
  auto st = db.write([&](store::WriteTxn& t) -> store::Status {
    if (!audit_key_matches(t, k, refused)) return store::Status::Unavailable();
    db.set_audit_key(k.key, k.keyed_from);
    std::optional<std::string> from;
    if (auto s = meta_opt(t, "audit_keyed_from", from); !s.ok() || from) return s;
    // First use of the key with this store.
    std::string hash;
    if (auto s = t.audit_head(head, hash); !s.ok()) return s;
    if (k.keyed_from != head + 1) {
      refused = "the audit key file '" + path + "' keys from record " + seq_text(k.keyed_from) +
                " but this store's chain has " + seq_text(head) + " records: it belongs to another store";
      return store::Status::Unavailable();
    }
    if (auto s = t.put_meta("audit_keyed_from", seq_text(k.keyed_from)); !s.ok()) return s;
    if (auto s = t.put_meta("audit_key_id", key_id(k.key)); !s.ok()) return s;
    if (head == 0) return store::Status::OK();
    // An existing store: say where the keyed records start.
    domain::AuditEvent e;
    e.type = "audit_keyed";
    e.time = now_s();
    e.details = {{"unkeyed_records", head}};
    return t.append_audit(e.canonical());
  });
  if (!st.ok()) why = !refused.empty() ? refused : "cannot key the audit chain: " + st.to_string();
  return st.ok();
}

}  // namespace gh
