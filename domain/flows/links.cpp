#include "domain/flows/links.hpp"

#include "domain/pkce.hpp"

namespace gh::flows {
namespace {

Failure refused() { return fail(Errc::invalid_grant, "the link is invalid or has expired"); }

}  // namespace

Outcome consume_token(store::WriteTxn& t, const std::string& hash, const std::string& purpose, std::int64_t now,
                      domain::User& user, const std::string& verifier) {
  domain::OneTimeToken otp;
  domain::User owner;
  if (auto f = peek_token(t, hash, otp, owner)) return f;
  if (!domain::otp_usable(otp, &owner, purpose, now)) return refused();
  if (purpose == "code" && !domain::pkce_matches(verifier, otp.code_challenge)) return refused();
  otp.used = true;
  if (auto f = check(t.put_otp(hash, otp))) return f;
  if (purpose != "code")
    if (auto f = check(t.retire_otps(owner.id, purpose))) return f;
  user = std::move(owner);
  return done();
}

Outcome peek_token(const store::ReadTxn& t, const std::string& hash, domain::OneTimeToken& token,
                   domain::User& owner) {
  auto st = t.otp(hash, token);
  if (st.ok()) st = t.user(token.user_id, owner);
  if (st.is_not_found()) return refused();
  return check(st);
}

}  // namespace gh::flows
