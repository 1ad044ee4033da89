// The store contract: what Gatehouse needs from a storage engine, and
// nothing about how one keeps it. Flows and actors speak only this; each
// engine implements it in its own folder (store/lmdb/ today).
//
// Shape. One interface per aggregate (users, sessions and refresh tokens,
// API keys, one-time tokens, avatars, keys and server secrets, audit log),
// each with a read side and a write side. A ReadTxn is every read side, a
// WriteTxn every side: a consistent snapshot, and an atomic unit of writes.
//
// Errors (store/status.hpp): every call returns a Status. A getter answers
// ok (and fills `out`), not_found, or a failure (unavailable, corrupt): a
// failure is never reported as absence. Writers of a unique value (email,
// username) answer conflict and write nothing; the store, not the caller,
// keeps uniqueness, so an engine with unique indexes fits the same contract.
//
// Writes. Online writes go through a WriteBatch, driven by the single writer
// actor (actors/writer.cpp): it runs many operations, each atomic on its own
// (a failed one leaves no trace), and commits them together, durably (group
// commit); nothing is acknowledged before that commit. Offline commands
// (the CLI, start-up) use Backend::write, a batch of one.
//
// Threads. A Backend is shared by every thread. A transaction belongs to the
// thread that uses it, one at a time. principal() is the hot read of every
// token check and is safe to call from any thread at any rate.
#pragma once

#include "domain/entities.hpp"
#include "domain/rate_limit.hpp"
#include "domain/retention.hpp"
#include "store/status.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gh::store {

/// The schema this build reads and writes. Bump with a migration.
/// 2: the email index is keyed by the Unicode-aware normal form (NFC and
///    full lowercase of the local part; domain/email.hpp).
constexpr int kSchemaVersion = 2;

// ---- users (with their failed-login state) ----------------------------------
class UsersRead {
 public:
  virtual ~UsersRead() = default;
  virtual Status user(std::string_view id, domain::User& out) const = 0;
  /// The account with this (normalised) email.
  virtual Status user_by_email(std::string_view email, domain::User& out) const = 0;
  /// The account with this username, compared in ASCII lower case.
  virtual Status user_by_username(std::string_view username, domain::User& out) const = 0;
  /// Users in email order from `from` (excluding it when `exclusive`: a page
  /// cursor). `visit` returns false to stop.
  virtual Status users_by_email(std::string_view from, bool exclusive,
                                const std::function<bool(const domain::User&)>& visit) const = 0;
};
class UsersWrite {
 public:
  virtual ~UsersWrite() = default;
  /// A new account: conflict (nothing written) when its email or username
  /// belongs to another account.
  virtual Status insert_user(const domain::User& u) = 0;
  /// Replaces an existing account (not_found if there is none), moving its
  /// email and username index entries when they changed: conflict (nothing
  /// written) when the new email or username belongs to another account.
  virtual Status update_user(const domain::User& u) = 0;
};

// ---- sessions and refresh tokens ---------------------------------------------
class SessionsRead {
 public:
  virtual ~SessionsRead() = default;
  virtual Status session(std::string_view id, domain::Session& out) const = 0;
  /// Every session of a user, live or not, oldest id first.
  virtual Status sessions_of(std::string_view user_id, std::vector<domain::Session>& out) const = 0;
  /// The refresh token with this hash (every token ever issued, until pruned).
  virtual Status refresh(std::string_view token_hash, domain::RefreshRef& out) const = 0;
};
class SessionsWrite {
 public:
  virtual ~SessionsWrite() = default;
  /// Writes (creates or replaces) a session and its per-user index entry.
  virtual Status put_session(const domain::Session& s) = 0;
  /// Deletes a session with its index entry and its current refresh token.
  /// Refresh tokens of earlier generations then name no session (refused like
  /// unknown ones) and go at the next prune.
  virtual Status delete_session(const domain::Session& s) = 0;
  virtual Status put_refresh(std::string_view token_hash, const domain::RefreshRef& r) = 0;
};

// ---- API keys --------------------------------------------------------------------
class ApiKeysRead {
 public:
  virtual ~ApiKeysRead() = default;
  /// The key whose secret hashes to `secret_hash`.
  virtual Status api_key(std::string_view secret_hash, domain::ApiKey& out) const = 0;
  /// (secret hash, key) of every API key of a user, in key id order.
  virtual Status api_keys_of(std::string_view user_id,
                             std::vector<std::pair<std::string, domain::ApiKey>>& out) const = 0;
};
class ApiKeysWrite {
 public:
  virtual ~ApiKeysWrite() = default;
  virtual Status put_api_key(std::string_view secret_hash, const domain::ApiKey& k) = 0;
};

