// The route table: every route, its method and its handler, in one place.
#pragma once

#include "http/router.hpp"

namespace gh::http {

void install_routes(Router& router);

}  // namespace gh::http
