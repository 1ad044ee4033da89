// The raw-bytes check in front of Pistache's parser (the brief's SECURITY.md case 3).
#include "http/body_guard.hpp"

#include <catch2/catch.hpp>

using gh::http::BodyGuard;
using V = BodyGuard::Verdict;

namespace {
BodyGuard guard() {
  return BodyGuard([](std::string_view, std::string_view path) -> std::uint64_t {
    return path == "/big" ? 1000 : 100;
  });
}
}  // namespace

TEST_CASE("a declared body over the route's limit is refused from the head alone") {
  auto g = guard();
  CHECK(g.feed("POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n") == V::too_large);
  CHECK(g.request_line() == "POST /auth/login HTTP/1.1");
  CHECK(g.feed("more bytes") == V::dropped);
  auto big = guard();
  CHECK(big.feed("PUT /big?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n") == V::pass);
  CHECK(guard().feed("PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n") == V::too_large);
}

TEST_CASE("a huge or malformed Content-Length is refused") {
  for (const char* v : {"1000000000000", "99999999999999999999999"})
    CHECK(guard().feed(std::string("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ") + v + "\r\n\r\n") != V::pass);
  for (const char* v : {"-1", "abc", "1, 2", "", "+5", "0x10"})
    CHECK(guard().feed(std::string("POST / HTTP/1.1\r\nHost: x\r\ncontent-length:") + v + "\r\n\r\n") ==
          V::bad_length);
  CHECK(guard().feed("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n") ==
        V::bad_length);
}

TEST_CASE("heads split across reads, bodies and pipelined requests stay in step") {
  auto g = guard();
  std::string stream =
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
      "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length:  100 \r\n\r\n" + std::string(100, 'x');
  for (char c : stream) REQUIRE(g.feed(std::string_view(&c, 1)) == V::pass);  // one byte at a time
  // A body that looks like a request head is only body.
  auto h = guard();
  CHECK(h.feed("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 48\r\n\r\n"
               "POST /x HTTP/1.1\r\nContent-Length: 999\r\n\r\n\r\n") == V::pass);
  CHECK(h.feed("POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n") == V::too_large);
}

TEST_CASE("chunked request bodies are refused (411); oversized heads are left to the parser") {
  auto g = guard();
  CHECK(g.feed("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n") == V::length_required);
  CHECK(g.request_line() == "POST / HTTP/1.1");
  CHECK(g.feed("ffffff\r\n") == V::dropped);
  // Also with a Content-Length beside it (a smuggling shape), in any case.
  auto t = guard();
  CHECK(t.feed("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ntransfer-encoding: gzip, chunked\r\n\r\nhello") ==
        V::length_required);
  auto h = guard();
  CHECK(h.feed("GET / HTTP/1.1\r\nX: " + std::string(20000, 'a')) == V::pass);
  CHECK(h.feed("\r\nContent-Length: 999999\r\n\r\n") == V::pass);
}

TEST_CASE("HTTP/1.1 needs exactly one valid Host; HTTP/1.0 may omit it (RFC 9112 3.2)") {
  CHECK(guard().feed("GET / HTTP/1.1\r\nHost: example.com:8000\r\n\r\n") == V::pass);
  CHECK(guard().feed("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n") == V::pass);
  CHECK(guard().feed("GET / HTTP/1.1\r\nHost:\r\n\r\n") == V::pass);  // empty is allowed
  CHECK(guard().feed("GET / HTTP/1.0\r\n\r\n") == V::pass);
  CHECK(guard().feed("GET / HTTP/1.1\r\nX: y\r\n\r\n") == V::bad_host);
  CHECK(guard().feed("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n") == V::bad_host);
  CHECK(guard().feed("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n") == V::bad_host);
  for (const char* bad : {"a b", "a/b", "user@host", "a\\b", "a?b"})
    CHECK(guard().feed(std::string("GET / HTTP/1.1\r\nHost: ") + bad + "\r\n\r\n") == V::bad_host);
  auto g = guard();
  CHECK(g.feed("GET / HTTP/1.1\r\n\r\n") == V::bad_host);
  CHECK(g.request_line() == "GET / HTTP/1.1");
  CHECK(g.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == V::dropped);
}

