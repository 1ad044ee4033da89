#include "http/server.hpp"

#include "domain/ascii.hpp"
#include "domain/base64url.hpp"
#include "http/body_guard.hpp"
#include "http/context.hpp"
#include "http/forwarded.hpp"
#include "http/routes.hpp"
#include "telemetry/log.hpp"

#include <pistache/endpoint.h>
#include <pistache/peer.h>

#include <sstream>
#include <thread>

namespace gh::http {
namespace {

using namespace Pistache;

constexpr std::size_t kMaxHeaderBytes = 8 * 1024;  // all header lines together
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

// True when the request's header lines add up to more than kMaxHeaderBytes
// (`taken_off`: the bytes of the line the guard took off before parsing).
// Pistache keeps every header in rawList() (known ones are also parsed into
// list()); the cookie jar is counted only when Cookie is not among them.
bool headers_too_large(const Http::Request& req, std::size_t taken_off) {
  std::size_t total = taken_off;
  bool cookie_seen = false;
  for (auto& [name, raw] : req.headers().rawList()) {
    total += name.size() + raw.value().size() + 4;  // ": " and CRLF
    cookie_seen = cookie_seen || domain::ascii_iequals(name, "Cookie");
  }
  if (!cookie_seen)
    for (const auto& c : req.cookies()) total += c.name.size() + c.value.size() + 3;
  return total > kMaxHeaderBytes;
}

// What Gatehouse keeps per connection, in the Pistache peer's data.
struct PeerState {
  explicit PeerState(const std::shared_ptr<Shared>& s)
      : guard([s](std::string_view, std::string_view path) {
          // Only the avatar upload takes more than a JSON body.
          const auto& server = s->app.cfg.server;
          return static_cast<std::uint64_t>(path == "/auth/me/avatar" ? server.max_request_bytes
                                                                      : server.max_body_bytes);
        }, s->app.trusted_proxies.empty() ? std::string() : s->app.cfg.server.client_ip_header) {}
  BodyGuard guard;
  WriteGate gate;
};

class GatehouseHandler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(GatehouseHandler)
  explicit GatehouseHandler(std::shared_ptr<Shared> s) : s_(std::move(s)) {}

  // Pistache's entry point; onInput below calls serve() directly.
  void onRequest(const Http::Request& req, Http::ResponseWriter writer) override { serve(req, writer.getPeer()); }

 private:
  void serve(const Http::Request& req, const std::shared_ptr<Tcp::Peer>& peer) {
    // What the guard kept of this request's head (nullopt: it saw none).
    auto head = current_->guard.take();
    Ctx ctx{req, nullptr, {}, {}, s_->app, std::nullopt, {}, head ? std::move(head->authorization) : std::nullopt};
    auto rid = ctx.header("X-Request-Id");
    if (!sane_request_id(rid)) rid = telemetry::new_request_id();
    auto conn = ctx.header("Connection");
    bool keep_alive = req.version() == Http::Version::Http11
                          ? conn.find("lose") == std::string::npos
                          : conn.find("eep-") != std::string::npos;
    auto match = s_->router.match(req.method(), req.resource());
    ctx.client = ClientInfo{client_ip(ctx, head ? &head->combined : nullptr), ctx.header("User-Agent"), rid, {}, {}};
    ctx.limit_ip = domain::limit_key_of(ctx.client.ip, s_->app.cfg.rate_limit.ipv6_prefix);
    ctx.res = std::make_shared<Responder>(peer, req.version(), rid,
                                          match.route.empty() ? "unmatched" : match.route,
                                          Http::methodString(req.method()), ctx.client.ip, keep_alive,
                                          s_->inflight, telemetry::parse_traceparent(ctx.header("traceparent")),
                                          std::shared_ptr<WriteGate>(current_, &current_->gate), req.resource());
    ctx.client.trace_id = ctx.res->trace_id();
    // Child spans (actor hops) only in a sampled trace: without a parent
    // span id a SpanTimer records nothing.
    if (ctx.res->sampled()) {
      ctx.client.span_id = ctx.res->span_id();
      // OpenTelemetry HTTP server semantic conventions (url.path, method,
      // route, status and client.address are added when the answer goes out).
      ctx.res->span_attr("url.scheme", "http");
      ctx.res->span_attr("network.protocol.version", req.version() == Http::Version::Http11 ? "1.1" : "1.0");
      if (!ctx.client.user_agent.empty())
        ctx.res->span_attr("user_agent.original", ctx.client.user_agent.substr(0, 256));
    }
    auto& res = *ctx.res;
    if (s_->draining.load()) return res.failure(Failure{Errc::unavailable, "the server is shutting down"});
    if (uri_bytes(req) > kMaxUriBytes) return res.error(414, "invalid_request", "the URI is too long");
    if (headers_too_large(req, ctx.authorization ? ctx.authorization->size() + 17 : 0))
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
    if (!ctx.rate_ok(std::string(config::rate_class_name(match.limit)) + "|ip|" + ctx.limit_ip,
                     s_->app.cfg.rate_limit.ip_per_minute(match.limit)))
      return;
    if (!admit(ctx, *match.access)) return;
    try {
      (*match.handler)(ctx);
    } catch (const std::exception& e) {
      telemetry::log_error("handler threw", {{"request_id", rid}, {"error", e.what()}});
      res.error(500, "server_error", "internal error");
    }
  }

