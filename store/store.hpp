// The Gatehouse store: one LMDB environment with a named database per table,
// and typed access to the records in it.
//
// Reads: any thread may open a short read transaction with read() and use the
// typed getters with it. Writes: only the writer actor calls write() and the
// typed setters, inside its group-commit batch (actors/writer.cpp), so every
// check-then-write runs in one write transaction.
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
#pragma once

#include "store/lmdb.hpp"
#include "store/records.hpp"
#include "domain/retention.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gh::store {

/// The schema this build reads and writes. Bump with a migration in store.cpp.
/// 2: the emails index is keyed by the Unicode-aware normal form (NFC and
///    full lowercase of the local part; domain/email.hpp).
constexpr int kSchemaVersion = 2;

/// How full the map is: pages in use (the file's high-water mark less the
/// free list, which LMDB reuses) and the map size, in bytes.
struct Fill {
  std::uint64_t used_bytes = 0;
  std::uint64_t map_bytes = 0;
};

/// Tables the background prune walks (actors/janitor.cpp), in this order.
enum class PruneTable { sessions, refresh, api_keys, otp };
constexpr int kPruneTables = 4;

/// Which records of each table are dead: domain/retention.hpp.
using domain::PruneRules;

struct Options {
  std::string path;
  std::size_t map_size_bytes = std::size_t{1} << 30;
  /// Open an existing store read-only (MDB_RDONLY): nothing is created, and
  /// a store whose tables are missing is refused. For the read-only commands.
  bool read_only = false;
};

class Store {
 public:
  /// Opens the environment and its tables. `rc` gets an LMDB code on failure.
  static std::unique_ptr<Store> open(const Options& opts, int& rc, std::string& why);

  /// The schema version on disk; 0 for a new, empty store.
  int schema_version() const;
  /// How the caller normalises an email today (the store does not know the
  /// rules): the normal form, or nullopt for an address it would refuse.
  using EmailNormalizer = std::function<std::optional<std::string>(std::string_view)>;
  /// Brings a store to kSchemaVersion in one transaction. Returns false (and
  /// `why`) if it cannot: a store written by a newer Gatehouse, or a failed
  /// commit. Step 1 -> 2 re-keys every account whose stored email differs
  /// from `normalize(email)`; an account whose new form is taken by another
  /// one, or that `normalize` refuses, is left as it is and named in `notes`
  /// for the operator to decide.
  bool migrate(std::string& why, const EmailNormalizer& normalize = {},
               std::vector<std::string>* notes = nullptr);

  /// A read-only transaction (MDB_RDONLY); rc != 0 leaves it closed.
  Txn read(int& rc) const;
  /// A write transaction; for the writer actor and for offline commands only.
  Txn write(int& rc);

  // ---- typed access; getters work in any transaction --------------------
  std::optional<User> user(const Txn& t, std::string_view id) const;
  std::optional<std::string> user_id_by_email(const Txn& t, std::string_view email) const;
  std::optional<std::string> user_id_by_username(const Txn& t, std::string_view username) const;
  /// Writes the user and its email (and username) index entries.
  int put_user(Txn& t, const User& u);

  std::optional<Session> session(const Txn& t, std::string_view id) const;
  /// Writes the session and its per-user index entry.
  int put_session(Txn& t, const Session& s);
  /// Every session of a user, live or not, oldest id first.
  std::vector<Session> sessions_of(const Txn& t, std::string_view user_id) const;
  /// Deletes a session with its per-user index entry and its current
  /// refresh token: what prune() deletes for a dead session. Refresh tokens
  /// of earlier generations then point at no session (refused like unknown
  /// ones) and go at the next prune of the refresh table.
  int del_session(Txn& t, const Session& s);

  std::optional<RefreshRef> refresh(const Txn& t, std::string_view token_hash) const;
  int put_refresh(Txn& t, std::string_view token_hash, const RefreshRef& r);

  /// Users in email order from `from` (excluding it when `exclusive`: a page
  /// cursor). `visit` returns false to stop.
  void users_by_email(const Txn& t, std::string_view from, bool exclusive,
                      const std::function<bool(const User&)>& visit) const;
  /// Removes the username index entry of a user (before a rename).
  int del_username(Txn& t, std::string_view username);

