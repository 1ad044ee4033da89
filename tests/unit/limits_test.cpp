// Issue 12 items 4, 5 and 10: the client behind proxies, the IPv6 rate-limit
// key, device tokens, the combined header lines the BodyGuard keeps, and live
// one-time links in the store.
#include "domain/cidr.hpp"
#include "domain/device.hpp"
#include "domain/device_failures.hpp"
#include "config/config.hpp"
#include "http/body_guard.hpp"
#include "http/forwarded.hpp"
#include "store/lmdb/backend.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

using namespace gh;
using http::BodyGuard;
using http::ForwardedHeader;

namespace {
std::vector<domain::Cidr> cidrs(std::initializer_list<const char*> list) {
  std::vector<domain::Cidr> out;
  for (auto c : list) out.push_back(*domain::Cidr::parse(c));
  return out;
}
std::string client(const char* peer, ForwardedHeader kind, const char* value) {
  return http::client_address(peer, http::forwarded_hops(kind, value), cidrs({"127.0.0.1", "10.0.0.0/8"}));
}
constexpr auto xff = ForwardedHeader::x_forwarded_for;
constexpr auto fwd = ForwardedHeader::forwarded;
}  // namespace

TEST_CASE("the client is the first untrusted hop from the right", "[forwarded]") {
  // The client's own entries come first; each proxy appends what it saw.
  CHECK(client("127.0.0.1", xff, "198.51.100.7, 203.0.113.9") == "203.0.113.9");
  CHECK(client("127.0.0.1", xff, "198.51.100.7, 203.0.113.9, 10.1.2.3") == "203.0.113.9");
  CHECK(client("127.0.0.1", xff, "203.0.113.9") == "203.0.113.9");
  CHECK(client("127.0.0.1", xff, "") == "127.0.0.1");
  CHECK(client("127.0.0.1", xff, "10.0.0.1, 10.0.0.2") == "10.0.0.1");  // all trusted: the leftmost
  // From an untrusted peer the header means nothing.
  CHECK(client("192.0.2.1", xff, "198.51.100.7") == "192.0.2.1");
  // Something that is no address stops the walk at the proxy that wrote it.
  CHECK(client("127.0.0.1", xff, "198.51.100.7, unknown") == "127.0.0.1");
  CHECK(client("127.0.0.1", xff, "198.51.100.7, junk, 10.0.0.5") == "10.0.0.5");
  CHECK(client("127.0.0.1", xff, "198.51.100.7/8") == "127.0.0.1");
  // Ports, brackets, IPv6 and empty list elements.
  CHECK(client("127.0.0.1", xff, "203.0.113.9:4711") == "203.0.113.9");
  CHECK(client("127.0.0.1", xff, "[2001:db8::1]:4711") == "2001:db8::1");
  CHECK(client("127.0.0.1", xff, "2001:db8::1,, ") == "2001:db8::1");
}

TEST_CASE("an address with an embedded NUL is no address", "[forwarded][fuzz]") {
  // fuzz_forwarded: inet_pton read the text as a C string, so
  // "198.51.100.7\0junk" parsed as 198.51.100.7 and became a client address.
  using namespace std::string_literals;
  CHECK_FALSE(domain::Cidr::parse("198.51.100.7\0junk"s));
  CHECK_FALSE(domain::Cidr::parse("::1\0"s));
  CHECK(domain::Cidr::parse("198.51.100.7"));
}

TEST_CASE("Forwarded: the for= of each element, quoted or not", "[forwarded]") {
  CHECK(client("127.0.0.1", fwd, "for=198.51.100.7;proto=https, for=\"[2001:db8:cafe::17]:4711\"") ==
        "2001:db8:cafe::17");
  CHECK(client("127.0.0.1", fwd, "proto=https;FOR=203.0.113.1;by=10.0.0.1") == "203.0.113.1");
  CHECK(client("127.0.0.1", fwd, "for=\"203.0.113.1:80\", for=10.0.0.3") == "203.0.113.1");
  CHECK(client("127.0.0.1", fwd, "for=203.0.113.1, for=unknown") == "127.0.0.1");
  CHECK(client("127.0.0.1", fwd, "for=203.0.113.1, for=_hidden, for=10.0.0.3") == "10.0.0.3");
  CHECK(client("127.0.0.1", fwd, "proto=https") == "127.0.0.1");  // no for=: stops
  // A comma inside a quoted value does not split elements.
  CHECK(http::forwarded_hops(fwd, "for=\"a,b\";by=x, for=203.0.113.2") == std::vector<std::string>{"", "203.0.113.2"});
}

