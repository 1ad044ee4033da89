// Issue 12 items 1 and 11: where a magic link may redirect, the URL its code
// rides on, the one-time token record's bound redirect, and the log driver's
// redaction.
#include "domain/mail.hpp"
#include "domain/pkce.hpp"
#include "domain/redirect.hpp"
#include "config/config.hpp"
#include "store/lmdb/records.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace gh;

TEST_CASE("a magic link redirects only to an http(s) URL of an allowed origin", "[links]") {
  const std::string pub = "https://auth.example.com/base";
  const std::vector<std::string> allowed = {"https://app.example.com", "http://127.0.0.1:5000"};
  CHECK(domain::redirect_allowed("https://app.example.com/cb?x=1", pub, allowed));
  CHECK(domain::redirect_allowed("https://app.example.com", pub, allowed));
  CHECK(domain::redirect_allowed("http://127.0.0.1:5000/cb", pub, allowed));
  CHECK(domain::redirect_allowed("https://auth.example.com/done", pub, allowed));
  CHECK_FALSE(domain::redirect_allowed("javascript:alert(1)", pub, allowed));
  CHECK_FALSE(domain::redirect_allowed("javascript://app.example.com/%0aalert(1)", pub, {"javascript://app.example.com"}));
  CHECK_FALSE(domain::redirect_allowed("data:text/html,x", pub, allowed));
  CHECK_FALSE(domain::redirect_allowed("HTTPS://app.example.com/", pub, allowed));
  CHECK_FALSE(domain::redirect_allowed("//app.example.com/", pub, allowed));
  CHECK_FALSE(domain::redirect_allowed("https://evil.example/", pub, allowed));
  CHECK_FALSE(domain::redirect_allowed("https://app.example.com.evil.example/", pub, allowed));
  CHECK_FALSE(domain::redirect_allowed("https://app.example.com@evil.example/", pub, allowed));
  CHECK_FALSE(domain::redirect_allowed("https://app.example.com:443/", pub, allowed));  // not the listed origin
  CHECK_FALSE(domain::redirect_allowed("https://app.example.com/\\evil", pub, allowed));
  CHECK_FALSE(domain::redirect_allowed("https://app.example.com/a b", pub, allowed));
  CHECK_FALSE(domain::redirect_allowed("https://app.example.com/\n", pub, allowed));
  CHECK_FALSE(domain::redirect_allowed("https://", pub, {"https://"}));
}

TEST_CASE("the code is added to the redirect's query, before any fragment", "[links]") {
  CHECK(domain::with_query("https://a.example/cb", "code", "C") == "https://a.example/cb?code=C");
  CHECK(domain::with_query("https://a.example/cb?x=1", "code", "C") == "https://a.example/cb?x=1&code=C");
  CHECK(domain::with_query("https://a.example/cb?", "code", "C") == "https://a.example/cb?code=C");
  CHECK(domain::with_query("https://a.example/cb?x=1&", "code", "C") == "https://a.example/cb?x=1&code=C");
  CHECK(domain::with_query("https://a.example/cb#top", "code", "C") == "https://a.example/cb?code=C#top");
  CHECK(domain::with_query("https://a.example/cb?x#t?y", "code", "C") == "https://a.example/cb?x&code=C#t?y");
}

TEST_CASE("a one-time token keeps its bound redirect, and older records still decode", "[links][store]") {
  domain::OneTimeToken o{"magic", "uid", 77, false, "https://app.example.com/cb", ""}, o2;
  REQUIRE(store::decode(store::encode(o), o2));
  CHECK(o2.redirect_to == o.redirect_to);
  // A record written before the redirect existed: no "r" key.
  std::string old(1, '\x01');
  nlohmann::json::to_cbor(nlohmann::json{{"p", "magic"}, {"u", "uid"}, {"ex", 5}, {"us", false}}, old);
  o2.redirect_to = "stale";
  REQUIRE(store::decode(old, o2));
  CHECK(o2.redirect_to.empty());
  CHECK(o2.purpose == "magic");
  // Without a redirect the record is byte for byte what older builds wrote.
  domain::OneTimeToken plain{"magic", "uid", 5, false, "", ""};
  CHECK(store::encode(plain) == old);
  std::string wrong(1, '\x01');
  nlohmann::json::to_cbor(nlohmann::json{{"p", "magic"}, {"u", "uid"}, {"ex", 5}, {"us", false}, {"r", 3}}, wrong);
  CHECK_FALSE(store::decode(wrong, o2));
}

