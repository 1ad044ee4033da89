#include "domain/device.hpp"

#include "domain/base64url.hpp"

#include <sodium.h>

#include <algorithm>

namespace gh::domain {

DeviceTokens::DeviceTokens(std::string secret) : secret_(std::move(secret)) {}

std::string DeviceTokens::mac(std::string_view email, std::int64_t epoch, std::string_view nonce,
                              std::string_view expires) const {
  std::string msg = "gatehouse-device-v2\n";
  msg.append(email).append("\n").append(std::to_string(epoch)).append("\n").append(nonce).append("\n").append(expires);
  unsigned char out[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret_.data()), secret_.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
  crypto_auth_hmacsha256_final(&st, out);
  return b64url_encode(std::string_view(reinterpret_cast<char*>(out), sizeof out));
}

std::string DeviceTokens::issue(std::string_view email, std::int64_t epoch, std::int64_t now,
                                std::int64_t ttl_s) const {
  auto nonce = b64url_encode(random_bytes(16));
  auto expires = std::to_string(now + ttl_s);
  return nonce + "." + expires + "." + mac(email, epoch, nonce, expires);
}

std::optional<std::string> DeviceTokens::verify(std::string_view token, std::string_view email,
                                                std::int64_t epoch, std::int64_t now) const {
  if (token.size() > 128) return std::nullopt;
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return std::nullopt;
  auto nonce = token.substr(0, dot1), expires = token.substr(dot1 + 1, dot2 - dot1 - 1);
  auto got = token.substr(dot2 + 1);
  if (nonce.size() != 22 || expires.empty() || expires.size() > 12 ||
      !std::all_of(expires.begin(), expires.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  auto want = mac(email, epoch, nonce, expires);
  if (got.size() != want.size() || sodium_memcmp(got.data(), want.data(), want.size()) != 0) return std::nullopt;
  if (std::stoll(std::string(expires)) <= now) return std::nullopt;
  return std::string(nonce);
}

}  // namespace gh::domain
