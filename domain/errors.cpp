#include "domain/errors.hpp"

namespace gh {

const char* error_code(Errc e) {
  switch (e) {
    case Errc::invalid_request: return "invalid_request";
    case Errc::invalid_credentials: return "invalid_credentials";
    case Errc::invalid_grant: return "invalid_grant";
    case Errc::invalid_token: return "invalid_token";
    case Errc::forbidden: return "forbidden";
    case Errc::not_found: return "not_found";
    case Errc::conflict: return "conflict";
    case Errc::invalid_password: return "invalid_password";
    case Errc::overloaded: return "overloaded";
    case Errc::unavailable: return "unavailable";
    case Errc::internal: return "server_error";
  }
  return "server_error";
}

}  // namespace gh
