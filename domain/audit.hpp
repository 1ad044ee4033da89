// Audit events and the hash chain that makes the audit log tamper-evident.
//
// STABLE FORMAT: an event's canonical bytes are its JSON with sorted keys and
// no spaces (nlohmann's dump()). Record n stores
//   hash_n = BLAKE2b-256(key = K; hash_{n-1} || canonical_n),   hash_0 = 32 zero bytes,
// a keyed MAC under the audit key K, which lives in a file outside the store
// (audit.key_file), so editing, inserting or deleting any record breaks every
// later link and cannot be hidden by recomputing the links without K.
// Records written before a store was keyed (n < keyed_from) are linked with
// the unkeyed BLAKE2b-256(hash_{n-1} || canonical_n); record keyed_from links
// to them and so commits to all of them. keyed_from is kept in the key file.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace gh::domain {

/// A committed record as one JSON line: the event with its "seq" and its
/// "hash" (hex), as the sinks, the live stream and `gatehouse audit` show it.
std::string audit_line(const std::string& canonical, std::uint64_t seq, const std::string& hash);

/// The audit chain link: BLAKE2b-256(prev || canonical), keyed with `key`
/// (a MAC) when it is not empty. STABLE: see the format above.
std::string audit_chain_hash(const std::string& prev, const std::string& canonical,
                             const std::string& key = std::string());

/// One auth event. `type` is one of: register, login_succeeded, login_failed
/// (details.reason: wrong_password | unknown_user | throttled | inactive),
/// refresh, refresh_reuse_detected, logout, session_revoked,
/// password_changed, password_reset, magic_link_sent, magic_link_used,
/// reset_link_sent, verification_sent, email_verified, user_created,
/// user_updated, role_changed, user_deactivated, user_reactivated,
/// api_token_created, api_token_revoked, rate_limited, signing_key_rotated
/// (the CLI's `keys rotate`), audit_keyed (the first keyed record of a store
/// that had unkeyed records; details.unkeyed_records). The operator CLI
/// writes user_created, role_changed, user_deactivated, signing_key_rotated
/// with actor_user_id "cli:<unix user>".
struct AuditEvent {
  std::string type;
  std::int64_t time = 0;
  std::string request_id, trace_id;
  std::string actor_user_id;    ///< who did it (empty: anonymous)
  std::string subject_user_id;  ///< whom it concerns
  std::string ip, user_agent;
  nlohmann::json details = nlohmann::json::object();

  std::string canonical() const;
  nlohmann::json to_json() const;
};

/// A stored record, as read back.
struct AuditRecord {
  std::uint64_t seq = 0;
  std::string prev, hash;  ///< 32 bytes each
  std::string canonical;
};

/// Walks records in order; the first record that does not continue the chain
/// (wrong seq, wrong prev, wrong hash or MAC) makes `feed` return false and
/// sets `problem`. `finish` checks the last record against the stored head.
class ChainVerifier {
 public:
  /// Unkeyed: every record is checked with the plain hash.
  ChainVerifier() = default;
  /// Records from `keyed_from` on are checked with the MAC under `key`.
  ChainVerifier(std::string key, std::uint64_t keyed_from) : key_(std::move(key)), keyed_from_(keyed_from) {}
  /// Starts after record `seq` whose hash is `hash` (a tail check), instead
  /// of at the beginning.
  void start_after(std::uint64_t seq, std::string hash) {
    seq_ = seq;
    hash_ = std::move(hash);
  }
  bool feed(const AuditRecord& r, std::string& problem);
  bool finish(std::uint64_t head_seq, const std::string& head_hash, std::string& problem) const;
  std::uint64_t count() const { return seq_; }

 private:
  std::string key_;
  std::uint64_t keyed_from_ = UINT64_MAX;
  std::uint64_t seq_ = 0;
  std::string hash_ = std::string(32, '\0');
};

}  // namespace gh::domain
