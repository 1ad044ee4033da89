// The actors' typed interfaces and their messages (CAF 0.17). Only actor
// implementation files include this; the HTTP layer talks to actors/api.hpp.
//
// Every message type here is process-local (never serialised), so they are
// whitelisted with CAF_ALLOW_UNSAFE_MESSAGE_TYPE instead of given inspect().
#pragma once

#include "actors/api.hpp"
#include "domain/flows/outcome.hpp"
#include "domain/audit.hpp"
#include "domain/clock.hpp"
#include "domain/jwt.hpp"
#include "domain/mail.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <functional>

namespace gh {

using write_atom = caf::atom_constant<caf::atom("write")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using hash_atom = caf::atom_constant<caf::atom("hash")>;
using issue_atom = caf::atom_constant<caf::atom("issue")>;
using create_atom = caf::atom_constant<caf::atom("create")>;
using refresh_atom = caf::atom_constant<caf::atom("refresh")>;
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using login_atom = caf::atom_constant<caf::atom("login")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using active_atom = caf::atom_constant<caf::atom("active")>;
using avatar_atom = caf::atom_constant<caf::atom("avatar")>;
using newkey_atom = caf::atom_constant<caf::atom("newkey")>;
using delkey_atom = caf::atom_constant<caf::atom("delkey")>;
using notify_atom = caf::atom_constant<caf::atom("notify")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using link_atom = caf::atom_constant<caf::atom("link")>;
using redeem_atom = caf::atom_constant<caf::atom("redeem")>;
using reset_atom = caf::atom_constant<caf::atom("reset")>;
using passwd_atom = caf::atom_constant<caf::atom("passwd")>;
using audit_atom = caf::atom_constant<caf::atom("audit")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using take_atom = caf::atom_constant<caf::atom("take")>;

/// Error category of gh::Errc inside CAF errors.
constexpr caf::atom_value kErrCategory = caf::atom("gatehouse");

inline caf::error make_error(Errc code, std::string description) {
  return caf::error(static_cast<std::uint8_t>(code), kErrCategory,
                    caf::make_message(std::move(description)));
}

/// The Failure a CAF error stands for (errors from CAF itself are internal).
Failure to_failure(const caf::error& e);

inline caf::error to_error(const Failure& f) { return make_error(f.code, f.description); }
/// A flow's outcome as the actor's answer (none when it is done).
inline caf::error to_error(const flows::Outcome& o) { return o ? to_error(*o) : caf::error{}; }
/// None for ok, else the answer to the Status (flows::store_failure).
inline caf::error store_error_if(const store::Status& st);
/// A store Status that is not ok as the answer (flows::store_failure).
inline caf::error store_error(const store::Status& st, const char* missing = "not found") {
  return to_error(flows::store_failure(st, missing));
}
inline caf::error store_error_if(const store::Status& st) { return st.ok() ? caf::error{} : store_error(st); }

/// One unit of work for the writer: runs inside the batch's write
/// transaction (in a nested transaction of its own). Returning an error rolls
/// back this op only; the caller gets that error. Runs on the writer thread:
/// it may capture shared state to hand results back, never references to
/// the caller's stack.
struct WriteOp {
  std::function<caf::error(store::WriteTxn&)> fn;
};

/// Group-committing writer: replies `true` once the op's batch is durable.
using writer_actor = caf::typed_actor<caf::replies_to<write_atom, WriteOp>::with<bool>,
                                      caf::reacts_to<flush_atom>,
                                      caf::replies_to<ping_atom>::with<bool>>;

/// Hash a new password, or verify one (and rehash it if its parameters are old).
struct HashJob {
  bool verify = false;
  std::string password;
  std::string phc;  ///< the stored hash, for verify
};
struct HashResult {
  bool ok = false;     ///< verify: matched; hash: succeeded
  std::string phc;     ///< hash: the new hash; verify: a rehash, or empty
};
using hasher_actor = caf::typed_actor<caf::replies_to<hash_atom, HashJob>::with<HashResult>>;

/// Signs access tokens: (user id, role, session id) -> JWT.
using token_actor =
    caf::typed_actor<caf::replies_to<issue_atom, std::string, std::string, std::string>::with<std::string>>;

using session_actor = caf::typed_actor<
    caf::replies_to<create_atom, domain::User, ClientInfo, WriteOp>::with<TokenPair>,
    caf::replies_to<refresh_atom, std::string, ClientInfo>::with<TokenPair>,
    caf::replies_to<revoke_atom, std::string, std::string, bool, bool, domain::RevokeReason, ClientInfo>::with<int>,
    caf::replies_to<list_atom, std::string>::with<std::vector<domain::Session>>,
    caf::replies_to<newkey_atom, std::string, ApiKeyRequest, ClientInfo>::with<NewApiKey>,
    caf::replies_to<delkey_atom, std::string, std::string, ClientInfo>::with<int>>;

/// Delivers notifications through the configured driver, retrying with
/// back-off; fire and forget.
using notifier_actor = caf::typed_actor<caf::reacts_to<notify_atom, domain::Notification>,
                                        caf::reacts_to<retry_atom, domain::Notification, int>>;

/// Audit records just committed, as JSON lines ({seq, hash, …event}), for the sinks.
struct AuditBatch {
  std::vector<std::string> lines;
};

/// Copies committed audit records to the optional sinks (file, webhook).
using audit_sink_actor = caf::typed_actor<caf::reacts_to<audit_atom, AuditBatch>>;

/// Appends audit events to the hash-chained log, in batches, through the writer.
/// ping: answered once every event received before it is in the store (the
/// graceful stop waits for it before stopping the writer).
using audit_actor = caf::typed_actor<caf::reacts_to<audit_atom, domain::AuditEvent>, caf::reacts_to<flush_atom>,
                                     caf::reacts_to<tick_atom>, caf::replies_to<ping_atom>::with<bool>>;

/// The background prune; driven by its own delayed ticks.
using janitor_actor = caf::typed_actor<caf::reacts_to<tick_atom>>;
using key_watch_actor = caf::typed_actor<caf::reacts_to<tick_atom>>;
using limiter_actor = caf::typed_actor<caf::replies_to<take_atom, std::vector<BucketTake>>::with<SharedDecision>>;

using user_actor = caf::typed_actor<caf::replies_to<register_atom, RegisterRequest>::with<AuthResult>,
                                    caf::replies_to<login_atom, LoginRequest>::with<AuthResult>,
                                    caf::replies_to<update_atom, ActingUser, std::string, UserPatch>::with<domain::User>,
                                    caf::replies_to<active_atom, ActingUser, std::string, bool>::with<domain::User>,
                                    caf::replies_to<create_atom, ActingUser, NewUser>::with<domain::User>,
                                    caf::replies_to<avatar_atom, std::string, domain::Avatar, std::string>::with<domain::User>,
                                    caf::replies_to<link_atom, LinkRequest>::with<bool>,
                                    caf::replies_to<redeem_atom, std::string, std::string, std::string, ClientInfo>::with<AuthResult>,
                                    caf::replies_to<reset_atom, std::string, std::string, ClientInfo>::with<bool>,
                                    caf::replies_to<passwd_atom, PasswordChange>::with<bool>,
                                    caf::replies_to<ping_atom>::with<bool>>;


}  // namespace gh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::WriteOp)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::HashJob)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::HashResult)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::ClientInfo)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::RegisterRequest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::LoginRequest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::TokenPair)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::AuthResult)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::domain::User)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::domain::Session)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::domain::RevokeReason)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<gh::domain::Session>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::ActingUser)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::UserPatch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::NewUser)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::ApiKeyRequest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::NewApiKey)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::domain::Avatar)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::domain::Notification)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::domain::AuditEvent)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::AuditBatch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::LinkRequest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::PasswordChange)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<gh::BucketTake>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gh::SharedDecision)