TEST_CASE("per-IP limits key IPv6 clients by their network", "[ratelimit]") {
  CHECK(domain::limit_key_of("2001:db8:1:2:3:4:5:6", 64) == "2001:db8:1:2::/64");
  CHECK(domain::limit_key_of("2001:DB8:1:2::ffff", 64) == "2001:db8:1:2::/64");
  CHECK(domain::limit_key_of("2001:db8:1:2ff::1", 56) == "2001:db8:1:200::/56");
  CHECK(domain::limit_key_of("2001:db8::1", 128) == "2001:db8::1");
  CHECK(domain::limit_key_of("198.51.100.7", 64) == "198.51.100.7");
  CHECK(domain::limit_key_of("::ffff:198.51.100.7", 64) == "198.51.100.7");
  CHECK(domain::limit_key_of("not an address", 64) == "not an address");
}

TEST_CASE("a device token is valid only for its email and epoch, unaltered and unexpired", "[device]") {
  domain::DeviceTokens d(std::string(32, 'k'));
  auto t = d.issue("alice@example.com", 0, 1000, 60);
  auto id = d.verify(t, "alice@example.com", 0, 1059);
  REQUIRE(id);
  CHECK(t.rfind(*id + ".", 0) == 0);
  CHECK_FALSE(d.verify(t, "alice@example.com", 0, 1060));  // expired
  CHECK_FALSE(d.verify(t, "bob@example.com", 0, 1001));    // another account
  CHECK_FALSE(domain::DeviceTokens(std::string(32, 'x')).verify(t, "alice@example.com", 0, 1001));  // another secret
  auto later = t;
  later.replace(t.find('.') + 1, 4, "9999");  // a longer life, same mac
  CHECK_FALSE(d.verify(later, "alice@example.com", 0, 1001));
  for (const std::string& bad : {std::string(), std::string(".."), std::string("abc"), std::string("x.1.y"),
                                  std::string(200, 'a')})
    CHECK_FALSE(d.verify(bad, "alice@example.com", 0, 1001));
  CHECK(d.issue("alice@example.com", 0, 1000, 60) != t);  // a fresh nonce each time
}

TEST_CASE("a password change or reset (a new device epoch) voids earlier device tokens", "[device]") {
  domain::DeviceTokens d(std::string(32, 'k'));
  auto before = d.issue("alice@example.com", 7, 1000, 60);
  CHECK(d.verify(before, "alice@example.com", 7, 1001));
  CHECK_FALSE(d.verify(before, "alice@example.com", 8, 1001));
  auto after = d.issue("alice@example.com", 8, 1000, 60);
  CHECK(d.verify(after, "alice@example.com", 8, 1001));
  CHECK_FALSE(d.verify(after, "alice@example.com", 7, 1001));
  // The epoch is a separate field of the mac: "alice@example.com" at 17 is
  // not "alice@example.com1" at 7.
  CHECK_FALSE(d.verify(d.issue("alice@example.com1", 7, 1000, 60), "alice@example.com", 17, 1001));
}

