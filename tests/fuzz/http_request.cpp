// Fuzzes an HTTP request as the server reads it: the BodyGuard on the raw
// bytes (a declared body over the route's limit or a malformed length is
// refused before Pistache sees it, as in the server's onInput), Pistache's
// request parser (request line, headers, Cookie, body; it throws on what it
// refuses, which the server answers 4xx), then what Gatehouse does with a parsed
// request before any handler runs: route matching on the path, the
// Authorization header (bearer_token), the refresh cookie and traceparent.
//
// Properties: a route match has one non-empty, slash-free parameter per
// {param} segment; every listed cookie is found by its name; a bearer token
// lies inside its header without spaces at its ends; an accepted traceparent
// has 32 + 16 hex digits.
#include "fuzz_check.hpp"
#include "http/auth_check.hpp"
#include "http/body_guard.hpp"
#include "http/router.hpp"
#include "telemetry/trace.hpp"

#include <pistache/http.h>

#include <algorithm>
#include <sstream>

namespace {

using Pistache::Http::Method;

// A few of the server's real routes (http/routes*.cpp), with parameters.
const gh::http::Router& router() {
  static const gh::http::Router r = [] {
    gh::http::Router r;
    auto anyone = gh::http::Access::anyone();
    r.add(Method::Post, "/auth/login", anyone, {});
    r.add(Method::Get, "/auth/sessions", anyone, {});
    r.add(Method::Delete, "/auth/sessions/{id}", anyone, {});
    r.add(Method::Get, "/admin/users/{id}", anyone, {});
    r.add(Method::Patch, "/admin/users/{id}", anyone, {});
    r.add(Method::Post, "/admin/users/{id}/deactivate", anyone, {});
    r.add(Method::Get, "/avatars/{user_id}", anyone, {});
    r.add(Method::Get, "/.well-known/jwks.json", anyone, {});
    return r;
  }();
  return r;
}

// As gh::http::Ctx::header: the raw value, else the typed header written out.
std::string header(const Pistache::Http::Request& req, const std::string& name) {
  const auto& h = req.headers();
  if (auto raw = h.tryGetRaw(name)) return raw->value();
  if (auto typed = h.tryGet(name)) {
    std::ostringstream os;
    typed->write(os);
    return os.str();
  }
  return {};
}

void after_parse(const Pistache::Http::Request& req) {
  auto match = router().match(req.method(), req.resource());
  if (match.handler) {
    auto braces = std::count(match.route.begin(), match.route.end(), '{');
    FUZZ_CHECK(match.params.size() == static_cast<std::size_t>(braces));
    for (const auto& p : match.params) FUZZ_CHECK(!p.empty() && p.find('/') == std::string::npos);
  }

  auto authorization = header(req, "Authorization");
  std::string why;
  if (auto token = gh::http::bearer_token(authorization, why)) {
    FUZZ_CHECK(token->size() + 7 <= authorization.size());
    FUZZ_CHECK(token->empty() || (token->front() != ' ' && token->back() != ' '));
  }

  const auto& jar = req.cookies();  // as Ctx::refresh_cookie and the header size check
  for (const auto& c : jar) FUZZ_CHECK(jar.has(c.name));
  if (jar.has("__Host-gatehouse_refresh")) (void)jar.get("__Host-gatehouse_refresh").value;

  if (auto tc = gh::telemetry::parse_traceparent(header(req, "traceparent")))
    FUZZ_CHECK(tc->trace_id.size() == 32 && tc->span_id.size() == 16);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // config/gatehouse.toml: server.max_request_bytes (the avatar upload) and
  // server.max_body_bytes (every other route). Without the guard, Pistache
  // reserves any declared Content-Length (a 7 GB reserve was found here).
  constexpr std::uint64_t kMaxRequestBytes = 1152 * 1024, kMaxBodyBytes = 64 * 1024;
  gh::http::BodyGuard guard([](std::string_view, std::string_view path) {
    return path == "/auth/me/avatar" ? kMaxRequestBytes : kMaxBodyBytes;
  });
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto verdict = guard.feed(input);
  if (verdict != gh::http::BodyGuard::Verdict::pass && verdict != gh::http::BodyGuard::Verdict::pipelined) return 0;
  auto bytes = guard.parser_bytes(input);  // as the server does
  if (bytes.empty()) return 0;
  Pistache::Http::RequestParser parser(kMaxRequestBytes);
  try {
    if (!parser.feed(bytes.data(), bytes.size())) return 0;
    if (parser.parse() != Pistache::Http::Private::State::Done) return 0;
  } catch (const std::exception&) {  // Pistache's own refusal: it answers 4xx/5xx
    return 0;
  }
  after_parse(parser.request);
  return 0;
}