  std::optional<ApiKey> api_key(const Txn& t, std::string_view secret_hash) const;
  int put_api_key(Txn& t, std::string_view secret_hash, const ApiKey& k);
  /// (secret hash, key) of every API key of a user.
  std::vector<std::pair<std::string, ApiKey>> api_keys_of(const Txn& t, std::string_view user_id) const;

  std::optional<OneTimeToken> otp(const Txn& t, std::string_view token_hash) const;
  int put_otp(Txn& t, std::string_view token_hash, const OneTimeToken& o);
  /// Issues a one-time token unless its user already has `max_live` live
  /// (unused, unexpired at `now`) ones of that purpose; earlier ones stay
  /// valid. `issued` says which. Index entries of dead tokens are dropped.
  int issue_otp(Txn& t, std::string_view token_hash, const OneTimeToken& o, int max_live, std::int64_t now,
                bool& issued);
  /// Marks every live token of `user_id` and `purpose` used (one of them was
  /// redeemed: the others must not work any more).
  int retire_otps(Txn& t, std::string_view user_id, std::string_view purpose);

  /// The audit MAC key (actors/keystore.hpp, open_audit_key): records from
  /// `keyed_from` on are linked with a keyed BLAKE2b MAC. Set before the
  /// first append_audit, by every process that writes the store.
  void set_audit_key(std::string key, std::uint64_t keyed_from);
  /// Appends an audit event's canonical bytes, extending the hash chain;
  /// the head (seq, hash) is kept in meta "audit_head".
  /// `seq_out`/`hash_out` (optional) get the new record's number and hash.
  /// EACCES when the store's chain is keyed (meta "audit_keyed_from") and no
  /// key was set: an unkeyed link would break it.
  int append_audit(Txn& t, const std::string& canonical, std::uint64_t* seq_out = nullptr,
                   std::string* hash_out = nullptr);
  /// Records with seq > `after`, in order, until `visit` returns false.
  void audit_after(const Txn& t, std::uint64_t after,
                   const std::function<bool(std::uint64_t seq, const std::string& prev,
                                            const std::string& hash, const std::string& canonical)>& visit) const;
  /// (seq, hash) of the last record; (0, "") when empty.
  std::pair<std::uint64_t, std::string> audit_head(const Txn& t) const;
  /// For tamper tests and tools: the table handle.
  MDB_dbi audit_dbi_for_test() const { return audit_; }

  std::optional<Avatar> avatar(const Txn& t, std::string_view user_id) const;
  int put_avatar(Txn& t, std::string_view user_id, const Avatar& a);

  /// One bounded step of the background prune: looks at up to `limit`
  /// records of `table` after the key `cursor` (from the first when empty),
  /// deletes those `rules` call dead together with their index entries, and
  /// leaves in `cursor` the last key looked at, or clears it at the table's
  /// end. Undecodable records are left alone. `deleted` gets the count.
  /// A refresh token whose session is gone (del_session) is dead too.
  int prune(Txn& t, PruneTable table, std::string& cursor, std::size_t limit, const PruneRules& rules,
            std::size_t& deleted);
  /// Fill of the map (mdb_env_info, mdb_env_stat and the free list); rc != 0 on failure.
  Fill fill(int& rc) const;

  std::optional<SigningKey> key(const Txn& t, std::string_view kid) const;
  int put_key(Txn& t, const SigningKey& k);
  int del_key(Txn& t, std::string_view kid);

  std::optional<std::string> meta(const Txn& t, std::string_view name) const;
  int put_meta(Txn& t, std::string_view name, std::string_view value);

  MDB_env* env() const { return env_.get(); }

 private:
  Store() = default;
  Env env_;
  MDB_dbi meta_ = 0, users_ = 0, emails_ = 0, usernames_ = 0, sessions_ = 0, user_sessions_ = 0, refresh_ = 0,
          keys_ = 0, api_keys_ = 0, user_api_keys_ = 0, avatars_ = 0,
          otp_ = 0, user_otp_ = 0, audit_ = 0;
  int rekey_emails(Txn& t, const EmailNormalizer& normalize, std::vector<std::string>* notes);
  /// The (table, key) entries of a session: the record, its per-user index
  /// entry and its current refresh token (shared by prune and del_session).
  void session_entries(const Session& s, std::vector<std::pair<MDB_dbi, std::string>>& out) const;

  std::string audit_key_;
  std::uint64_t audit_keyed_from_ = 0;
};

}  // namespace gh::store
