#include "domain/base64url.hpp"
#include "domain/jwt.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sodium.h>

using namespace gh::domain;
using nlohmann::json;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

AccessClaims claims() {
  AccessClaims c;
  c.iss = "https://auth.example";
  c.aud = "app";
  c.sub = "u1";
  c.sid = "s1";
  c.jti = "j1";
  c.role = "user";
  c.client_id = "gatehouse";
  c.iat = c.nbf = kNow;
  c.exp = kNow + 900;
  return c;
}

VerifyOptions opts() { return {"https://auth.example", "app", 30}; }

KeyRing ring_with(const char* kid) {
  gh::domain::SigningKey k{kid, std::string(32, 'k'), 0};
  return KeyRing(k, nullptr);
}

// A token with arbitrary header and payload, signed by `ring`.
std::string forge(const json& header, const json& payload, const KeyRing& ring) {
  auto input = b64url_encode(header.dump()) + "." + b64url_encode(payload.dump());
  return input + "." + b64url_encode(ring.sign(input));
}

json payload_of(const std::string& token) {
  auto a = token.find('.'), b = token.rfind('.');
  return json::parse(*b64url_decode(token.substr(a + 1, b - a - 1)));
}

JwtError verify(const std::string& token, const KeyRing& ring, std::int64_t now = kNow) {
  AccessClaims out;
  auto e = verify_signature(token, ring, out);
  return e != JwtError::ok ? e : check_claims(out, opts(), now);
}

}  // namespace

TEST_CASE("a signed access token verifies and round-trips its claims", "[jwt]") {
  REQUIRE(sodium_init() >= 0);
  auto ring = ring_with("k1");
  auto token = sign_access_token(claims(), ring);
  AccessClaims out;
  REQUIRE(verify_signature(token, ring, out) == JwtError::ok);
  CHECK(out.sub == "u1");
  CHECK(out.sid == "s1");
  CHECK(out.role == "user");
  CHECK(out.exp == kNow + 900);
  CHECK(check_claims(out, opts(), kNow) == JwtError::ok);
  auto header = json::parse(*b64url_decode(token.substr(0, token.find('.'))));
  CHECK(header == json{{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", "k1"}});
}

TEST_CASE("the header is pinned: alg, typ, kid and key-fetching headers", "[jwt]") {
  auto ring = ring_with("k1");
  auto p = payload_of(sign_access_token(claims(), ring));
  CHECK(verify(forge({{"alg", "none"}, {"typ", "at+jwt"}, {"kid", "k1"}}, p, ring), ring) == JwtError::bad_header);
  CHECK(verify(forge({{"alg", "HS256"}, {"typ", "at+jwt"}, {"kid", "k1"}}, p, ring), ring) == JwtError::bad_header);
  CHECK(verify(forge({{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", "k1"}}, p, ring), ring) == JwtError::bad_header);
  CHECK(verify(forge({{"alg", "EdDSA"}, {"kid", "k1"}}, p, ring), ring) == JwtError::bad_header);
  for (const char* h : {"jku", "x5u", "jwk", "x5c", "crit"})
    CHECK(verify(forge({{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", "k1"}, {h, "https://evil"}}, p, ring), ring) ==
          JwtError::bad_header);
  CHECK(verify(forge({{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", "../../etc/passwd"}}, p, ring), ring) ==
        JwtError::unknown_key);
  CHECK(verify(forge({{"alg", "EdDSA"}, {"typ", "at+jwt"}}, p, ring), ring) == JwtError::unknown_key);
  CHECK(verify(forge({{"alg", "EdDSA"}, {"typ", "application/at+jwt"}, {"kid", "k1"}}, p, ring), ring) ==
        JwtError::ok);
}

TEST_CASE("a tampered payload, a foreign key or a broken signature fail", "[jwt]") {
  auto ring = ring_with("k1");
  auto token = sign_access_token(claims(), ring);
  auto d1 = token.find('.'), d2 = token.rfind('.');
  auto p = payload_of(token);
  p["role"] = "admin";
  auto tampered = token.substr(0, d1 + 1) + b64url_encode(p.dump()) + token.substr(d2);
  CHECK(verify(tampered, ring) == JwtError::bad_signature);
  CHECK(verify(token.substr(0, d2 + 1), ring) == JwtError::bad_signature);
  CHECK(verify(token.substr(0, d2 + 1) + "AAAA", ring) == JwtError::bad_signature);
  CHECK(verify(token.substr(0, d2 + 1) + "!!!!", ring) == JwtError::bad_signature);
  // Same kid, other key: the signature must not verify.
  gh::domain::SigningKey other{"k1", std::string(32, 'x'), 0};
  CHECK(verify(sign_access_token(claims(), KeyRing(other, nullptr)), ring) == JwtError::bad_signature);
}

TEST_CASE("malformed tokens are refused before any crypto", "[jwt]") {
  auto ring = ring_with("k1");
  for (std::string t : {"", "abc", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.", "W10.W10.AAAA"})
    CHECK(verify(t, ring) != JwtError::ok);
  CHECK(verify(std::string(kMaxJwtBytes + 1, 'a'), ring) == JwtError::malformed);
}

TEST_CASE("time, issuer and audience are checked with leeway", "[jwt]") {
  auto ring = ring_with("k1");
  auto token = sign_access_token(claims(), ring);
  CHECK(verify(token, ring, kNow + 900 + 30) == JwtError::ok);
  CHECK(verify(token, ring, kNow + 900 + 31) == JwtError::expired);
  CHECK(verify(token, ring, kNow - 31) == JwtError::not_yet_valid);
  auto c = claims();
  c.iss = "https://other";
  CHECK(verify(sign_access_token(c, ring), ring) == JwtError::wrong_issuer);
  c = claims();
  c.aud = "other-app";
  CHECK(verify(sign_access_token(c, ring), ring) == JwtError::wrong_audience);
  auto p = payload_of(token);
  p.erase("exp");
  CHECK(verify(forge({{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", "k1"}}, p, ring), ring) ==
        JwtError::missing_claim);
  p = payload_of(token);
  p["aud"] = json::array({"app"});
  CHECK(verify(forge({{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", "k1"}}, p, ring), ring) ==
        JwtError::wrong_audience);
}

TEST_CASE("after rotation the previous key still verifies, the new one signs", "[jwt]") {
  gh::domain::SigningKey old_key{"old", std::string(32, 'o'), 0};
  gh::domain::SigningKey new_key{"new", std::string(32, 'n'), 1};
  auto old_token = sign_access_token(claims(), KeyRing(old_key, nullptr));
  KeyRing rotated(new_key, &old_key);
  CHECK(verify(old_token, rotated) == JwtError::ok);
  CHECK(rotated.kid() == "new");
  CHECK(rotated.jwks()["keys"].size() == 2);
  CHECK(rotated.jwks()["keys"][0]["kty"] == "OKP");
  CHECK(rotated.jwks()["keys"][0]["crv"] == "Ed25519");
  CHECK(rotated.jwks()["keys"][0].count("d") == 0);  // never the private part
  CHECK(verify(old_token, KeyRing(new_key, nullptr)) == JwtError::unknown_key);
}
