#include "http/server.hpp"

#include "actors/logic/base64url.hpp"
#include "http/context.hpp"
#include "http/routes.hpp"
#include "telemetry/log.hpp"

#include <pistache/endpoint.h>

#include <sstream>
#include <thread>

namespace gh::http {
namespace {

using namespace Pistache;

constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
constexpr std::size_t kMaxUriBytes = 8 * 1024;

// State shared by the handler clones Pistache makes per reactor thread.
struct Shared {
  App app;
  Router router;
  std::shared_ptr<std::atomic<int>> inflight = std::make_shared<std::atomic<int>>(0);
  std::atomic<bool> draining{false};
};

bool sane_request_id(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
  });
}

std::size_t uri_bytes(const Http::Request& req) {
  std::size_t n = req.resource().size();
  for (auto it = req.query().parameters_begin(); it != req.query().parameters_end(); ++it)
    n += it->first.size() + it->second.size() + 2;
  return n;
}

std::size_t header_bytes(const Http::Request& req) {
  std::size_t n = 0;
  for (auto& [name, raw] : req.headers().rawList()) n += name.size() + raw.value().size() + 4;
  thread_local std::ostringstream os;
  for (auto& h : req.headers().list()) {
    os.str({});
    h->write(os);
    n += std::strlen(h->name()) + static_cast<std::size_t>(os.tellp()) + 4;
  }
  for (const auto& c : req.cookies()) n += c.name.size() + c.value.size() + 2;
  return n;
}

class GatehouseHandler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(GatehouseHandler)
  explicit GatehouseHandler(std::shared_ptr<Shared> s) : s_(std::move(s)) {}

  void onRequest(const Http::Request& req, Http::ResponseWriter writer) override {
    Ctx ctx{req, nullptr, {}, {}, s_->app};
    auto rid = ctx.header("X-Request-Id");
    if (!sane_request_id(rid)) rid = logic::random_id();
    auto conn = ctx.header("Connection");
    bool keep_alive = req.version() == Http::Version::Http11
                          ? conn.find("lose") == std::string::npos
                          : conn.find("eep-") != std::string::npos;
    auto match = s_->router.match(req.method(), req.resource());
    ctx.client = ClientInfo{req.address().host(), ctx.header("User-Agent"), rid};
    ctx.res = std::make_shared<Responder>(std::move(writer), rid,
                                          match.route.empty() ? "unmatched" : match.route,
                                          ctx.client.ip, keep_alive, s_->inflight);
    auto& res = *ctx.res;
    if (s_->draining.load()) return res.failure(Failure{Errc::unavailable, "the server is shutting down"});
    if (uri_bytes(req) > kMaxUriBytes) return res.error(414, "invalid_request", "the URI is too long");
    if (header_bytes(req) > kMaxHeaderBytes)
      return res.error(431, "invalid_request", "the request headers are too large");
    if (!match.handler) {
      if (!match.allow.empty()) {
        Extra extra;
        extra.allow = match.allow;
        return res.error(405, "method_not_allowed", "use " + match.allow, extra);
      }
      return res.error(404, "not_found", "no such route");
    }
    ctx.params = std::move(match.params);
    if (!admit(ctx, *match.access)) return;
    try {
      (*match.handler)(ctx);
    } catch (const std::exception& e) {
      telemetry::log_error("handler threw", {{"request_id", rid}, {"error", e.what()}});
      res.error(500, "server_error", "internal error");
    }
  }

 private:
  // Enforces the route's declared Access; answers 401/403 itself.
  bool admit(Ctx& ctx, const Access& access) {
    if (access.kind == Access::Kind::open) return true;
    auto key = ctx.header("X-API-Key");
    auto who = !key.empty() && access.kind != Access::Kind::session
                   ? s_->app.auth.check_api_key(key, ctx.client.ip)
                   : s_->app.auth.check(ctx.header("Authorization"));
    if (!who.ok()) {
      ctx.res->failure(who.failure());
      return false;
    }
    ctx.res->set_user(who.value().user.id);
    ctx.who = std::move(who.value());
    if (access.kind == Access::Kind::permission && !ctx.allowed(access.permission)) {
      ctx.res->error(403, "forbidden", "this needs the '" + access.permission + "' permission");
      return false;
    }
    return true;
  }

  std::shared_ptr<Shared> s_;
};

}  // namespace

struct Server::Impl {
  const config::Config& cfg;
  store::Store& store;
  Services& services;
  std::shared_ptr<const logic::Roles> roles;
  std::shared_ptr<Shared> shared;
  std::unique_ptr<Http::Endpoint> endpoint;
  std::string host;
};

Server::Server(const config::Config& cfg, store::Store& store, Services& services,
               std::shared_ptr<const logic::Roles> roles)
    : impl_(new Impl{cfg, store, services, std::move(roles), nullptr, nullptr, {}}) {}

Server::~Server() { stop(); }

bool Server::start(const std::string& listen, std::string& why) {
  const auto& cfg = impl_->cfg;
  auto colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      std::size_t used = 0;
      port = std::stoi(listen.substr(colon + 1), &used);
      if (used != listen.size() - colon - 1) port = -1;
    } catch (...) {
    }
  }
  if (port < 0 || port > 65535) {
    why = "listen address must be host:port, not '" + listen + "'";
    return false;
  }
  impl_->host = listen.substr(0, colon);

  std::unordered_set<std::string> blocklist;
  if (!logic::PasswordPolicy::load_blocklist(cfg.resolve(cfg.password.blocklist), blocklist, why))
    return false;
  impl_->shared.reset(new Shared{
      App{cfg, impl_->store, impl_->services,
          logic::PasswordPolicy(cfg.password.min_length, cfg.password.max_bytes, std::move(blocklist)),
          AuthCheck(cfg, impl_->store, impl_->services), impl_->roles},
      {}});
  install_routes(impl_->shared->router);
  Responder::set_retry_after(cfg.hashing.retry_after_s);

  unsigned threads = cfg.server.threads > 0 ? cfg.server.threads : std::thread::hardware_concurrency();
  try {
    impl_->endpoint = std::make_unique<Http::Endpoint>(Address(impl_->host, Port(port)));
    auto opts = Http::Endpoint::options()
                    .threads(static_cast<int>(threads ? threads : 2))
                    .flags(Tcp::Options::ReuseAddr)
                    .maxRequestSize(cfg.server.max_request_bytes)
                    .headerTimeout(std::chrono::milliseconds(cfg.server.header_timeout_ms))
                    .bodyTimeout(std::chrono::milliseconds(cfg.server.body_timeout_ms))
                    .keepaliveTimeout(std::chrono::milliseconds(cfg.server.keepalive_timeout_ms));
    impl_->endpoint->init(opts);
    impl_->endpoint->setHandler(Http::make_handler<GatehouseHandler>(impl_->shared));
    impl_->endpoint->serveThreaded();
  } catch (const std::exception& e) {
    why = "cannot listen on " + listen + ": " + e.what();
    impl_->endpoint.reset();
    return false;
  }
  return true;
}

std::string Server::address() const {
  if (!impl_->endpoint) return {};
  return impl_->host + ":" + impl_->endpoint->getPort().toString();
}

bool Server::drain(int grace_ms) {
  if (!impl_->shared) return true;
  impl_->shared->draining = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (impl_->shared->inflight->load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void Server::stop() {
  if (impl_->endpoint) {
    impl_->endpoint->shutdown();
    impl_->endpoint.reset();
  }
}

}  // namespace gh::http
