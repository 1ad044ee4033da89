#include "domain/entities.hpp"

namespace gh::domain {

bool otp_usable(const OneTimeToken& otp, const User* owner, std::string_view purpose, std::int64_t now) {
  return !otp.used && otp.purpose == purpose && otp.expires_at > now && owner && owner->active;
}

}  // namespace gh::domain
