#include "actors/actors.hpp"

#include "domain/base64url.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace gh {
namespace {

token_actor::behavior_type token_fn(token_actor::pointer, config::Tokens cfg,
                                    std::shared_ptr<domain::KeyRingHolder> keys) {
  return {
      [=](issue_atom, std::string& sub, std::string& role, std::string& sid) -> std::string {
        auto now = now_s();
        domain::AccessClaims c;
        c.iss = cfg.issuer;
        c.aud = cfg.audience;
        c.client_id = cfg.client_id;
        c.sub = std::move(sub);
        c.role = std::move(role);
        c.sid = std::move(sid);
        c.jti = domain::random_id();
        c.iat = c.nbf = now;
        c.exp = now + cfg.access_ttl_s;
        return domain::sign_access_token(c, *keys->get());
      },
  };
}

}  // namespace

token_actor spawn_token(caf::actor_system& sys, const config::Tokens& cfg,
                        std::shared_ptr<domain::KeyRingHolder> keys) {
  return sys.spawn(token_fn, cfg, std::move(keys));
}

}  // namespace gh
