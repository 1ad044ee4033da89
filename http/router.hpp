// Method + path routing with `{param}` segments, and the Allow list for 405.
// Built once at start-up, then read-only (safe from every reactor thread).
#pragma once

#include "config/config.hpp"

#include <pistache/http_defs.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gh::http {

struct Ctx;
using Handler = std::function<void(Ctx&)>;

/// Who may call a route, declared with the route and checked by the server
/// before the handler runs (so before any actor is asked).
struct Access {
  enum class Kind {
    open,        ///< anyone
    user,        ///< a valid access token or API key
    session,     ///< a valid access token (the route acts on its session)
    permission,  ///< a token or API key whose role (and key scopes) grant `permission`
  } kind = Kind::open;
  std::string permission;

  static Access anyone() { return {Kind::open, {}}; }
  static Access signed_in() { return {Kind::user, {}}; }
  static Access bearer_session() { return {Kind::session, {}}; }
  static Access needs(std::string p) { return {Kind::permission, std::move(p)}; }
};

class Router {
 public:
  /// `limit` is the route's rate-limit class (config [rate_limit]).
  void add(Pistache::Http::Method method, std::string pattern, Access access, Handler handler,
           config::RateClass limit = config::RateClass::standard);

  struct Match {
    const Handler* handler = nullptr;     ///< null: 404 or 405
    const Access* access = nullptr;       ///< with handler
    config::RateClass limit = config::RateClass::standard;
    std::vector<std::string> params;      ///< values of the {param} segments
    std::string route;                    ///< the pattern, for logs and metrics
    std::string allow;                    ///< methods of a matching path, for 405
  };
  Match match(Pistache::Http::Method method, std::string_view path) const;

 private:
  struct Route {
    Pistache::Http::Method method;
    std::string pattern;
    std::vector<std::string> segments;
    Access access;
    Handler handler;
    config::RateClass limit;
  };
  static bool match_path(const Route& r, const std::vector<std::string_view>& parts,
                         std::vector<std::string>* params);
  std::vector<Route> routes_;
};

}  // namespace gh::http