  // The peer address, or — only when the peer is a trusted proxy — the
  // client its proxies name in server.client_ip_header. All the header's
  // lines count: the guard saw them on the raw bytes (Pistache keeps one).
  // `value`: those lines joined; a request the guard did not see (nullptr)
  // is taken as coming from the peer.
  std::string client_ip(const Ctx& ctx, const std::string* value) const {
    std::string peer = ctx.req.address().host();
    const auto& app = s_->app;
    if (app.trusted_proxies.empty() || !value) return peer;
    auto kind = app.cfg.server.client_ip_header == "forwarded" ? ForwardedHeader::forwarded
                                                               : ForwardedHeader::x_forwarded_for;
    return client_address(peer, forwarded_hops(kind, *value), app.trusted_proxies);
  }

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
    ctx.res->set_user(who.value().user().id);
    ctx.who = std::move(who.value());
    if (access.kind == Access::Kind::permission && !ctx.allowed(access.permission)) {
      ctx.res->error(403, "forbidden", "this needs the '" + access.permission + "' permission");
      return false;
    }
    return true;
  }

  // Pistache's Http::Handler::onInput is private, so it cannot be wrapped:
  // this is the same sequence through the parser's public API, with the
  // BodyGuard judging each declared body on the raw bytes first.
  void onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) override {
    current_ = std::static_pointer_cast<PeerState>(peer->tryGetData(kStateData));
    if (!current_) {
      current_ = std::make_shared<PeerState>(s_);
      peer->putData(kStateData, current_);
    }
    auto* guard = &current_->guard;
    auto verdict = BodyGuard::Verdict::pass;
    {
      std::lock_guard<std::mutex> lock(current_->gate.mu);
      if (current_->gate.close_after) return;  // the connection ends after the current answer
      verdict = guard->feed(std::string_view(buffer, len), !current_->gate.busy);
      if (verdict == BodyGuard::Verdict::pipelined) current_->gate.close_after = true;
    }
    switch (verdict) {
      case BodyGuard::Verdict::pass: break;
      case BodyGuard::Verdict::dropped: return;
      // Pistache would drop the second request silently: answer the first
      // (its bytes only), then close, so the client retries the rest.
      case BodyGuard::Verdict::pipelined:
        if (guard->pass_bytes() == 0) return;
        break;
      case BodyGuard::Verdict::bad_host:
        return refuse(peer, 400, "invalid_request", "the request needs exactly one valid Host header");
      case BodyGuard::Verdict::two_authorizations:
        return refuse(peer, 400, "invalid_request", "the request has more than one Authorization header");
      case BodyGuard::Verdict::too_large:
        return refuse(peer, 413, "payload_too_large", "the declared body is larger than this route accepts");
      case BodyGuard::Verdict::bad_length:
        return refuse(peer, 400, "invalid_request", "Content-Length must be one decimal number");
      case BodyGuard::Verdict::length_required:
        return refuse(peer, 411, "invalid_request",
                      "send the body with a Content-Length: chunked request bodies are not accepted");
    }
    auto bytes = guard->parser_bytes(std::string_view(buffer, len));
    auto parser = getParser(peer);
    auto& request = parser->request;
    try {
      if (!parser->feed(bytes.data(), bytes.size())) {
        parser->reset();
        guard->stop();
        return refuse(peer, 413, "payload_too_large", "the request is larger than the server accepts");
      }
      if (parser->parse() != Http::Private::State::Done) return;
      request.copyAddress(peer->address());
      peer->setIdle(false);
      serve(request, peer);
      parser->reset();
    } catch (const std::exception& e) {  // Pistache's parser refusing the request line or a header
      parser->reset();
      guard->stop();
      auto* http = dynamic_cast<const Http::HttpError*>(&e);
      int status = http && http->code() >= 400 && http->code() < 600 ? http->code() : 400;
      refuse(peer, status, status >= 500 ? "server_error" : "invalid_request", "malformed HTTP request");
    }
  }

  // Called by Pistache just before it closes the fd of a client that left.
  // Answers still queued are written now, while the fd is this client's (see
  // WriteGate in response.hpp), and later ones are dropped.
  void onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    if (auto state = std::static_pointer_cast<PeerState>(peer->tryGetData(kStateData))) {
      std::lock_guard<std::mutex> lock(state->gate.mu);
      state->gate.closed = true;
    }
    transport()->flush();
  }

  // Answers a request refused before it was parsed, in the usual JSON shape
  // (logged, counted and traced like any answer), and asks the client to close.
  void refuse(const std::shared_ptr<Tcp::Peer>& peer, int status, const char* code, const std::string& why) {
    Responder res(peer, Http::Version::Http11, telemetry::new_request_id(),
                  "unparsed", "-", peer->address().host(), false, s_->inflight, std::nullopt,
                  std::shared_ptr<WriteGate>(current_, &current_->gate));
    res.error(status, code, why);
    // Pistache queues the write and registers for EPOLLOUT; the client is
    // still sending its body, and each read re-arms the fd for reading only,
    // which can drop that registration and strand the answer. Write it now.
    transport()->flush();
  }

  static constexpr const char* kStateData = "gatehouse.peer";
  std::shared_ptr<Shared> s_;
  std::shared_ptr<PeerState> current_;  ///< the connection onInput is serving
};

}  // namespace