TEST_CASE("each key backs off alone, by the account's arithmetic, and a success clears it", "[device_failures]") {
  domain::DeviceFailures f(domain::Backoff{3, 600, 3600}, 10);
  for (int i = 0; i < 2; ++i) f.failed("laptop", 1000);
  CHECK_FALSE(f.throttled("laptop", 1000));  // below `after`
  f.failed("laptop", 1000);
  CHECK(f.count("laptop", 1000) == 3);
  CHECK(f.throttled("laptop", 1000));
  CHECK_FALSE(f.throttled("laptop", 1001));  // 2^0 s later
  f.failed("laptop", 1001);                  // the 4th: 2 s
  CHECK(f.throttled("laptop", 1002));
  CHECK_FALSE(f.throttled("laptop", 1003));
  CHECK_FALSE(f.throttled("phone", 1002));   // another key paid nothing
  CHECK(f.count("phone", 1002) == 0);
  f.succeeded("laptop");
  CHECK(f.count("laptop", 1003) == 0);
  CHECK(f.size() == 0);
  // Failures past the window are forgotten: the next one counts from 1.
  for (int i = 0; i < 5; ++i) f.failed("tablet", 1000);
  CHECK(f.count("tablet", 4600) == 5);
  CHECK(f.count("tablet", 4601) == 0);
  f.failed("tablet", 4601);
  CHECK(f.count("tablet", 4601) == 1);
  CHECK_FALSE(f.throttled("tablet", 4601));
}

TEST_CASE("the failure map is bounded: stale keys go first, then the one that failed longest ago",
          "[device_failures]") {
  domain::DeviceFailures f(domain::Backoff{3, 600, 100}, 3);
  f.failed("old", 1000);
  f.failed("a", 1050);
  f.failed("b", 1060);
  CHECK(f.size() == 3);
  // At 1101 "old" is past the 100 s window: it goes, the live ones stay.
  f.failed("c", 1101);
  CHECK(f.size() == 3);
  CHECK(f.count("old", 1101) == 0);
  CHECK(f.count("a", 1101) == 1);
  CHECK(f.count("b", 1101) == 1);
  // None is stale at 1102: the one that failed longest ago ("a") goes.
  f.failed("d", 1102);
  CHECK(f.size() == 3);
  CHECK(f.count("a", 1102) == 0);
  CHECK(f.count("b", 1102) == 1);
  CHECK(f.count("c", 1102) == 1);
  CHECK(f.count("d", 1102) == 1);
  // A key already kept is counted without evicting anyone.
  f.failed("b", 1103);
  CHECK(f.size() == 3);
  CHECK(f.count("b", 1103) == 2);
  CHECK(f.count("c", 1103) == 1);
  // Many keys never grow it past the bound.
  for (int i = 0; i < 1000; ++i) f.failed("k" + std::to_string(i), 1104);
  CHECK(f.size() == 3);
}

namespace {
std::optional<std::string> combined(BodyGuard& g) {
  auto head = g.take();
  if (!head) return std::nullopt;
  return head->combined;
}
}  // namespace

TEST_CASE("the guard joins every line of the combined header, per request", "[body_guard]") {
  BodyGuard g([](std::string_view, std::string_view) -> std::uint64_t { return 100; }, "x-forwarded-for");
  CHECK_FALSE(combined(g));  // no head seen
  REQUIRE(g.feed("GET / HTTP/1.1\r\nX-Forwarded-For: 198.51.100.7\r\nHost: x\r\n"
                 "x-forwarded-for:203.0.113.9 \r\n\r\n") == BodyGuard::Verdict::pass);
  CHECK(combined(g) == std::string("198.51.100.7, 203.0.113.9"));
  CHECK_FALSE(combined(g));
  REQUIRE(g.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == BodyGuard::Verdict::pass);
  CHECK(combined(g) == std::string());
  // A head split over reads, with a body: counted once it is complete.
  REQUIRE(g.feed("POST / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 3.3.3.3\r\nContent-") == BodyGuard::Verdict::pass);
  CHECK_FALSE(combined(g));
  REQUIRE(g.feed("Length: 24\r\n\r\nX-Forwarded-For: 4.4.4.4") == BodyGuard::Verdict::pass);  // the body
  CHECK(combined(g) == std::string("3.3.3.3"));
  // Two pipelined heads: only the first is served (then the connection
  // closes), so only its header is taken.
  REQUIRE(g.feed("GET /a HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n"
                 "GET /b HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n") == BodyGuard::Verdict::pipelined);
  CHECK(combined(g) == std::string("1.1.1.1"));
  CHECK_FALSE(combined(g));
}