TEST_CASE("PKCE S256: challenge and verifier syntax, and the check", "[links][pkce]") {
  // RFC 7636 appendix B.
  const std::string verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const std::string challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  CHECK(domain::pkce_s256(verifier) == challenge);
  CHECK(domain::pkce_challenge_valid(challenge));
  CHECK(domain::pkce_verifier_valid(verifier));
  CHECK(domain::pkce_matches(verifier, challenge));
  // Challenge: 43 base64url characters of 32 bytes, nothing else.
  CHECK_FALSE(domain::pkce_challenge_valid(""));
  CHECK_FALSE(domain::pkce_challenge_valid(challenge.substr(0, 42)));
  CHECK_FALSE(domain::pkce_challenge_valid(challenge + "A"));
  CHECK_FALSE(domain::pkce_challenge_valid(challenge + "="));
  CHECK_FALSE(domain::pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"));  // not url-safe
  CHECK_FALSE(domain::pkce_challenge_valid(verifier.substr(0, 42) + "~"));
  // Verifier: 43..128 unreserved characters.
  CHECK(domain::pkce_verifier_valid(std::string(43, 'a')));
  CHECK(domain::pkce_verifier_valid(std::string(128, '~')));
  CHECK(domain::pkce_verifier_valid("A-._~" + std::string(38, '9')));
  CHECK_FALSE(domain::pkce_verifier_valid(std::string(42, 'a')));
  CHECK_FALSE(domain::pkce_verifier_valid(std::string(129, 'a')));
  for (char bad : {' ', '+', '/', '=', '%', '\0', '\x80'})
    CHECK_FALSE(domain::pkce_verifier_valid(std::string(42, 'a') + bad));
  // The check: only the verifier of that challenge, both well formed.
  CHECK_FALSE(domain::pkce_matches(verifier, ""));
  CHECK_FALSE(domain::pkce_matches(std::string(43, 'a'), challenge));
  CHECK_FALSE(domain::pkce_matches(challenge, challenge));
  CHECK_FALSE(domain::pkce_matches(verifier.substr(0, 42), domain::pkce_s256(verifier.substr(0, 42))));  // too short
  auto longest = std::string(128, 'z');
  CHECK(domain::pkce_matches(longest, domain::pkce_s256(longest)));
}

TEST_CASE("a one-time token's challenge is optional in the record", "[links][pkce]") {
  domain::OneTimeToken o{"code", "uid", 77, false, "", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, o2;
  REQUIRE(store::decode(store::encode(o), o2));
  CHECK(o2.code_challenge == o.code_challenge);
  std::string old(1, '\x01');
  nlohmann::json::to_cbor(nlohmann::json{{"p", "magic"}, {"u", "uid"}, {"ex", 5}, {"us", false}, {"r", "https://a/cb"}}, old);
  o2.code_challenge = "stale";
  REQUIRE(store::decode(old, o2));
  CHECK(o2.code_challenge.empty());
  CHECK(store::encode(domain::OneTimeToken{"magic", "uid", 5, false, "https://a/cb", ""}) == old);
  std::string wrong(1, '\x01');
  nlohmann::json::to_cbor(nlohmann::json{{"p", "code"}, {"u", "uid"}, {"ex", 5}, {"us", false}, {"cc", 3}}, wrong);
  CHECK_FALSE(store::decode(wrong, o2));
}

TEST_CASE("one liveness rule for one-time tokens", "[links]") {
  domain::User active, inactive;
  inactive.active = false;
  domain::OneTimeToken t{"magic", "uid", 100, false, "", ""};
  CHECK(domain::otp_usable(t, &active, "magic", 99));
  CHECK_FALSE(domain::otp_usable(t, &active, "magic", 100));  // expired at its instant
  CHECK_FALSE(domain::otp_usable(t, &active, "code", 99));
  CHECK_FALSE(domain::otp_usable(t, &inactive, "magic", 99));
  CHECK_FALSE(domain::otp_usable(t, nullptr, "magic", 99));
  t.used = true;
  CHECK_FALSE(domain::otp_usable(t, &active, "magic", 99));
}

TEST_CASE("the log driver's links have their token redacted", "[links]") {
  CHECK(domain::redact_link("http://h/auth/magic-link?token=abc-_123") == "http://h/auth/magic-link?token=…redacted…");
  CHECK(domain::redact_link("http://h/x?a=1&token=abc&b=2") == "http://h/x?a=1&token=…redacted…&b=2");
  CHECK(domain::redact_link("http://h/x?mytoken=abc") == "http://h/x?mytoken=abc");
  CHECK(domain::redact_link("") == "");
}

TEST_CASE("notify.log_secrets is off by default; redirect origins must be http(s) origins", "[links][config]") {
  CHECK_FALSE(config::Config::load("", {}).notify.log_secrets);
  CHECK(config::Config::load("", {{"GATEHOUSE_NOTIFY_LOG_SECRETS", "true"}}).notify.log_secrets);
  CHECK(config::Config::load("", {{"GATEHOUSE_AUTH_REDIRECT_ORIGINS", "https://a.example,http://127.0.0.1:5000"}})
            .auth.redirect_origins.size() == 2);
  for (const char* bad : {"javascript://a.example", "https://a.example/path", "a.example", "https://"})
    CHECK_THROWS_WITH(config::Config::load("", {{"GATEHOUSE_AUTH_REDIRECT_ORIGINS", bad}}),
                      Catch::Contains("auth.redirect_origins"));
}
