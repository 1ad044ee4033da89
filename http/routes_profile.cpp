// The caller's own account beyond login: profile, public profiles, avatar
// and personal API tokens. Reads run on the HTTP thread in a short store read
// transaction; every change goes through an actor.
#include "domain/base64url.hpp"
#include "domain/cidr.hpp"
#include "domain/clock.hpp"
#include "domain/image.hpp"
#include "http/context.hpp"
#include "http/routes.hpp"

#include <memory>

namespace gh::http {
namespace {

using Pistache::Http::Method;
using nlohmann::json;

ActingUser acting(const Ctx& c) { return {c.who->user().id, c.who->user().role, c.client}; }

void answer_user(const std::shared_ptr<Responder>& res, Expected<domain::User>& r) {
  if (!r.ok()) return res->failure(r.failure());
  res->json_text(200, user_json_text(r.value()));
}

// Rendered once per Account: the principal cache shares it between checks.
void get_me(Ctx& c) {
  const auto& account = *c.who->account;
  auto json = std::atomic_load(&account.me_json);
  if (!json) {
    json = std::make_shared<const std::string>(user_json_text(account.user));
    std::atomic_store(&account.me_json, json);
  }
  c.res->json_text(200, *json);
}

// Only profile fields: role, email, email_verified, ids and timestamps are
// unknown fields here, so they are refused (400) and never reach the store.
void patch_me(Ctx& c) {
  auto body = c.json_body({"full_name", "username", "onboarding", "data"});
  if (!body) return;
  UserPatch patch;
  if (!read_profile(c, *body, patch)) return;
  c.app.services.update_user(acting(c), c.who->user().id, std::move(patch),
                             [res = c.res](Expected<domain::User> r) { answer_user(res, r); });
}

void public_profile(Ctx& c) {
  auto t = c.read_txn();
  if (!t) return;
  domain::User user;
  auto st = t->user_by_username(c.params.at(0), user);
  if (st.ok() && !user.active) st = store::Status::NotFound();
  if (!c.read_ok(st, "no such user")) return;
  c.res->json(200, public_user_json(user));
}

void put_avatar(Ctx& c) {
  const auto& bytes = c.req.body();
  if (bytes.size() > c.app.cfg.avatars.max_bytes)
    return c.res->error(413, "payload_too_large",
                        "avatars are at most " + std::to_string(c.app.cfg.avatars.max_bytes) + " bytes");
  // The type from the magic bytes (the client's Content-Type is ignored),
  // then only the parts that render the image are kept (domain/image.hpp).
  auto type = domain::image_type(bytes);
  if (type.empty())
    return c.res->error(415, "unsupported_media_type", "an avatar must be a PNG, JPEG or WebP image");
  std::string why;
  auto image = domain::strip_image(bytes, type, why);
  if (!image) return c.res->error(400, "invalid_request", "the avatar is not a well-formed image (" + why + ")");
  auto now = now_s();
  auto url = c.app.cfg.tokens.issuer + "/avatars/" + c.who->user().id + "?v=" + std::to_string(now);
  c.app.services.put_avatar(c.who->user().id, domain::Avatar{type, std::move(*image), now}, url,
                            [res = c.res](Expected<domain::User> r) { answer_user(res, r); });
}

// How long a shared cache may keep an avatar (Cache-Control: public, max-age).
constexpr int kAvatarMaxAgeS = 300;

void get_avatar(Ctx& c) {
  auto t = c.read_txn();
  if (!t) return;
  domain::User user;
  std::optional<domain::Avatar> avatar(std::in_place);
  auto st = t->user(c.params.at(0), user);
  if (st.ok()) st = user.active ? t->avatar(user.id, *avatar) : store::Status::NotFound();
  if (!c.read_ok(st, "no avatar")) return;
  // Served through the same strip as an upload: avatars stored before the
  // strip existed (or written around it) go out as their image only, and
  // one that no longer parses is not served at all.
  std::string why;
  auto image = domain::image_type(avatar->bytes) == avatar->content_type
                   ? domain::strip_image(avatar->bytes, avatar->content_type, why)
                   : std::nullopt;
  if (!image) return c.res->error(404, "not_found", "no avatar");
  // Never a document: no script, no plugin, no sniffing, offered as a file
  // named by its type. Shared caches keep it kAvatarMaxAgeS at most, so a
  // deactivated user's avatar (404 here at once) leaves them within minutes;
  // the URL carries a version (?v=), so a new upload is seen at once.
  Extra extra;
  extra.content_security_policy = "sandbox; default-src 'none'";
  extra.content_disposition = "inline; filename=\"avatar." + domain::image_extension(avatar->content_type) + "\"";
  c.res->raw(200, *image, avatar->content_type, kAvatarMaxAgeS, extra);
}

json key_json(const domain::ApiKey& k) {
  return {{"id", k.id},
          {"name", k.name},
          {"scopes", k.scopes},
          {"allowed_ips", k.allowed_ips},
          {"created_at", rfc3339(k.created_at)},
          {"expires_at", k.expires_at ? json(rfc3339(k.expires_at)) : json()}};
}

// Reads a list of strings; answers 400 and returns false otherwise.
bool string_list(Ctx& c, const json& body, const char* key, std::vector<std::string>& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return true;
  if (!it->is_array() || it->size() > 32) {
    c.res->error(400, "invalid_request", std::string("'") + key + "' must be a list of at most 32 strings");
    return false;
  }
  for (auto& e : *it) {
    if (!e.is_string()) {
      c.res->error(400, "invalid_request", std::string("'") + key + "' must be a list of strings");
      return false;
    }
    out.push_back(e.get<std::string>());
  }
  return true;
}

void create_api_token(Ctx& c) {
  auto body = c.json_body({"name", "scopes", "expires_in", "allowed_ips"});
  if (!body) return;
  ApiKeyRequest req;
  if (!get_string(c, *body, "name", req.name, true) || !string_list(c, *body, "scopes", req.scopes) ||
      !string_list(c, *body, "allowed_ips", req.allowed_ips))
    return;
  if (req.name.empty() || req.name.size() > 100)
    return c.res->error(400, "invalid_request", "'name' must be 1-100 bytes");
  for (auto& s : req.scopes)
    if (!c.app.roles->has(c.who->user().role, s))
      return c.res->error(400, "invalid_request", "scope '" + s.substr(0, 64) + "' is not granted to your role");
  for (auto& ip : req.allowed_ips)
    if (!domain::Cidr::parse(ip))
      return c.res->error(400, "invalid_request", "'" + ip.substr(0, 64) + "' is not an IP address or CIDR");
  if (auto it = body->find("expires_in"); it != body->end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 60 || it->get<std::int64_t>() > 10ll * 365 * 86400)
      return c.res->error(400, "invalid_request", "'expires_in' must be seconds between 60 and 10 years");
    req.expires_in_s = it->get<std::int64_t>();
  }
  c.app.services.create_api_key(c.who->user().id, std::move(req), c.client, [res = c.res](Expected<NewApiKey> r) {
    if (!r.ok()) return res->failure(r.failure());
    auto j = key_json(r.value().key);
    j["token"] = r.value().secret;
    res->json(201, j);
  });
}

void list_api_tokens(Ctx& c) {
  auto t = c.read_txn();
  if (!t) return;
  std::vector<std::pair<std::string, domain::ApiKey>> keys;
  if (!c.read_ok(t->api_keys_of(c.who->user().id, keys))) return;
  auto list = json::array();
  for (auto& [hash, k] : keys)
    if (!k.revoked) list.push_back(key_json(k));
  c.res->json(200, {{"api_tokens", list}});
}

void revoke_api_token(Ctx& c) {
  c.app.services.revoke_api_key(c.who->user().id, c.params.at(0), c.client, [res = c.res](Expected<int> r) {
    if (!r.ok()) return res->failure(r.failure());
    res->empty(204);
  });
}

}  // namespace

void install_profile_routes(Router& r) {
  r.add(Method::Get, "/auth/me", Access::signed_in(), get_me);
  r.add(Method::Patch, "/auth/me", Access::signed_in(), patch_me);
  r.add(Method::Put, "/auth/me/avatar", Access::signed_in(), put_avatar);
  r.add(Method::Get, "/avatars/{user_id}", Access::anyone(), get_avatar);
  r.add(Method::Get, "/users/{username}", Access::anyone(), public_profile);
  // Minting and managing keys needs a real session, never another key.
  r.add(Method::Post, "/auth/api-tokens", Access::bearer_session(), create_api_token);
  r.add(Method::Get, "/auth/api-tokens", Access::bearer_session(), list_api_tokens);
  r.add(Method::Delete, "/auth/api-tokens/{id}", Access::bearer_session(), revoke_api_token);
}

}  // namespace gh::http
