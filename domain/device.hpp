// Device tokens (the OWASP "device cookie" against account lock-out): after
// a successful sign-in the server gives the client a token naming the
// account and a random device nonce, signed with a server secret. A later
// login for that account that brings the token back is limited by the
// device's own budget and back-off, which failures from other clients
// cannot spend. A device token is no credential: it grants no access, only
// the right to try a password at the device's own pace.
//
// Format (base64url and decimal, dot-separated; stable, so tokens outlive
// restarts): nonce.expires.mac, with
// mac = HMAC-SHA256(secret, "gatehouse-device-v2\n" email "\n" epoch "\n" nonce "\n" expires).
// Neither the email nor the epoch is in the token: only a login for that
// email accepts it, and only while the account's device epoch
// (domain::User::device_epoch, bumped by every password change and reset) is
// the one it was issued under, so a new password voids every earlier token
// (an intruder's device keeps no budget of its own). v1 tokens (no epoch)
// no longer verify: such a client is an unknown one until its next sign-in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gh::domain {

class DeviceTokens {
 public:
  /// `secret`: 32 bytes, kept in the store (meta "device_secret").
  explicit DeviceTokens(std::string secret);

  /// A new token for the account `email` (normalised) at its device
  /// `epoch`, valid for `ttl_s`.
  std::string issue(std::string_view email, std::int64_t epoch, std::int64_t now, std::int64_t ttl_s) const;
  /// The device id (its nonce) when `token` was issued here for `email` at
  /// `epoch` and has not expired at `now`; nullopt for anything else.
  std::optional<std::string> verify(std::string_view token, std::string_view email, std::int64_t epoch,
                                    std::int64_t now) const;

 private:
  std::string mac(std::string_view email, std::int64_t epoch, std::string_view nonce, std::string_view expires) const;
  std::string secret_;
};

}  // namespace gh::domain
