// Inside the LMDB engine (not for code above store/): the tables of one
// environment and the transaction class that implements the contract's
// WriteTxn over an MDB_txn. A read-only MDB_txn serves as a ReadTxn: only the
// read side is reachable through that interface.
#pragma once

#include "store/change_stamps.hpp"
#include "store/lmdb/env.hpp"
#include "store/store.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gh::store::lmdb {

/// The named databases (see backend.hpp for what each keeps).
struct Tables {
  MDB_dbi meta = 0, users = 0, emails = 0, usernames = 0, sessions = 0, user_sessions = 0, refresh = 0, keys = 0,
          api_keys = 0, user_api_keys = 0, avatars = 0, otp = 0, user_otp = 0, audit = 0;
  /// The handle of a table by its on-disk name; false when there is none.
  bool find(std::string_view name, MDB_dbi& out) const;
};

/// The change stamps of Backend::change_stamp. A write transaction notes
/// the user and session keys it writes; once it has committed, their slots
/// (a hash of the key picks one of kSlots) grow, before the writer answers
/// anyone. A commit by another process (an offline command) is seen as a gap
/// in LMDB's transaction ids and grows every stamp.
class Stamps {
 public:
  static std::uint32_t slot_of(std::string_view key) { return ChangeStamps::slot_of(key); }

  /// A write transaction `txnid` has begun (holding LMDB's write lock).
  void began(std::uint64_t txnid);
  /// It committed, having written the keys of `slots`; or it ended without
  /// a commit (`committed` false).
  void ended(std::uint64_t txnid, bool committed, const std::vector<std::uint32_t>& slots);
  std::uint64_t stamp(MDB_env* env, std::string_view a, std::string_view b);

 private:
  ChangeStamps counts_;
  std::atomic<std::uint64_t> known_{0};  ///< the last transaction id accounted for
  std::atomic<bool> writing_{false};
};

/// What a transaction needs from its backend.
struct Shared {
  MDB_env* env = nullptr;
  Tables db;
  bool read_only = false;
  std::string audit_key;
  std::uint64_t audit_keyed_from = 0;
  Stamps* stamps = nullptr;
};

/// An LMDB failure as a Status: unavailable, with the engine's message.
Status failure(int rc, std::string_view what);
/// 0 -> ok, MDB_NOTFOUND -> not_found, anything else -> unavailable.
Status status_of(int rc, std::string_view what);
/// The audit table's key: big-endian seq.
std::string seq_key(std::uint64_t seq);

class LmdbTxn final : public WriteTxn {
 public:
  /// Over a transaction owned elsewhere (a batch's nested transaction).
  /// `touched`: where a write transaction notes the Stamps slots it writes.
  LmdbTxn(const Shared& b, MDB_txn* txn, std::vector<std::uint32_t>* touched = nullptr)
      : b_(b), txn_(txn), touched_(touched) {}
  /// Owning `owned` (a read() snapshot).
  LmdbTxn(const Shared& b, Txn owned) : b_(b), owned_(std::move(owned)), txn_(owned_.get()) {}

  MDB_txn* get() const { return txn_; }

  // ---- ReadTxn ----
  Status user(std::string_view id, domain::User& out) const override;
  Status user_by_email(std::string_view email, domain::User& out) const override;
  Status user_by_username(std::string_view username, domain::User& out) const override;
  Status users_by_email(std::string_view from, bool exclusive,
                        const std::function<bool(const domain::User&)>& visit) const override;
  Status session(std::string_view id, domain::Session& out) const override;
  Status sessions_of(std::string_view user_id, std::vector<domain::Session>& out) const override;
  Status refresh(std::string_view token_hash, domain::RefreshRef& out) const override;
  Status api_key(std::string_view secret_hash, domain::ApiKey& out) const override;
  Status api_keys_of(std::string_view user_id,
                     std::vector<std::pair<std::string, domain::ApiKey>>& out) const override;
  Status otp(std::string_view token_hash, domain::OneTimeToken& out) const override;
  Status avatar(std::string_view user_id, domain::Avatar& out) const override;
  Status key(std::string_view kid, domain::SigningKey& out) const override;
  Status meta(std::string_view name, std::string& out) const override;
  Status audit_after(std::uint64_t after, const std::function<bool(const AuditRecord&)>& visit) const override;
  Status audit_head(std::uint64_t& seq, std::string& hash) const override;

  // ---- WriteTxn ----
  Status insert_user(const domain::User& u) override;
  Status update_user(const domain::User& u) override;
  Status put_session(const domain::Session& s) override;
  Status delete_session(const domain::Session& s) override;
  Status put_refresh(std::string_view token_hash, const domain::RefreshRef& r) override;
  Status put_api_key(std::string_view secret_hash, const domain::ApiKey& k) override;
  Status put_otp(std::string_view token_hash, const domain::OneTimeToken& o) override;
  Status issue_otp(std::string_view token_hash, const domain::OneTimeToken& o, int max_live, std::int64_t now,
                   bool& issued) override;
  Status retire_otps(std::string_view user_id, std::string_view purpose) override;
  Status put_avatar(std::string_view user_id, const domain::Avatar& a) override;
  Status put_key(const domain::SigningKey& k) override;
  Status delete_key(std::string_view kid) override;
  Status put_meta(std::string_view name, std::string_view value) override;
  Status append_audit(const std::string& canonical, AuditRecord* out = nullptr) override;
  Status prune(PruneTable table, std::string& cursor, std::size_t limit, const domain::PruneRules& rules,
               std::size_t& deleted) override;

  /// Schema 1 -> 2 (Backend::migrate).
  Status rekey_emails(const Backend::EmailNormalizer& normalize, std::vector<std::string>* notes);

 private:
  /// Raw bytes of `key` in `dbi`: ok / not_found / unavailable.
  Status raw(MDB_dbi dbi, std::string_view key, std::string_view& out, const char* table) const;
  template <class Record>
  Status record(MDB_dbi dbi, std::string_view key, Record& out, const char* table) const;
  Status put(MDB_dbi dbi, std::string_view key, std::string_view value, const char* table);
  Status del(MDB_dbi dbi, std::string_view key, const char* table);
  /// The user record and its index entries, written as they are.
  Status write_user(const domain::User& u);
  /// The (table, key) entries of a session: the record, its per-user index
  /// entry and its current refresh token (shared by prune and delete_session).
  void session_entries(const domain::Session& s, std::vector<std::pair<MDB_dbi, std::string>>& out) const;

  /// Notes `key` of `dbi` for the Stamps when it is a user or a session.
  void touch(MDB_dbi dbi, std::string_view key);

  const Shared& b_;
  Txn owned_;
  MDB_txn* txn_ = nullptr;
  std::vector<std::uint32_t>* touched_ = nullptr;
};

}  // namespace gh::store::lmdb
