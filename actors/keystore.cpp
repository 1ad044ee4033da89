#include "actors/keystore.hpp"

#include "actors/logic/base64url.hpp"
#include "actors/logic/clock.hpp"

namespace gh {
namespace {

std::shared_ptr<const logic::KeyRing> ring_from(store::Store& db, const store::Txn& t) {
  auto cur_kid = db.meta(t, "current_kid");
  if (!cur_kid) return nullptr;
  auto cur = db.key(t, *cur_kid);
  if (!cur) return nullptr;
  std::optional<store::SigningKey> prev;
  if (auto prev_kid = db.meta(t, "previous_kid")) prev = db.key(t, *prev_kid);
  return std::make_shared<const logic::KeyRing>(*cur, prev ? &*prev : nullptr);
}

bool write_new_key(store::Store& db, std::string& kid, std::string& why) {
  int rc = 0;
  auto t = db.write(rc);
  if (rc) {
    why = store::lmdb_error(rc);
    return false;
  }
  auto key = logic::KeyRing::generate(now_s());
  if (auto old = db.meta(t, "current_kid")) rc = db.put_meta(t, "previous_kid", *old);
  if (rc || (rc = db.put_key(t, key)) || (rc = db.put_meta(t, "current_kid", key.kid)) ||
      (rc = t.commit())) {
    why = "cannot store signing key: " + store::lmdb_error(rc);
    return false;
  }
  kid = key.kid;
  return true;
}

}  // namespace

std::shared_ptr<const logic::KeyRing> load_keys(store::Store& db, std::string& why) {
  {
    int rc = 0;
    auto t = db.read(rc);
    if (rc) {
      why = store::lmdb_error(rc);
      return nullptr;
    }
    if (auto ring = ring_from(db, t)) return ring;
    if (db.meta(t, "current_kid")) {
      why = "the current signing key record is unreadable";
      return nullptr;
    }
  }
  std::string kid;
  if (!write_new_key(db, kid, why)) return nullptr;
  int rc = 0;
  auto t = db.read(rc);
  return rc ? nullptr : ring_from(db, t);
}

std::string rotate_keys(store::Store& db, std::string& why) {
  std::string kid;
  return write_new_key(db, kid, why) ? kid : std::string();
}

std::string load_rotation_secret(store::Store& db, std::string& why) {
  int rc = 0;
  auto t = db.write(rc);
  if (rc) {
    why = store::lmdb_error(rc);
    return {};
  }
  if (auto s = db.meta(t, "rotation_secret"); s && s->size() == 32) return *s;
  auto secret = logic::random_bytes(32);
  if ((rc = db.put_meta(t, "rotation_secret", secret)) || (rc = t.commit())) {
    why = "cannot store rotation secret: " + store::lmdb_error(rc);
    return {};
  }
  return secret;
}

}  // namespace gh
