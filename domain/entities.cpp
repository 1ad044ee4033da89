#include "domain/entities.hpp"

#include <utility>

namespace gh::domain {

namespace {
constexpr std::pair<RevokeReason, const char*> kRevokeReasons[] = {
    {RevokeReason::logout, "logout"},
    {RevokeReason::logout_all, "logout_all"},
    {RevokeReason::revoked_by_user, "revoked_by_user"},
    {RevokeReason::session_limit, "session_limit"},
    {RevokeReason::reuse, "reuse"},
    {RevokeReason::password_changed, "password_changed"},
    {RevokeReason::deactivated, "deactivated"},
};
}  // namespace

const char* revoke_reason_name(RevokeReason r) {
  for (auto& [reason, name] : kRevokeReasons)
    if (reason == r) return name;
  return "unknown";
}

bool parse_revoke_reason(std::string_view name, RevokeReason& out) {
  for (auto& [reason, n] : kRevokeReasons)
    if (name == n) {
      out = reason;
      return true;
    }
  return false;
}

bool otp_usable(const OneTimeToken& otp, const User* owner, std::string_view purpose, std::int64_t now) {
  return !otp.used && otp.purpose == purpose && otp.expires_at > now && owner && owner->active;
}

}  // namespace gh::domain
