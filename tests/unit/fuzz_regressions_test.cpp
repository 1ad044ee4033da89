// Regression tests for what the fuzz targets of tests/fuzz found (the inputs
// are also in tests/fuzz/corpus/<target>/regress_*). Each case names the
// target and what went wrong.
#include "domain/base64url.hpp"
#include "domain/jwt.hpp"
#include "http/form.hpp"
#include "store/lmdb/records.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace gh;

TEST_CASE("base64url refuses bytes outside the alphabet, which libsodium reads as '_'", "[fuzz][jwt]") {
  // fuzz_base64url: libsodium 1.0.18 decodes any byte >= 0x80 as '_', so a
  // token had several spellings.
  CHECK(domain::b64url_decode("_w") == std::string("\xff"));
  CHECK_FALSE(domain::b64url_decode("\xffw"));
  CHECK_FALSE(domain::b64url_decode("\x80\xa7\xc2\xae"));

  domain::SigningKey key{"k1", std::string(32, 'k'), 0};
  domain::KeyRing ring(key, nullptr);
  domain::AccessClaims c;
  c.iss = "i", c.aud = "a", c.sub = "u", c.sid = "s", c.exp = 2, c.iat = 1;
  std::string token;
  for (int i = 0; token.find('_') == std::string::npos; ++i) {  // a token that has a '_'
    c.jti = "j" + std::to_string(i);
    token = domain::sign_access_token(c, ring);
  }
  domain::AccessClaims out;
  REQUIRE(domain::verify_signature(token, ring, out) == domain::JwtError::ok);
  for (char& ch : token)
    if (ch == '_') ch = '\x80';
  CHECK(domain::verify_signature(token, ring, out) != domain::JwtError::ok);
}

TEST_CASE("a form body with a raw NUL byte is refused, like %00", "[fuzz][form]") {
  // fuzz_form: only the escaped NUL was refused.
  std::string why;
  CHECK_FALSE(http::parse_form(std::string("grant_type=password&username=a\0b", 32), why));
  CHECK_FALSE(http::parse_form(std::string("a\0=1", 4), why));
  CHECK(http::parse_form("a=1&b=2", why));
}

TEST_CASE("a stored record claiming an impossible CBOR length decodes to false", "[fuzz][store]") {
  // fuzz_records: nlohmann's from_cbor threw out_of_range 408 ("excessive
  // array size") outside the decoder's try block: std::terminate.
  domain::ApiKey k;
  std::string bytes("\x01\xa1\x62sc\x9b\xff\xff\xff\xff\xff\xff\xff\xfe", 14);
  CHECK_FALSE(store::decode(bytes, k));
}

TEST_CASE("a stored record with a float where an integer belongs decodes to false", "[fuzz][store]") {
  // fuzz_records: 1e300 read as int64 was undefined behaviour (UBSan).
  domain::OneTimeToken t;
  t.purpose = "magic", t.user_id = "u", t.expires_at = 5;
  auto good = store::encode(t);
  domain::OneTimeToken out;
  REQUIRE(store::decode(good, out));
  std::string bad("\x01\xa4\x61p\x65magic\x61u\x61u\x62\x65x\xfb\x7e\x37\xe4\x3c\x88\x00\x75\x9c\x62us\xf4", 30);
  CHECK_FALSE(store::decode(bad, out));
}

TEST_CASE("exp = INT64_MAX is checked without signed overflow", "[fuzz][jwt]") {
  // fuzz_jwt: check_claims computed exp + leeway, undefined for a huge exp.
  domain::AccessClaims c;
  c.iss = "i", c.aud = "a", c.iat = 0;
  domain::VerifyOptions o{"i", "a", 30};
  c.exp = std::numeric_limits<std::int64_t>::max();
  CHECK(domain::check_claims(c, o, 1'700'000'000) == domain::JwtError::ok);
  c.exp = std::numeric_limits<std::int64_t>::min();
  CHECK(domain::check_claims(c, o, 1'700'000'000) == domain::JwtError::expired);
  c.exp = 1'700'000'000 - 30;  // the leeway boundary is unchanged
  CHECK(domain::check_claims(c, o, 1'700'000'000) == domain::JwtError::ok);
  c.exp = 1'700'000'000 - 31;
  CHECK(domain::check_claims(c, o, 1'700'000'000) == domain::JwtError::expired);
}