TEST_CASE("a head the parser refused leaves no header for a later take", "[body_guard]") {
  // The guard queued the head, then Pistache's parser refused the request
  // (server.cpp calls stop() and answers 400 itself): onRequest never took
  // its X-Forwarded-For, and nothing later may get it.
  BodyGuard g([](std::string_view, std::string_view) -> std::uint64_t { return 100; }, "x-forwarded-for");
  REQUIRE(g.feed("GET /\x01 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n") ==
          BodyGuard::Verdict::pass);
  g.stop();
  CHECK_FALSE(combined(g));
  CHECK(g.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == BodyGuard::Verdict::dropped);
  CHECK_FALSE(combined(g));
}

TEST_CASE("new config keys are validated", "[config]") {
  using config::Config;
  auto c = Config::load("", {});
  CHECK(c.server.client_ip_header == "x-forwarded-for");
  CHECK(c.rate_limit.ipv6_prefix == 64);
  CHECK(c.auth.max_live_links == 3);
  CHECK(Config::load("", {{"GATEHOUSE_SERVER_CLIENT_IP_HEADER", "forwarded"}}).server.client_ip_header == "forwarded");
  CHECK_THROWS_WITH(Config::load("", {{"GATEHOUSE_SERVER_CLIENT_IP_HEADER", "X-Real-IP"}}),
                    Catch::Contains("server.client_ip_header"));
  CHECK_THROWS_WITH(Config::load("", {{"GATEHOUSE_RATE_LIMIT_IPV6_PREFIX", "8"}}),
                    Catch::Contains("rate_limit.ipv6_prefix"));
  CHECK_THROWS_WITH(Config::load("", {{"GATEHOUSE_COOKIE_DEVICE_NAME", "__Host-gatehouse_refresh"}}),
                    Catch::Contains("cookie.device_name"));
  CHECK_THROWS_WITH(Config::load("", {{"GATEHOUSE_COOKIE_SECURE", "false"}, {"GATEHOUSE_COOKIE_NAME", "r"}}),
                    Catch::Contains("__Host-"));  // the device cookie still has the prefix
}

TEST_CASE("links stay valid until one is used, at most max_live at once", "[store]") {
  auto dir = std::filesystem::temp_directory_path() / ("gh-limits-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  store::Status st;
  auto db = store::lmdb::open({dir.string(), 16u << 20}, st);
  REQUIRE(db);
  auto batch = db->batch();
  REQUIRE(batch->apply([](store::WriteTxn& t) {
                 domain::OneTimeToken o{"reset", "u1", 1000, false, "", ""}, got;
                 bool issued = false;
                 for (auto h : {"h1", "h2", "h3"}) {
                   REQUIRE(t.issue_otp(h, o, 3, 100, issued).ok());
                   CHECK(issued);
                 }
                 REQUIRE(t.issue_otp("h4", o, 3, 100, issued).ok());
                 CHECK_FALSE(issued);  // at the cap
                 CHECK(t.otp("h4", got).is_not_found());
                 for (auto h : {"h1", "h2", "h3"}) {  // earlier ones still valid
                   REQUIRE(t.otp(h, got).ok());
                   CHECK_FALSE(got.used);
                 }
                 // Another purpose and another user have their own.
                 REQUIRE(t.issue_otp("m1", domain::OneTimeToken{"magic", "u1", 1000, false, "", ""}, 3, 100, issued).ok());
                 CHECK(issued);
                 // Once they expire, new ones are issued again.
                 domain::OneTimeToken later{"reset", "u1", 2000, false, "", ""};
                 REQUIRE(t.issue_otp("h5", later, 3, 1000, issued).ok());
                 CHECK(issued);
                 // Using one retires the other live ones of that purpose only.
                 REQUIRE(t.issue_otp("h6", later, 3, 1000, issued).ok());
                 REQUIRE(t.retire_otps("u1", "reset").ok());
                 REQUIRE(t.otp("h5", got).ok());
                 CHECK(got.used);
                 REQUIRE(t.otp("h6", got).ok());
                 CHECK(got.used);
                 REQUIRE(t.otp("m1", got).ok());
                 CHECK_FALSE(got.used);
                 return false;  // rolled back
               })
              .ok());
  CHECK(batch->size() == 0);
  batch.reset();
  db.reset();
  std::filesystem::remove_all(dir);
}
