// The link flow: one-time tokens for magic sign-in, email verification and
// password reset, and the short-lived code a magic link with a redirect hands
// to the application (PKCE-bound, domain/pkce.hpp).
#pragma once

#include "domain/flows/outcome.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace gh::flows {

// ---- issuing a link ----

/// How long each purpose's link lives, and how many live ones of a purpose
/// an account may hold (auth.* of the configuration).
struct LinkPolicy {
  std::int64_t magic_ttl_s = 900, verify_ttl_s = 86400, reset_ttl_s = 3600;
  int max_live = 3;
};

/// The notification kind of a purpose's mail (magic_link, verify_email,
/// reset_password), the path of its page, and its audit event once sent.
const char* link_kind(const std::string& purpose);
const char* link_path(const std::string& purpose);
const char* link_sent_event(const std::string& purpose);
std::int64_t link_ttl(const LinkPolicy& p, const std::string& purpose);

/// Does an account (found or not) get the link it asked for? Only an active
/// one; the answer is the same either way.
inline bool link_recipient(const std::optional<domain::User>& u) { return u && u->active; }

/// A new link of `purpose` for `user_id` (no store access): the token for
/// the mail, its hash, and the record. A magic link's redirect and the
/// application's PKCE challenge are bound to the record, never carried in
/// the link; other purposes bind neither.
struct NewLink {
  std::string token, hash;
  domain::OneTimeToken record;
};
NewLink new_link(const LinkPolicy& p, const std::string& purpose, const std::string& user_id, std::int64_t now,
                 const std::string& redirect_to = std::string(), const std::string& code_challenge = std::string());

/// Stores `link` unless its user already has max_live live links of its
/// purpose (earlier ones stay valid): `issued` says which.
Outcome issue_link(store::WriteTxn& t, const NewLink& link, const LinkPolicy& p, std::int64_t now, bool& issued);

// ---- redeeming ----

/// How long the code of a magic link with a redirect lives: the browser
/// lands on the application, whose backend exchanges it at once.
constexpr std::int64_t kMagicCodeTtlS = 60;

/// Consumes a token of `purpose` (consume_token) and marks its owner's email
/// verified (the link reached it); `user` gets the owner as stored.
Outcome redeem(store::WriteTxn& t, const std::string& hash, const std::string& purpose, std::int64_t now,
               domain::User& user, const std::string& verifier = std::string());

/// redeem(), and the token must still name `expected_user_id` (the one the
/// caller read before, to open its session in the same commit).
Outcome redeem_for(store::WriteTxn& t, const std::string& hash, const std::string& purpose,
                   const std::string& expected_user_id, std::int64_t now, domain::User& user,
                   const std::string& verifier = std::string());

/// A magic link with a bound redirect: redeems it and, in the same commit,
/// issues the code (uncapped: each comes from a link used in this commit)
/// carrying the link's PKCE `challenge`. `code` is the code's plain value.
Outcome redeem_with_code(store::WriteTxn& t, const std::string& hash, const std::string& code,
                         const std::string& challenge, std::int64_t now, domain::User& user);

/// Consumes a one-time token of `purpose` (by its hash): it must be usable
/// (domain::otp_usable) and, for a code, proven by the PKCE `verifier` of its
/// challenge. Every refusal is the same invalid_grant and, the transaction
/// being rolled back, uses nothing: a wrong verifier leaves the code to its
/// owner. Using a link retires the user's other live links of its purpose; a
/// code retires nothing (another app or tab may hold one). `user` gets the
/// token's owner.
Outcome consume_token(store::WriteTxn& t, const std::string& hash, const std::string& purpose, std::int64_t now,
                      domain::User& user, const std::string& verifier = std::string());

/// A token of `purpose` and its owner, as the redeeming actor first reads
/// them (not consumed): invalid_grant when either is missing.
Outcome peek_token(const store::ReadTxn& t, const std::string& hash, domain::OneTimeToken& token,
                   domain::User& owner);

}  // namespace gh::flows
