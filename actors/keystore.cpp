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
#include <sstream>

namespace gh {
namespace {

// meta "retired_keys": [{"kid", "retired_at"}], newest first. A store of an
// older build has only "previous_kid": that key is retired, time unknown (0).
std::vector<domain::RetiredKey> retired_of(store::Store& db, const store::Txn& t) {
  std::vector<domain::RetiredKey> out;
  if (auto s = db.meta(t, "retired_keys")) {
    auto j = nlohmann::json::parse(*s, nullptr, false);
    if (j.is_array())
      for (auto& e : j)
        if (e.is_object() && e.value("kid", nlohmann::json()).is_string())
          out.push_back({e["kid"].get<std::string>(), e.value("retired_at", std::int64_t{0})});
  } else if (auto prev = db.meta(t, "previous_kid")) {
    out.push_back({*prev, 0});
  }
  return out;
}

int put_retired(store::Store& db, store::Txn& t, const std::vector<domain::RetiredKey>& keys) {
  auto j = nlohmann::json::array();
  for (auto& k : keys) j.push_back({{"kid", k.kid}, {"retired_at", k.retired_at}});
  int rc = db.put_meta(t, "retired_keys", j.dump());
  // Older builds read only previous_kid: give them the newest retired key.
  if (!rc && !keys.empty()) rc = db.put_meta(t, "previous_kid", keys.front().kid);
  return rc;
}

// Deletes the retired keys whose tokens have all expired; their kids go to `dropped`.
int prune(store::Store& db, store::Txn& t, std::vector<domain::RetiredKey>& keys, std::int64_t now,
          std::int64_t keep_s, std::vector<std::string>& dropped) {
  std::vector<domain::RetiredKey> kept;
  for (auto& k : keys) {
    if (!domain::retired_key_expired(k, now, keep_s)) {
      kept.push_back(k);
      continue;
    }
    if (int rc = db.del_key(t, k.kid)) return rc;
    dropped.push_back(k.kid);
  }
  keys = std::move(kept);
  return 0;
}

std::shared_ptr<const domain::KeyRing> ring_from(store::Store& db, const store::Txn& t) {
  auto cur_kid = db.meta(t, "current_kid");
  if (!cur_kid) return nullptr;
  auto cur = db.key(t, *cur_kid);
  if (!cur) return nullptr;
  std::vector<domain::SigningKey> retired;
  for (auto& r : retired_of(db, t))
    if (auto k = db.key(t, r.kid)) retired.push_back(std::move(*k));
  return std::make_shared<const domain::KeyRing>(*cur, retired);
}

}  // namespace

std::shared_ptr<const domain::KeyRing> load_keys(store::Store& db, std::int64_t keep_s, std::string& why) {
  int rc = 0;
  auto t = db.write(rc);
  if (rc) {
    why = store::lmdb_error(rc);
    return nullptr;
  }
  auto now = now_s();
  auto cur_kid = db.meta(t, "current_kid");
  if (cur_kid && !db.key(t, *cur_kid)) {
    why = "the current signing key record is unreadable";
    return nullptr;
  }
  if (!cur_kid) {
    auto key = domain::KeyRing::generate(now);
    if ((rc = db.put_key(t, key)) || (rc = db.put_meta(t, "current_kid", key.kid))) {
      why = "cannot store signing key: " + store::lmdb_error(rc);
      return nullptr;
    }
  }
  // This process is the only signer from now on: keys retired while an older
  // process was still signing with them are retired as of now.
  auto retired = retired_of(db, t);
  for (auto& k : retired)
    if (k.retired_at == 0) k.retired_at = now;
  std::vector<std::string> dropped;
  if ((rc = prune(db, t, retired, now, keep_s, dropped)) || (rc = put_retired(db, t, retired))) {
    why = "cannot store signing keys: " + store::lmdb_error(rc);
    return nullptr;
  }
  auto ring = ring_from(db, t);
  if ((rc = t.commit())) {
    why = "cannot store signing keys: " + store::lmdb_error(rc);
    return nullptr;
  }
  return ring;
}

bool rotate_keys(store::Store& db, std::int64_t keep_s, KeyRotation& out, std::string& why,
                 const std::function<int(store::Txn&, const KeyRotation&)>& also) {
  int rc = 0;
  auto t = db.write(rc);
  if (rc) {
    why = store::lmdb_error(rc);
    return false;
  }
  auto now = now_s();
  auto key = domain::KeyRing::generate(now);
  out = KeyRotation{key.kid, {}, {}};
  auto retired = retired_of(db, t);
  rc = prune(db, t, retired, now, keep_s, out.dropped);
  if (auto old = db.meta(t, "current_kid")) {
    out.retired_kid = *old;
    // 0: a running server may sign with it until it restarts (load_keys).
    retired.insert(retired.begin(), domain::RetiredKey{*old, 0});
  }
  if (rc || (rc = put_retired(db, t, retired)) || (rc = db.put_key(t, key)) ||
      (rc = db.put_meta(t, "current_kid", key.kid))) {
    why = "cannot store signing key: " + store::lmdb_error(rc);
    return false;
  }
  if (also && (rc = also(t, out))) {
    why = "cannot write the audit record: " + store::lmdb_error(rc);
    return false;
  }
  if ((rc = t.commit())) {
    why = "cannot store signing key: " + store::lmdb_error(rc);
    return false;
  }
  return true;
}

std::string load_secret(store::Store& db, const std::string& name, std::string& why) {
  int rc = 0;
  auto t = db.write(rc);
  if (rc) {
    why = store::lmdb_error(rc);
    return {};
  }
  if (auto s = db.meta(t, name); s && s->size() == 32) return *s;
  auto secret = domain::random_bytes(32);
  if ((rc = db.put_meta(t, name, secret)) || (rc = t.commit())) {
    why = "cannot store " + name + ": " + store::lmdb_error(rc);
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

bool audit_key_matches(const store::Store& db, const store::Txn& t, const AuditKey& k, std::string& why) {
  auto from = db.meta(t, "audit_keyed_from");
  if (!from) return true;
  if (*from != seq_text(k.keyed_from) || db.meta(t, "audit_key_id") != key_id(k.key)) {
    why = "the audit key file is not the key this store's audit chain was keyed with";
    return false;
  }
  return true;
}

bool open_audit_key(store::Store& db, const std::string& path, std::string& why) {
  int rc = 0;
  AuditKey k;
  bool keyed = false;
  std::uint64_t head = 0;
  {
    auto t = db.read(rc);
    if (rc) {
      why = store::lmdb_error(rc);
      return false;
    }
    keyed = db.meta(t, "audit_keyed_from").has_value();
    head = db.audit_head(t).first;
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
  auto t = db.write(rc);
  if (rc) {
    why = store::lmdb_error(rc);
    return false;
  }
  if (!audit_key_matches(db, t, k, why)) return false;
  db.set_audit_key(k.key, k.keyed_from);
  if (!db.meta(t, "audit_keyed_from")) {  // first use of the key with this store
    head = db.audit_head(t).first;
    if (k.keyed_from != head + 1) {
      why = "the audit key file '" + path + "' keys from record " + seq_text(k.keyed_from) +
            " but this store's chain has " + seq_text(head) + " records: it belongs to another store";
      return false;
    }
    if ((rc = db.put_meta(t, "audit_keyed_from", seq_text(k.keyed_from))) ||
        (rc = db.put_meta(t, "audit_key_id", key_id(k.key)))) {
      why = store::lmdb_error(rc);
      return false;
    }
    if (head > 0) {  // an existing store: say where the keyed records start
      domain::AuditEvent e;
      e.type = "audit_keyed";
      e.time = now_s();
      e.details = {{"unkeyed_records", head}};
      if ((rc = db.append_audit(t, e.canonical()))) {
        why = store::lmdb_error(rc);
        return false;
      }
    }
    if ((rc = t.commit())) {
      why = "cannot key the audit chain: " + store::lmdb_error(rc);
      return false;
    }
  }
  return true;
}

}  // namespace gh
