#include "domain/flows/links.hpp"

#include "domain/base64url.hpp"
#include "domain/pkce.hpp"

#include <limits>

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

const char* link_kind(const std::string& purpose) {
  return purpose == "magic" ? "magic_link" : purpose == "verify" ? "verify_email" : "reset_password";
}

const char* link_path(const std::string& purpose) {
  return purpose == "magic" ? "/auth/magic-link" : purpose == "verify" ? "/auth/verify-email" : "/auth/password/reset";
}

const char* link_sent_event(const std::string& purpose) {
  return purpose == "magic" ? "magic_link_sent" : purpose == "verify" ? "verification_sent" : "reset_link_sent";
}

std::int64_t link_ttl(const LinkPolicy& p, const std::string& purpose) {
  return purpose == "magic" ? p.magic_ttl_s : purpose == "verify" ? p.verify_ttl_s : p.reset_ttl_s;
}

NewLink new_link(const LinkPolicy& p, const std::string& purpose, const std::string& user_id, std::int64_t now,
                 const std::string& redirect_to, const std::string& code_challenge) {
  NewLink l;
  l.token = domain::b64url_encode(domain::random_bytes(32));
  l.hash = domain::blake2b256(l.token);
  bool magic = purpose == "magic";
  l.record = domain::OneTimeToken{purpose, user_id, now + link_ttl(p, purpose), false, magic ? redirect_to : "",
                                  magic ? code_challenge : ""};
  return l;
}

Outcome issue_link(store::WriteTxn& t, const NewLink& link, const LinkPolicy& p, std::int64_t now, bool& issued) {
  issued = false;
  return check(t.issue_otp(link.hash, link.record, p.max_live, now, issued));
}

Outcome redeem(store::WriteTxn& t, const std::string& hash, const std::string& purpose, std::int64_t now,
               domain::User& user, const std::string& verifier) {
  if (auto f = consume_token(t, hash, purpose, now, user, verifier)) return f;
  user.email_verified = true;
  user.updated_at = now;
  return check(t.update_user(user));
}

Outcome redeem_for(store::WriteTxn& t, const std::string& hash, const std::string& purpose,
                   const std::string& expected_user_id, std::int64_t now, domain::User& user,
                   const std::string& verifier) {
  if (auto f = redeem(t, hash, purpose, now, user, verifier)) return f;
  return user.id == expected_user_id ? done() : refused();
}

Outcome redeem_with_code(store::WriteTxn& t, const std::string& hash, const std::string& code,
                         const std::string& challenge, std::int64_t now, domain::User& user) {
  if (auto f = redeem(t, hash, "magic", now, user)) return f;
  domain::OneTimeToken c{"code", user.id, now + kMagicCodeTtlS, false, "", challenge};
  bool issued = false;
  return check(t.issue_otp(domain::blake2b256(code), c, std::numeric_limits<int>::max(), now, issued));
}

}  // namespace gh::flows
