#include "http/auth_check.hpp"

#include "domain/ascii.hpp"
#include "domain/base64url.hpp"
#include "domain/cidr.hpp"
#include "domain/clock.hpp"
#include "domain/flows/outcome.hpp"

#include <algorithm>

namespace gh::http {
namespace {

Failure denied(std::string why) { return {Errc::invalid_token, std::move(why)}; }
Failure unavailable(const store::Status& st) { return flows::store_failure(st); }

}  // namespace

std::optional<std::string_view> bearer_token(std::string_view authorization, std::string& why) {
  if (authorization.empty()) {
    why = "a bearer token is required";
    return std::nullopt;
  }
  if (!domain::ascii_istarts_with(authorization, "Bearer ")) {
    why = "the Authorization header must be 'Bearer <token>'";
    return std::nullopt;
  }
  auto token = authorization.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

AuthCheck::AuthCheck(const config::Config& cfg, store::Backend& db, Services& services)
    : db_(db),
      services_(services),
      opts_{cfg.tokens.issuer, cfg.tokens.audience, cfg.tokens.leeway_s},
      cache_(cfg.tokens.verify_cache_entries),
      principals_(cfg.tokens.principal_cache_entries) {}

Expected<Principal> AuthCheck::check(std::string_view authorization) {
  std::string why;
  auto bearer = bearer_token(authorization, why);
  if (!bearer) return denied(why);
  auto token = *bearer;

  domain::AccessClaims claims;
  if (auto hit = cache_.find(token)) {
    claims = std::move(*hit);
  } else {
    auto ring = services_.keys();
    auto err = domain::verify_signature(token, *ring, claims);
    if (err != domain::JwtError::ok) return denied(domain::describe(err));
    cache_.insert(token, claims);
  }
  auto now = now_s();
  if (auto err = domain::check_claims(claims, opts_, now); err != domain::JwtError::ok)
    return denied(domain::describe(err));

  // The session and its user: from the cache while their stamp holds, else
  // one read of the contract (a store failure is 503, never "the session
  // has ended"). The stamp is taken before the read.
  auto stamp = db_.change_stamp(claims.sid, claims.sub);
  std::optional<Cached> c;
  if (stamp != 0) {
    c = principals_.find(claims.sid);
    if (c && c->stamp != stamp) c.reset();
  }
  if (!c) {
    store::Principal p;
    auto st = db_.principal(claims.sid, p);
    if (st.failed()) return unavailable(st);
    if (!st.ok()) return denied("the session has ended");
    c = Cached{stamp, p.session.user_id, p.session.expires_at, p.session.revoked,
               std::make_shared<const Account>(Account{std::move(p.user), nullptr})};
    if (stamp != 0) principals_.insert(claims.sid, *c);
  }
  if (c->revoked || c->expires_at <= now || c->user_id != claims.sub || !c->account->user.active)
    return denied("the session has ended");
  return Principal{std::move(c->account), std::move(claims.sid), {}, {}};
}

Expected<Principal> AuthCheck::check_api_key(std::string_view key, std::string_view ip) {
  if (key.empty() || key.size() > 128) return denied("the API key is invalid");
  store::Status st;
  auto t = db_.read(st);
  if (!t) return unavailable(st);
  domain::ApiKey k;
  st = t->api_key(domain::blake2b256(key), k);
  if (st.failed()) return unavailable(st);
  if (!st.ok() || k.revoked || (k.expires_at != 0 && k.expires_at <= now_s()))
    return denied("the API key is invalid, revoked or expired");
  if (!k.allowed_ips.empty() &&
      std::none_of(k.allowed_ips.begin(), k.allowed_ips.end(), [&](const std::string& c) {
        auto cidr = domain::Cidr::parse(c);
        return cidr && cidr->contains(ip);
      }))
    return Failure{Errc::forbidden, "this API key may not be used from this address"};
  domain::User user;
  st = t->user(k.user_id, user);
  if (st.failed()) return unavailable(st);
  if (!st.ok() || !user.active) return denied("the API key is invalid, revoked or expired");
  return Principal{std::make_shared<const Account>(Account{std::move(user), nullptr}), {}, k.id, k.scopes};
}

}  // namespace gh::http