// ---- one-time tokens (links and codes) -------------------------------------------
class OneTimeRead {
 public:
  virtual ~OneTimeRead() = default;
  virtual Status otp(std::string_view token_hash, domain::OneTimeToken& out) const = 0;
};
class OneTimeWrite {
 public:
  virtual ~OneTimeWrite() = default;
  /// Writes a token as it is (marking one used goes through here).
  virtual Status put_otp(std::string_view token_hash, const domain::OneTimeToken& o) = 0;
  /// Issues a token unless its user already has `max_live` live (unused,
  /// unexpired at `now`) ones of its purpose; earlier ones stay valid.
  /// `issued` says which.
  virtual Status issue_otp(std::string_view token_hash, const domain::OneTimeToken& o, int max_live,
                           std::int64_t now, bool& issued) = 0;
  /// Marks every live token of `user_id` and `purpose` used.
  virtual Status retire_otps(std::string_view user_id, std::string_view purpose) = 0;
};

// ---- avatars ---------------------------------------------------------------------
class AvatarsRead {
 public:
  virtual ~AvatarsRead() = default;
  virtual Status avatar(std::string_view user_id, domain::Avatar& out) const = 0;
};
class AvatarsWrite {
 public:
  virtual ~AvatarsWrite() = default;
  virtual Status put_avatar(std::string_view user_id, const domain::Avatar& a) = 0;
};

// ---- signing keys and server secrets ------------------------------------------------
class KeysRead {
 public:
  virtual ~KeysRead() = default;
  virtual Status key(std::string_view kid, domain::SigningKey& out) const = 0;
  /// A named server value (current_kid, rotation_secret, schema_version…).
  virtual Status meta(std::string_view name, std::string& out) const = 0;
};
class KeysWrite {
 public:
  virtual ~KeysWrite() = default;
  virtual Status put_key(const domain::SigningKey& k) = 0;
  virtual Status delete_key(std::string_view kid) = 0;
  virtual Status put_meta(std::string_view name, std::string_view value) = 0;
};

// ---- the audit log ---------------------------------------------------------------
/// One record of the hash chain (domain/audit.hpp says how it links).
struct AuditRecord {
  std::uint64_t seq = 0;
  std::string prev, hash, canonical;
};
class AuditRead {
 public:
  virtual ~AuditRead() = default;
  /// Records with seq > `after`, in order, until `visit` returns false.
  /// A record that does not decode is skipped (the verifier sees the gap).
  virtual Status audit_after(std::uint64_t after,
                             const std::function<bool(const AuditRecord&)>& visit) const = 0;
  /// (seq, hash) of the last record; (0, "") when the log is empty.
  virtual Status audit_head(std::uint64_t& seq, std::string& hash) const = 0;
};
class AuditWrite {
 public:
  virtual ~AuditWrite() = default;
  /// Appends an event's canonical bytes, extending the chain with the
  /// backend's audit key (Backend::set_audit_key). `out` (optional) gets
  /// the new record. unavailable when the chain is keyed and no key is set.
  virtual Status append_audit(const std::string& canonical, AuditRecord* out = nullptr) = 0;
};

// ---- maintenance -------------------------------------------------------------------
/// Tables the background prune walks (actors/janitor.cpp), in this order.
enum class PruneTable { sessions, refresh, api_keys, otp };
constexpr int kPruneTables = 4;

class Maintenance {
 public:
  virtual ~Maintenance() = default;
  /// One bounded step of the prune: looks at up to `limit` records of `table`
  /// after the key `cursor` (from the first when empty), deletes those `rules`
  /// call dead with their index entries, leaves in `cursor` the last key
  /// looked at (cleared at the table's end). `deleted` gets the count.
  /// A refresh token whose session is gone is dead too.
  virtual Status prune(PruneTable table, std::string& cursor, std::size_t limit,
                       const domain::PruneRules& rules, std::size_t& deleted) = 0;
};

// ---- transactions ------------------------------------------------------------------
/// A consistent snapshot: every read side.
class ReadTxn : public UsersRead,
                public SessionsRead,
                public ApiKeysRead,
                public OneTimeRead,
                public AvatarsRead,
                public KeysRead,
                public AuditRead {};