struct Server::Impl {
  const config::Config& cfg;
  store::Backend& store;
  Services& services;
  std::shared_ptr<const domain::Roles> roles;
  std::shared_ptr<Shared> shared;
  std::unique_ptr<Http::Endpoint> endpoint;
  std::string host;
};

Server::Server(const config::Config& cfg, store::Backend& store, Services& services,
               std::shared_ptr<const domain::Roles> roles)
    : impl_(new Impl{cfg, store, services, std::move(roles), nullptr, nullptr, {}}) {}

Server::~Server() { stop(); }

bool Server::start(const std::string& listen, std::string& why) {
  const auto& cfg = impl_->cfg;
  int port = 0;
  if (!config::parse_listen(listen, impl_->host, port, why)) return false;

  auto policy = domain::PasswordPolicy::load(cfg.password.min_length, cfg.password.max_bytes,
                                            cfg.resolve(cfg.password.blocklist), why);
  if (!policy) return false;
  impl_->shared.reset(new Shared{
      App{cfg, impl_->store, impl_->services, std::move(*policy),
          AuthCheck(cfg, impl_->store, impl_->services), impl_->roles,
          domain::RateLimiter(cfg.rate_limit.max_keys), {}},
      {}});
  for (auto& p : cfg.server.trusted_proxies) {
    auto cidr = domain::Cidr::parse(p);
    if (!cidr) {
      why = "server.trusted_proxies: '" + p + "' is not an IP address or CIDR";
      return false;
    }
    impl_->shared->app.trusted_proxies.push_back(*cidr);
  }
  install_routes(impl_->shared->router);
  Responder::set_retry_after(cfg.hashing.retry_after_s);
  telemetry::configure_sampling(cfg.tracing.sample_ratio, cfg.tracing.slow_ms);

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
