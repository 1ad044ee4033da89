// The route table: every route, its method and its handler, in one place.
#pragma once

#include "http/router.hpp"

#include <memory>

namespace gh {
struct AuthResult;
namespace config {
struct Config;
}
}  // namespace gh

namespace gh::http {

/// Every route; calls the two below.
void install_routes(Router& router);

class Responder;
struct App;
/// Answers a sign-in: tokens and user; the refresh token goes in the cookie
/// instead of the body when the client asked for it. Every sign-in also gets
/// a new device token: as "device_token" in the body, or only in the device
/// cookie when the client asked for cookies (see Ctx::device_for).
void answer_auth(const std::shared_ptr<Responder>& res, const App& app, const AuthResult& r,
                 bool cookie, int status);
/// /auth/me, /users/{username}, avatars, API tokens (routes_profile.cpp).
void install_profile_routes(Router& router);
/// /admin/users… (routes_admin.cpp).
void install_admin_routes(Router& router);
/// Magic links, email verification, password reset and change (routes_links.cpp).
void install_link_routes(Router& router);

}  // namespace gh::http