TEST_CASE("a second request in the same input, or while one is pending, is reported as pipelined") {
  const std::string a = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
  const std::string b = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  auto g = guard();
  CHECK(g.feed(a + "\r\n" + b) == V::pipelined);
  CHECK(g.pass_bytes() == a.size());  // the parser gets the first request only
  CHECK(g.feed(b) == V::dropped);
  // Stray CRLFs after a request are not a request.
  CHECK(guard().feed(a + "\r\n\r\n") == V::pass);
  // A request arriving while the previous one awaits its answer.
  auto p = guard();
  CHECK(p.feed(a) == V::pass);
  CHECK(p.feed(b, false) == V::pipelined);
  CHECK(p.pass_bytes() == 0);
  // After the answer (idle) the next request is served as usual.
  auto k = guard();
  CHECK(k.feed(a) == V::pass);
  CHECK(k.feed(b, true) == V::pass);
  // Split reads of one request are not pipelining.
  auto s = guard();
  CHECK(s.feed(a.substr(0, 20)) == V::pass);
  CHECK(s.feed(a.substr(20), false) == V::pass);
}

TEST_CASE("an Authorization line in a whole head is taken off the parser's bytes") {
  auto g = guard();
  std::string in = "\r\nGET /auth/me HTTP/1.1\r\nHost: x\r\nauthorization:  Bearer abc.def \r\nAccept: */*\r\n\r\n";
  REQUIRE(g.feed(in) == V::pass);
  CHECK(g.parser_bytes(in) == "\r\nGET /auth/me HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  auto head = g.take();
  REQUIRE(head);
  CHECK(head->authorization == std::string("Bearer abc.def"));
  CHECK_FALSE(g.take());

  // With a body after the head, in the same read: the body stays.
  std::string post = "POST /a HTTP/1.1\r\nAuthorization: Basic eDp5\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody";
  REQUIRE(g.feed(post) == V::pass);
  CHECK(g.parser_bytes(post) == "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody");
  CHECK(g.take()->authorization == std::string("Basic eDp5"));

  // Without the header, the input goes to the parser as it came.
  std::string plain = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(g.feed(plain) == V::pass);
  CHECK(g.parser_bytes(plain).data() == plain.data());
  CHECK_FALSE(g.take()->authorization);
}

TEST_CASE("a head split over reads keeps its Authorization line for the parser") {
  auto g = guard();
  std::string a = "GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthoriz", b = "ation: Bearer t\r\n\r\n";
  REQUIRE(g.feed(a) == V::pass);
  CHECK(g.parser_bytes(a) == a);
  REQUIRE(g.feed(b) == V::pass);
  CHECK(g.parser_bytes(b) == b);
  auto head = g.take();
  REQUIRE(head);
  CHECK_FALSE(head->authorization);  // Pistache parsed it
}

TEST_CASE("a pipelined request after a stripped head: only the first, less the line, is parsed") {
  auto g = guard();
  std::string first = "GET /a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer one\r\n\r\n";
  std::string in = first + "GET /b HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer two\r\n\r\n";
  REQUIRE(g.feed(in) == V::pipelined);
  CHECK(g.pass_bytes() == first.size());
  CHECK(g.parser_bytes(in) == "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(g.take()->authorization == std::string("Bearer one"));
}

TEST_CASE("two Authorization lines are refused, whole or split") {
  CHECK(guard().feed("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nAUTHORIZATION: Bearer b\r\n\r\n") ==
        V::two_authorizations);
  auto g = guard();
  REQUIRE(g.feed("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n") == V::pass);
  CHECK(g.feed("Authorization: Bearer b\r\n\r\n") == V::two_authorizations);
  CHECK(g.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == V::dropped);
}
