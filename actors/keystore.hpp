// Key material at rest: the signing keys and the server secrets (the `keys`
// and `meta` tables), and the audit MAC key (a file outside the store).
// Used at start-up, before the writer actor exists, and by offline commands;
// each call runs its own write transaction.
#pragma once

#include "domain/keyring.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gh {

/// The signing keys, for every instance at once and without restarts: the
/// current key (the newest, meta "current_kid") and every retired key still
/// needed (see domain::RetiredKey), each with the time it signs from (meta
/// "key_schedule"). At `now` the newest key whose time has come signs; newer
/// ones are already published in the JWKS; older ones verify what they
/// signed. `next_change`: when the signer changes next (0: no change is
/// scheduled).
store::Status read_keys(const store::ReadTxn& t, std::int64_t now, std::shared_ptr<const domain::KeyRing>& out,
                        std::int64_t& next_change);

/// read_keys() at start-up, generating and storing the first key of a new
/// store. Keys retired by an older build (no retirement time) are retired as
/// of now, and retired keys whose tokens have all expired (`keep_s` =
/// access-token lifetime + leeway after retirement) are deleted. Null with
/// `why` if the store cannot be read or written.
std::shared_ptr<const domain::KeyRing> load_keys(store::Backend& db, std::int64_t keep_s, std::string& why);

struct KeyRotation {
  std::string kid;                   ///< the new current key
  std::string retired_kid;           ///< the key it replaces (empty on a new store)
  std::vector<std::string> dropped;  ///< retired keys deleted because all their tokens expired
  std::int64_t signs_from = 0;       ///< when the new key starts signing
};

/// Makes a new current key that signs from `delay_s` from now (published at
/// once: running servers re-read the keys, see spawn_key_watch); the old
/// current one is retired at that time and stays in the JWKS. `also` runs in
/// the same write transaction before the commit (the audit record); a status
/// that is not ok aborts. False with `why`.
bool rotate_keys(store::Backend& db, std::int64_t keep_s, std::int64_t delay_s, KeyRotation& out, std::string& why,
                 const std::function<store::Status(store::WriteTxn&, const KeyRotation&)>& also = {});

/// The 32-byte server secret kept in meta `name`; created once. Empty with
/// `why` if the store cannot be read or written.
std::string load_secret(store::Backend& db, const std::string& name, std::string& why);

/// The secret that derives successor refresh tokens (meta "rotation_secret").
inline std::string load_rotation_secret(store::Backend& db, std::string& why) {
  return load_secret(db, "rotation_secret", why);
}

/// The audit MAC key: 32 random bytes, and the first record it keys.
struct AuditKey {
  std::string key;
  std::uint64_t keyed_from = 1;
};

/// Reads the key file `path`. False with `why` (missing, unreadable, malformed).
bool read_audit_key(const std::string& path, AuditKey& out, std::string& why);

/// Checks that `k` is the key this store's chain was keyed with (meta
/// "audit_keyed_from" and "audit_key_id"). A store not yet keyed matches any
/// key. False with `why`.
bool audit_key_matches(const store::ReadTxn& t, const AuditKey& k, std::string& why);

/// For every process that appends to the audit chain (the server and the
/// CLI's write commands): reads the key file, or creates it (mode 0600) when
/// the store is not keyed yet; keys a store that has unkeyed records with an
/// `audit_keyed` record; and sets the key on the store. False with `why`
/// (the key file is missing for a keyed store, or belongs to another store).
bool open_audit_key(store::Backend& db, const std::string& path, std::string& why);

}  // namespace gh
