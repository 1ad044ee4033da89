#include "domain/password.hpp"

#include <catch2/catch.hpp>
#include <crypt.h>
#include <sodium.h>

using namespace gh::domain;

namespace {
PasswordPolicy policy() { return PasswordPolicy(8, 1024, {"password123", "Qwerty123"}); }
const HashParams kFast{1, 8u << 20};
}  // namespace

TEST_CASE("password policy: length in characters, byte cap, blocklist", "[password]") {
  auto p = policy();
  CHECK(p.check("1234567"));
  CHECK_FALSE(p.check("correct horse"));
  CHECK(p.check("PASSWORD123"));  // blocklist ignores case
  CHECK(p.check("qwerty123"));
  CHECK(p.check(std::string(1025, 'a')));
  CHECK_FALSE(p.check(std::string(1024, 'a')));
  CHECK_FALSE(p.check(std::string(64, 'a')));
  // 8 emoji are 8 characters (32 bytes); 7 are too few.
  std::string smile = "\xF0\x9F\x98\x80";
  std::string eight, seven;
  for (int i = 0; i < 8; ++i) eight += smile;
  for (int i = 0; i < 7; ++i) seven += smile;
  CHECK_FALSE(p.check(eight));
  CHECK(p.check(seven));
  CHECK(p.check(std::string(2000, 'a'))->find("1024") != std::string::npos);
}

TEST_CASE("Argon2id hashes verify exactly the bytes given, NUL included", "[password]") {
  REQUIRE(sodium_init() >= 0);
  std::string with_nul("pw\0xxxxxxx", 10);
  auto h = hash_password(with_nul, kFast);
  REQUIRE(h);
  CHECK(h->rfind("$argon2id$", 0) == 0);
  CHECK(verify_password(*h, with_nul));
  CHECK_FALSE(verify_password(*h, "pw"));
  CHECK_FALSE(verify_password(*h, std::string("pw\0xxxxxxy", 10)));
  CHECK_FALSE(verify_password("not a hash", with_nul));
  CHECK_FALSE(verify_password("", with_nul));
}

TEST_CASE("imported bcrypt hashes verify and always need a rehash", "[password]") {
  // "correct horse" under bcrypt cost 4, made with libxcrypt.
  std::string salt = "$2b$04$abcdefghijklmnopqrstuu";
  crypt_data data{};
  std::string h = crypt_r("correct horse", salt.c_str(), &data);
  REQUIRE(is_bcrypt(h));
  CHECK(verify_password(h, "correct horse"));
  CHECK_FALSE(verify_password(h, "correct horsf"));
  CHECK_FALSE(verify_password(h, std::string("correct horse\0x", 15)));
  CHECK(needs_rehash(h, kFast));
}

TEST_CASE("hashes made with other parameters need a rehash", "[password]") {
  auto h = hash_password("correct horse", kFast);
  REQUIRE(h);
  CHECK_FALSE(needs_rehash(*h, kFast));
  CHECK(needs_rehash(*h, HashParams{2, 8u << 20}));
  CHECK(needs_rehash("garbage", kFast));
}
