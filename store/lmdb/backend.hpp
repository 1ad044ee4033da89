// The embedded engine: the store contract (store/store.hpp) kept in one LMDB
// environment, a named database per table, records encoded as CBOR
// (store/lmdb/records.hpp). The only code that names LMDB is in this folder.
//
// Tables (named databases):
//   meta           "schema_version", "current_kid", "previous_kid" (newest retired kid,
//                  for older builds), "retired_keys" (JSON [{kid, retired_at}]),
//                  "rotation_secret", "device_secret", "audit_head", "audit_keyed_from",
//                  "audit_key_id"
//   users          user id            -> User
//   emails         normalised email   -> user id
//   usernames      lowercased username -> user id
//   sessions       session id         -> Session
//   user_sessions  user id ++ session id -> "" (index for listing / logout-all)
//   refresh        BLAKE2b(token)     -> RefreshRef (every token ever issued, until expiry)
//   keys           kid                -> SigningKey
//   api_keys       BLAKE2b(secret)    -> ApiKey
//   user_api_keys  user id ++ key id  -> BLAKE2b(secret) (index for listing / revoking)
//   avatars        user id            -> Avatar
//   otp            BLAKE2b(token)     -> OneTimeToken
//   user_otp       user id ":" purpose ":" BLAKE2b(token) -> "" (index of the live ones;
//                  entries "user id:purpose" of schema 1 builds are ignored)
//   audit          big-endian seq     -> {prev hash, hash, canonical event} (append-only)
//
// Group commit: batch() is one write transaction; each apply() runs in a
// nested transaction of it, so a failed operation leaves the batch usable,
// and commit() is one synced mdb_txn_commit for all of them.
// Reads: MDB_RDONLY transactions, usable from any thread (MDB_NOTLS).
#pragma once

#include "store/store.hpp"

#include <cstddef>
#include <memory>
#include <string>

namespace gh::store::lmdb {

struct Options {
  std::string path;
  std::size_t map_size_bytes = std::size_t{1} << 30;
  /// Open an existing store read-only (MDB_RDONLY): nothing is created, and
  /// a store whose tables are missing is refused. For the read-only commands.
  bool read_only = false;
};

/// Opens (creating, unless read_only) the store in folder `opts.path`; null
/// with the reason in `st` (unavailable) when it cannot.
std::unique_ptr<Backend> open(const Options& opts, Status& st);

}  // namespace gh::store::lmdb
