#include "http/response.hpp"

#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"

#include <pistache/peer.h>

#include <sstream>

#include <sys/socket.h>

namespace gh::http {
namespace {

using namespace Pistache;

int status_of(Errc e) {
  switch (e) {
    case Errc::invalid_request: return 400;
    case Errc::invalid_credentials: return 401;
    case Errc::invalid_grant: return 400;
    case Errc::invalid_token: return 401;
    case Errc::forbidden: return 403;
    case Errc::not_found: return 404;
    case Errc::conflict: return 409;
    case Errc::invalid_password: return 422;
    case Errc::overloaded: return 503;
    case Errc::unavailable: return 503;
    case Errc::internal: return 500;
  }
  return 500;
}

constexpr const char* kJsonType = "application/json; charset=utf-8";

}  // namespace

Responder::Responder(std::shared_ptr<Tcp::Peer> peer, Http::Version version, std::string request_id,
                     std::string route,
                     const char* method, std::string ip, bool keep_alive,
                     std::shared_ptr<std::atomic<int>> inflight,
                     const std::optional<telemetry::TraceContext>& parent, std::shared_ptr<WriteGate> gate,
                     std::string path)
    : peer_(std::move(peer)),
      version_(version),
      gate_(std::move(gate)),
      request_id_(std::move(request_id)),
      route_(std::move(route)),
      ip_(std::move(ip)),
      method_(method),
      keep_alive_(keep_alive),
      inflight_(std::move(inflight)),
      start_(std::chrono::steady_clock::now()),
      trace_id_(parent ? parent->trace_id : telemetry::new_trace_id()),
      span_id_(telemetry::new_span_id()),
      parent_span_id_(parent ? parent->span_id : std::string()),
      path_(std::move(path)),
      start_ns_(telemetry::unix_nanos()) {
  if (parent ? parent->sampled : telemetry::sample_new_trace(trace_id_)) span_ = std::make_unique<telemetry::Span>();
  ++*inflight_;
  std::lock_guard<std::mutex> lock(gate_->mu);
  gate_->busy = true;
}

Responder::~Responder() {
  if (!sent_.load()) error(500, "server_error", "internal error");
}

void Responder::json(int status, const nlohmann::json& body, const Extra& extra) {
  auto text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  send(status, &text, extra);
}

void Responder::json_text(int status, const std::string& text, const Extra& extra) { send(status, &text, extra); }

void Responder::empty(int status, const Extra& extra) { send(status, nullptr, extra); }

void Responder::raw(int status, const std::string& body, const std::string& content_type,
                    int max_age_s, const Extra& extra) {
  send(status, &body, extra, content_type, max_age_s);
}

void Responder::page(int status, const std::string& body, const std::string& content_type) {
  Extra extra;
  extra.page = true;
  send(status, &body, extra, content_type, 0);
}

void Responder::error(int status, std::string_view code, std::string_view description,
                      Extra extra) {
  json(status, {{"error", code}, {"error_description", description}, {"request_id", request_id_}},
       extra);
}

void Responder::failure(const Failure& f, Extra extra) {
  if (f.code == Errc::overloaded || f.code == Errc::unavailable) extra.retry_after_s = retry_after_s_;
  if (f.code == Errc::invalid_token)
    extra.www_authenticate = "Bearer realm=\"gatehouse\", error=\"invalid_token\"";
  std::string desc = f.description.empty() ? std::string(error_code(f.code)) : f.description;
  error(status_of(f.code), error_code(f.code), desc, std::move(extra));
}

void Responder::send(int status, const std::string* body, const Extra& extra,
                     const std::string& content_type, int max_age_s) {
  if (sent_.exchange(true)) return;
  // The gate orders this answer against the connection's close and its next
  // request (see WriteGate).
  std::unique_lock<std::mutex> gate(gate_->mu);
  gate_->busy = false;
  bool keep_alive = keep_alive_ && !gate_->close_after;
  if (!keep_alive) gate_->close_after = true;
  // The answer's bytes, in one buffer.
  std::string out;
  out.reserve(384 + (body ? body->size() : 0));
  out += version_ == Http::Version::Http11 ? "HTTP/1.1 " : "HTTP/1.0 ";
  out += std::to_string(status);
  out += ' ';
  out += Http::codeString(static_cast<Http::Code>(status));
  out += "\r\n";
  auto header = [&out](std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
  };
  if (body) header("Content-Type", content_type.empty() ? kJsonType : content_type);
  header("X-Request-Id", request_id_);
  if (max_age_s > 0) {
    header("Cache-Control", "public, max-age=" + std::to_string(max_age_s));
  } else {
    header("Cache-Control", "no-store");
    header("Pragma", "no-cache");
  }
  header("X-Content-Type-Options", "nosniff");
  header("Connection", keep_alive ? "Keep-Alive" : "Close");
  if (!extra.set_cookie.empty()) header("Set-Cookie", extra.set_cookie);
  for (const auto& c : extra.cookies) {
    std::ostringstream cookie;
    cookie << c;
    header("Set-Cookie", cookie.str());
  }
  if (!extra.www_authenticate.empty()) header("WWW-Authenticate", extra.www_authenticate);
  if (!extra.allow.empty()) header("Allow", extra.allow);
  if (!extra.content_security_policy.empty()) header("Content-Security-Policy", extra.content_security_policy);
  if (!extra.content_disposition.empty()) header("Content-Disposition", extra.content_disposition);
  if (extra.page) {
    header("Content-Security-Policy", kPageCsp);
    header("X-Frame-Options", "DENY");
    header("Referrer-Policy", "no-referrer");
  }
  header("traceparent", telemetry::format_traceparent({trace_id_, span_id_, span_ != nullptr}));
  if (extra.retry_after_s > 0) header("Retry-After", std::to_string(extra.retry_after_s));
  if (extra.ratelimit_limit >= 0) {
    header("RateLimit-Limit", std::to_string(extra.ratelimit_limit));
    header("RateLimit-Remaining", std::to_string(extra.ratelimit_remaining));
    header("RateLimit-Reset", std::to_string(extra.ratelimit_reset_s));
  }
  header("Content-Length", std::to_string(body ? body->size() : 0));
  out += "\r\n";
  if (body) out += *body;

  // Skip the write when the client is gone (we hold the last peer reference,
  // or the handler closed the gate before Pistache closes the fd).
  if (!gate_->closed && peer_ && peer_.use_count() > 1) {
    try {
      auto size = out.size();
      Async::Promise<ssize_t> written = peer_->send(RawBuffer(std::move(out), size));
      // Connection: close — end our side once the answer is written; Pistache
      // then sees the client's close and releases the peer through its usual
      // disconnection path. The continuation runs later, on the reactor
      // thread (or here, under the gate, when the write already finished),
      // and the fd number alone may by then name another connection: shut it
      // down only while it is still this peer's and the gate is open (the
      // gate closes in onDisconnection, before Pistache closes the fd, on
      // that same reactor thread).
      if (!keep_alive)
        written.then(
            [weak = std::weak_ptr<Pistache::Tcp::Peer>(peer_), gate = gate_, fd = peer_->fd()](ssize_t) {
              auto peer = weak.lock();
              if (peer && peer->fd() == fd && !gate->closed) ::shutdown(fd, SHUT_WR);
            },
            [](std::exception_ptr&) {});
    } catch (const std::exception& e) {
      telemetry::log_warn("response not sent", {{"request_id", request_id_}, {"error", e.what()}});
    }
  }
  gate.unlock();
  peer_.reset();
  --*inflight_;

  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  telemetry::record_request(route_, method_, status, ms / 1000);
  if (span_ || telemetry::always_record(status, ms)) {
    if (!span_) span_ = std::make_unique<telemetry::Span>();  // an error or a slow answer of an unsampled trace
    auto& sp = *span_;
    sp.trace_id = trace_id_;
    sp.span_id = span_id_;
    sp.parent_span_id = parent_span_id_;
    sp.name = std::string(method_) + " " + route_;
    sp.kind = telemetry::SpanKind::server;
    sp.start_ns = start_ns_;
    sp.end_ns = telemetry::unix_nanos();
    sp.error = status >= 500;
    auto& a = sp.attributes;
    if (!path_.empty() && !a.contains("url.path")) a["url.path"] = path_;
    a["http.request.method"] = method_;
    a["http.route"] = route_;
    a["http.response.status_code"] = status;
    a["client.address"] = ip_;
    telemetry::record_span(std::move(sp));
    span_.reset();
  }
  telemetry::LogLine line(status >= 500 ? telemetry::Level::error : telemetry::Level::info, "request");
  line.str("request_id", request_id_).str("trace_id", trace_id_).str("span_id", span_id_);
  line.str("route", route_).num("status", status).num("duration_ms", std::round(ms * 1000) / 1000).str("ip", ip_);
  if (!user_id_.empty()) line.str("user_id", user_id_);
  line.write();
}

}  // namespace gh::http
