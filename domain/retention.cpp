#include "domain/retention.hpp"

#include <algorithm>

namespace gh::domain {

bool session_live(const domain::Session& s, std::int64_t now) { return !s.revoked && s.expires_at > now; }

bool api_key_live(const domain::ApiKey& k, std::int64_t now) {
  return !k.revoked && (k.expires_at == 0 || k.expires_at > now);
}

std::vector<std::size_t> sessions_over_cap(const std::vector<domain::Session>& sessions, std::int64_t now, int cap) {
  std::vector<std::size_t> live;
  for (std::size_t i = 0; i < sessions.size(); ++i)
    if (session_live(sessions[i], now)) live.push_back(i);
  if (cap < 1 || live.size() < static_cast<std::size_t>(cap)) return {};
  std::sort(live.begin(), live.end(), [&](std::size_t a, std::size_t b) {
    const auto &x = sessions[a], &y = sessions[b];
    if (x.last_used_at != y.last_used_at) return x.last_used_at < y.last_used_at;
    return x.created_at != y.created_at ? x.created_at < y.created_at : x.id < y.id;
  });
  live.resize(live.size() - static_cast<std::size_t>(cap) + 1);
  return live;
}

PruneRules prune_rules(std::int64_t now, std::int64_t retention_s) {
  auto ended = [now, retention_s](std::int64_t expires_at) { return now >= expires_at + retention_s; };
  return {
      [ended](const domain::Session& s) { return ended(s.expires_at); },
      [ended](const domain::RefreshRef& r) { return ended(r.expires_at); },
      [ended](const domain::ApiKey& k) { return k.revoked || (k.expires_at != 0 && ended(k.expires_at)); },
      [ended](const domain::OneTimeToken& o) { return o.used || ended(o.expires_at); },
  };
}

}  // namespace gh::domain
