// Unicode rules (issue 12 item 13): emails refuse invisible and compatibility
// code points and are lowercased beyond ASCII; passwords are NFKC-normalised
// before hashing and verifying, with the raw-bytes fallback for old hashes.
#include "domain/email.hpp"
#include "domain/password.hpp"
#include "domain/unicode.hpp"

#include <catch2/catch.hpp>
#include <sodium.h>

using namespace gh::domain;

namespace {
std::string norm(std::string_view in) {
  std::string why;
  auto r = normalize_email(in, why);
  return r ? *r : "ERR:" + why;
}
bool refused(std::string_view in) { return norm(in).rfind("ERR:", 0) == 0; }
const HashParams kFast{1, 8u << 20};
const std::string kNfc = "caf\xC3\xA9 au lait";   // "café" with U+00E9
const std::string kNfd = "cafe\xCC\x81 au lait";  // "cafe" + U+0301
}  // namespace

TEST_CASE("emails: invisible, format and other non-printing code points are refused", "[unicode]") {
  for (const char* cp : {"\xE2\x80\x8B",      // U+200B zero width space (Cf)
                         "\xE2\x80\x8C",      // U+200C ZWNJ
                         "\xE2\x80\x8D",      // U+200D ZWJ
                         "\xE2\x81\xA0",      // U+2060 word joiner
                         "\xEF\xBB\xBF",      // U+FEFF BOM
                         "\xC2\xAD",          // U+00AD soft hyphen
                         "\xE2\x80\xAE",      // U+202E right-to-left override
                         "\xEF\xB8\x8F",      // U+FE0F variation selector (Mn, default-ignorable)
                         "\xE1\x85\x9F",      // U+115F Hangul filler (Lo, default-ignorable)
                         "\xC2\xA0",          // U+00A0 no-break space (Zs)
                         "\xE3\x80\x80",      // U+3000 ideographic space
                         "\xEE\x80\x80",      // U+E000 private use
                         "\xF3\xA0\x80\x81"}) {  // U+E0001 language tag
    INFO(cp);
    CHECK(refused(std::string("ali") + cp + "ce@example.com"));
    CHECK(refused(std::string(cp) + "alice@example.com"));
  }
  CHECK(refused("al\xFFice@example.com"));    // not UTF-8
  CHECK(refused("al\xC3ice@example.com"));    // truncated sequence
  CHECK(refused("\xC3\xA4lice@b\xC3\xBC" "cher.de"));  // non-ASCII domain: punycode it
}

TEST_CASE("emails: non-ASCII letters are lowercased (NFC) into one account", "[unicode]") {
  const std::string alice = "\xC3\xA4lice@example.com";  // älice
  CHECK(norm("\xC3\x84LICE@EXAMPLE.COM") == alice);     // ÄLICE
  CHECK(norm(alice) == alice);
  CHECK(norm("a\xCC\x88lice@example.com") == alice);    // a + combining diaeresis (NFD)
  CHECK(norm("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3@example.gr") ==
        "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82@example.gr");  // ΟΔΟΣ -> οδος (final sigma)
  CHECK(norm("\xD0\x98\xD0\xB2\xD0\xB0\xD0\xBD@example.ru") == "\xD0\xB8\xD0\xB2\xD0\xB0\xD0\xBD@example.ru");  // Иван
  // ß is kept: folding it to "ss" would name another mailbox.
  CHECK(norm("stra\xC3\x9F" "e@example.de") == "stra\xC3\x9F" "e@example.de");
  // Compatibility forms (fullwidth letters, ligatures) are refused, not mapped.
  CHECK(refused("\xEF\xBD\x81lice@example.com"));  // fullwidth a
  CHECK(refused("\xEF\xAC\x81le@example.com"));    // ﬁ ligature
  // The normal form is stable.
  for (auto in : {std::string("\xC3\x84LICE@EXAMPLE.COM"), std::string("I\xCC\x87@x.org"), std::string("\xC4\xB0@x.org")})
    CHECK(norm(norm(in)) == norm(in));
  // ASCII is as before.
  CHECK(norm("Alice@Example.COM") == "alice@example.com");
}

TEST_CASE("passwords are hashed and verified in NFKC", "[unicode][password]") {
  REQUIRE(sodium_init() >= 0);
  CHECK(normalize_password(kNfd) == kNfc);
  CHECK(normalize_password("\xEF\xBC\xA1" "bc") == "Abc");       // fullwidth A
  CHECK(normalize_password("a\xC2\xA0" "b") == "a b");           // no-break space
  CHECK(normalize_password(std::string("pw\0x", 4)) == std::string("pw\0x", 4));  // NUL kept
  CHECK(normalize_password("\xFF\xFE raw") == "\xFF\xFE raw");    // not UTF-8: as received
  auto h = hash_password(kNfc, kFast);
  REQUIRE(h);
  bool legacy = true;
  CHECK(verify_password(*h, kNfd, &legacy));
  CHECK_FALSE(legacy);
  CHECK(verify_password(*h, kNfc));
  CHECK_FALSE(verify_password(*h, "cafe au lait"));
  // The brief's SECURITY.md case 8 still holds after normalisation.
  auto nul = hash_password(std::string("pw\0x", 4), kFast);
  REQUIRE(nul);
  CHECK_FALSE(verify_password(*nul, "pw"));
}

TEST_CASE("hashes of the raw bytes (before NFKC) still verify and are flagged for a rehash", "[unicode][password]") {
  REQUIRE(sodium_init() >= 0);
  // What an older build stored for an NFD password: a hash of its raw bytes.
  char out[crypto_pwhash_STRBYTES];
  REQUIRE(crypto_pwhash_str_alg(out, kNfd.data(), kNfd.size(), 1, 8u << 20, crypto_pwhash_ALG_ARGON2ID13) == 0);
  std::string old(out);
  bool legacy = false;
  CHECK(verify_password(old, kNfd, &legacy));
  CHECK(legacy);  // the caller stores a hash of the NFKC form
  CHECK_FALSE(verify_password(old, kNfc, &legacy));  // the raw NFD bytes were what was hashed
  CHECK_FALSE(verify_password(old, "wrong", &legacy));
  CHECK_FALSE(legacy);
}

TEST_CASE("the policy judges the NFKC form after the byte cap on the raw one", "[unicode][password]") {
  PasswordPolicy p(8, 1024, {"password123"});
  CHECK(p.check("\xEF\xBD\x90\xEF\xBD\x81\xEF\xBD\x93\xEF\xBD\x93\xEF\xBD\x97\xEF\xBD\x8F\xEF\xBD\x92\xEF\xBD\x84"
                "123"));  // fullwidth "password" + 123 is on the blocklist
  std::string ligatures;
  for (int i = 0; i < 342; ++i) ligatures += "\xEF\xAC\x83";  // ﬃ: 3 bytes, NFKC "ffi"
  REQUIRE(ligatures.size() == 1026);
  CHECK(p.check(ligatures)->find("1024") != std::string::npos);  // cap on what was received
  // 64 emoji and spaces (the brief's SECURITY.md case 12) are accepted.
  std::string emoji;
  for (int i = 0; i < 32; ++i) emoji += "\xF0\x9F\x98\x80 ";
  CHECK_FALSE(p.check(emoji));
  CHECK(valid_utf8(emoji));
  CHECK_FALSE(has_invisible("abc"));
  CHECK(has_invisible("a\xE2\x80\x8B"));
}
