// Inside the PostgreSQL engine (not for code above store/): the transaction
// class implementing the contract's WriteTxn over one leased connection
// inside BEGIN … COMMIT. A read-only transaction serves as a ReadTxn.
#pragma once

#include "store/change_stamps.hpp"
#include "store/postgres/conn.hpp"
#include "store/store.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gh::store::postgres {

/// What a transaction needs from its backend.
struct Shared {
  std::shared_ptr<Pool> pool;
  /// This instance's change stamps: a commit grows the slots of the users
  /// and sessions it wrote before it returns (other instances learn of it
  /// through the listener).
  ChangeStamps* stamps = nullptr;
  std::string audit_key;
  std::uint64_t audit_keyed_from = 0;
};

/// Advisory lock keys (pg_advisory_xact_lock): every write transaction
/// takes kWriterLock; migrate() takes kMigrateLock, then kWriterLock.
constexpr std::int64_t kWriterLock = 0x6768'7772'6974'6572;   // "ghwriter"
constexpr std::int64_t kMigrateLock = 0x6768'6d69'6772'7465;  // "ghmigrte"

class PgTxn final : public WriteTxn {
 public:
  PgTxn(const Shared& b, Lease conn) : b_(b), conn_(std::move(conn)) {}
  /// Ends the transaction: ROLLBACK unless commit() ran.
  ~PgTxn() override;

  /// BEGIN as a snapshot reader or as a writer (taking the writer lock).
  Status begin_read();
  Status begin_write();
  /// COMMIT; unavailable when a statement in it failed (the server rolled
  /// it back) or the commit did.
  Status commit();
  /// A statement failed: the server has aborted the transaction (until a
  /// savepoint rollback, rollback_to()).
  bool failed() const { return failed_; }
  Status savepoint();
  Status release_savepoint();
  Status rollback_to();
  Conn& conn() const { return *conn_; }

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

  /// Schema 1 -> 2 (Backend::migrate): re-keys emails whose normal form changed.
  Status rekey_emails(const Backend::EmailNormalizer& normalize, std::vector<std::string>* notes);

 private:
  /// Runs a statement of this transaction; a failure marks it failed.
  Status run(const Stmt& s, const Params& p, Result& out, std::string_view what) const;
  /// The one row of a lookup: not_found without one, corrupt when `decode` fails.
  template <class Decode>
  Status one(const Stmt& s, const Params& p, std::string_view what, Decode&& decode) const;

  /// Notes a user or session id written, for the stamps at commit.
  void touch(std::string_view id) { touched_.push_back(ChangeStamps::slot_of(id)); }

  const Shared& b_;
  Lease conn_;
  std::vector<std::uint32_t> touched_;
  mutable bool failed_ = false;
  bool open_ = false;
};

/// Row decoders shared with the backend (principal()).
bool decode_user(Row& r, domain::User& u);
bool decode_session(Row& r, domain::Session& s);
/// The column lists those decoders read, in order.
extern const char* const kUserColumns;
extern const char* const kSessionColumns;

}  // namespace gh::store::postgres