/// An atomic unit of writes, reading its own writes.
class WriteTxn : public ReadTxn,
                 public UsersWrite,
                 public SessionsWrite,
                 public ApiKeysWrite,
                 public OneTimeWrite,
                 public AvatarsWrite,
                 public KeysWrite,
                 public AuditWrite,
                 public Maintenance {};

/// One operation of a batch: returns true to keep its writes, false to roll
/// them back (the batch goes on without them).
using WriteFn = std::function<bool(WriteTxn&)>;

/// Group commit: operations applied one by one, committed together.
class WriteBatch {
 public:
  virtual ~WriteBatch() = default;
  /// Runs `op` atomically inside the batch. ok: its writes joined the batch
  /// or were rolled back as it asked. A failure means the batch itself
  /// broke: it was given up, with every operation in it, and the next apply
  /// starts a new one.
  virtual Status apply(const WriteFn& op) = 0;
  /// Operations in the open batch.
  virtual std::size_t size() const = 0;
  /// Makes the batch durable; afterwards a new batch starts empty. A failure
  /// means none of its operations happened.
  virtual Status commit() = 0;
};

/// The hot read of a token check: a session and the user it belongs to,
/// read together.
struct Principal {
  domain::Session session;
  domain::User user;
};

/// How full the store is (for engines with a fixed-size map; 0 when unknown).
struct Fill {
  std::uint64_t used_bytes = 0;
  std::uint64_t map_bytes = 0;
};

/// Rate-limit buckets kept in the store, for limits that several instances
/// must share (the login buckets). Kept where losing them is harmless: a
/// crash refills every bucket (fails open).
class SharedBuckets {
 public:
  virtual ~SharedBuckets() = default;
  /// Takes one token from bucket `key`, refilled by `spec` on the store's
  /// clock (one clock for every instance); the decision in `out`.
  virtual Status take(std::string_view key, const domain::BucketSpec& spec, domain::RateDecision& out) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  /// A read-only snapshot, or null with a failure in `st`.
  virtual std::unique_ptr<ReadTxn> read(Status& st) const = 0;
  /// Runs `fn` in one write transaction and commits it when `fn` answers ok;
  /// for offline commands and start-up (online writes use batch()).
  virtual Status write(const std::function<Status(WriteTxn&)>& fn) = 0;
  /// The batch of the single online writer.
  virtual std::unique_ptr<WriteBatch> batch() = 0;

  /// Session `session_id` and its user: not_found when either is missing.
  virtual Status principal(std::string_view session_id, Principal& out) const = 0;

  /// For a cache of principal(): a number that grows whenever session
  /// `session_id` or user `user_id` may have changed (or anything, when the
  /// engine cannot tell which), so a principal read after taking the stamp
  /// stays good while the stamp stays the same. 0: the engine cannot tell
  /// now; read through and cache nothing. The default never lets a cache
  /// keep anything.
  virtual std::uint64_t change_stamp(std::string_view session_id, std::string_view user_id) const {
    (void)session_id, (void)user_id;
    return 0;
  }

  /// The schema version stored; 0 for a new, empty store.
  virtual Status schema_version(int& out) const = 0;
  /// How the caller normalises an email today (the store does not know the
  /// rules): the normal form, or nullopt for an address it would refuse.
  using EmailNormalizer = std::function<std::optional<std::string>(std::string_view)>;
  /// Brings the store to kSchemaVersion in one transaction; fails (with a
  /// message) for a store of a newer build. 1 -> 2 re-keys every account
  /// whose email differs from `normalize(email)`; one whose new form is
  /// another's, or that `normalize` refuses, is left and named in `notes`.
  virtual Status migrate(const EmailNormalizer& normalize = {}, std::vector<std::string>* notes = nullptr) = 0;

  /// The audit MAC key: records from `keyed_from` on are linked with it. Set
  /// before the first append, by every process that writes the store.
  virtual void set_audit_key(std::string key, std::uint64_t keyed_from) = 0;

  virtual Status fill(Fill& out) const = 0;

  /// The engine's shared buckets; null when it keeps none (an embedded
  /// store serves one instance, whose own buckets are the whole truth).
  virtual SharedBuckets* shared_buckets() { return nullptr; }
};

}  // namespace gh::store
