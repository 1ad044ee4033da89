// Spawn functions of the actors. Each actor is a thin owner of its state and
// messages; the rules they apply live in domain/ and store/.
#pragma once

#include "actors/messages.hpp"
#include "domain/backoff.hpp"
#include "domain/keyring.hpp"
#include "domain/password.hpp"

#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <memory>

namespace gh {

/// Counters of the writer, readable from any thread (tests, metrics).
struct WriterStats {
  std::atomic<std::uint64_t> commits{0};  ///< synced transactions committed
  std::atomic<std::uint64_t> writes{0};   ///< ops acknowledged
  std::atomic<std::uint64_t> failed_commits{0};
};

/// The single store writer (detached: it blocks in fsync). Groups every write
/// that arrives while it commits into the next transaction, and answers each
/// only after the commit that contains it succeeded.
writer_actor spawn_writer(caf::actor_system& sys, store::Backend& store, int max_batch,
                          std::shared_ptr<WriterStats> stats = nullptr);

/// A pool of `workers` detached Argon2id workers behind a queue of at most
/// `queue_limit` jobs; beyond it, jobs fail at once with Errc::overloaded.
/// The workers' threads run at niceness `nice` (see config [hashing] nice);
/// jobs that waited longer than `max_wait` fail with Errc::overloaded.
hasher_actor spawn_hasher(caf::actor_system& sys, domain::HashParams params, int workers,
                          int queue_limit, int nice = 0,
                          std::chrono::milliseconds max_wait = std::chrono::milliseconds(5000));

/// Signs access tokens with the current key of `keys`.
token_actor spawn_token(caf::actor_system& sys, const config::Tokens& cfg,
                        std::shared_ptr<domain::KeyRingHolder> keys);

/// The audit actor's handle: publish() never blocks and never fails the caller.
struct Auditor {
  audit_actor actor;
  /// Stamps the time (if unset) and hands the event to the audit actor.
  void publish(domain::AuditEvent e) const;
};

/// An event with the request's context filled in.
domain::AuditEvent audit_event(std::string type, const ClientInfo& client, std::string actor_user_id,
                              std::string subject_user_id,
                              nlohmann::json details = nlohmann::json::object());

/// The audit actor over the writer. `lost` counts events that could not be
/// kept (a backlog beyond `limit`); it stays 0 in normal operation.
/// Committed records are also handed to the sinks configured in [audit].
Auditor spawn_auditor(caf::actor_system& sys, store::Backend& store, writer_actor writer, std::size_t limit,
                      std::shared_ptr<std::atomic<std::uint64_t>> lost, const config::AuditSinks& sinks,
                      std::shared_ptr<AuditFeed> feed);

/// Sessions and refresh-token families (create, rotate, revoke, list), and
/// API tokens; `limits` caps both per user.
session_actor spawn_session(caf::actor_system& sys, const config::Tokens& cfg, const config::Limits& limits,
                            store::Backend& store, writer_actor writer, token_actor tokens,
                            std::string rotation_secret, Auditor audit);

/// The background prune ([limits] prune_*): every interval, walks the
/// session, refresh, API-token and one-time-token tables through the writer
/// in steps of `prune_batch` records (one writer op each, so other writes
/// interleave) and deletes the dead ones (domain/retention.hpp). Each
/// pass also checks the store fill and logs a warning when it passes
/// store.warn_fill_percent.
janitor_actor spawn_janitor(caf::actor_system& sys, store::Backend& store, writer_actor writer,
                            const config::Limits& limits, int warn_fill_percent);

/// Re-reads the signing keys every `reload_s` seconds (and at the time a
/// rotated key starts signing) on a thread of its own, and publishes the
/// ring in `keys`: `gatehouse keys rotate` reaches every running instance
/// without a restart (actors/keystore.hpp).
key_watch_actor spawn_key_watch(caf::actor_system& sys, store::Backend& db, std::shared_ptr<domain::KeyRingHolder> keys,
                                int reload_s);

/// The rate-limit actor for the limits several instances share: takes the
/// store's shared buckets (store::SharedBuckets) on a thread of its own.
limiter_actor spawn_limiter(caf::actor_system& sys, store::SharedBuckets& buckets);

/// The notifier actor and the bound in front of it.
struct Notifier {
  notifier_actor actor;
  std::shared_ptr<std::atomic<int>> backlog;  ///< accepted, not yet delivered or given up
  int limit = 0;
  /// Hands `n` over for delivery, or drops it (logged) when the backlog is full.
  void send(domain::Notification n) const;
};

/// The notifier with the configured driver; empty with `why` if the driver
/// cannot be set up (missing templates). A delivery that fails for good is
/// audited as notification_failed.
Notifier spawn_notifier(caf::actor_system& sys, const config::Config& cfg, Auditor audit, std::string& why);

/// What the user actor needs besides its peers.
struct AccountOptions {
  domain::Backoff backoff;
  config::Auth auth;
  std::string public_url;
  Auditor audit;
};

/// Users: registration, password login, profile and account management.
user_actor spawn_user(caf::actor_system& sys, store::Backend& store, writer_actor writer,
                      hasher_actor hasher, session_actor sessions, std::string dummy_phc,
                      std::shared_ptr<const domain::Roles> roles, AccountOptions options,
                      Notifier notifier);

}  // namespace gh
