// The link flow: one-time tokens for magic sign-in, email verification and
// password reset, and the short-lived code a magic link with a redirect hands
// to the application (PKCE-bound, domain/pkce.hpp).
#pragma once

#include "domain/flows/outcome.hpp"
#include "store/store.hpp"

#include <string>

namespace gh::flows {

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
