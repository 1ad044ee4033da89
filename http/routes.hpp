// The route table: every route, its method and its handler, in one place.
#pragma once

#include "http/router.hpp"

namespace gh::http {

/// Every route; calls the two below.
void install_routes(Router& router);
/// /auth/me, /users/{username}, avatars, API tokens (routes_profile.cpp).
void install_profile_routes(Router& router);
/// /admin/users… (routes_admin.cpp).
void install_admin_routes(Router& router);

}  // namespace gh::http
