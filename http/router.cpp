#include "http/router.hpp"

#include <stdexcept>

namespace gh::http {
namespace {

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 1;  // paths start with '/'
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

void Router::add(Pistache::Http::Method method, std::string pattern, Access access,
                 Handler handler, config::RateClass limit) {
  Route r{method, pattern, {}, std::move(access), std::move(handler), limit};
  for (auto seg : split(pattern)) r.segments.emplace_back(seg);
  routes_.push_back(std::move(r));
}

bool Router::match_path(const Route& r, const std::vector<std::string_view>& parts,
                        std::vector<std::string>* params) {
  if (parts.size() != r.segments.size()) return false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& seg = r.segments[i];
    if (!seg.empty() && seg.front() == '{') {
      if (parts[i].empty()) return false;
      if (params) params->emplace_back(parts[i]);
    } else if (seg != parts[i]) {
      return false;
    }
  }
  return true;
}

Router::Match Router::match(Pistache::Http::Method method, std::string_view path) const {
  Match m;
  if (path.empty() || path.front() != '/') return m;
  auto parts = split(path);
  for (auto& r : routes_) {
    if (!match_path(r, parts, nullptr)) continue;
    m.route = r.pattern;
    if (r.method == method) {
      m.handler = &r.handler;
      m.access = &r.access;
      m.limit = r.limit;
      match_path(r, parts, &m.params);
      return m;
    }
    if (!m.allow.empty()) m.allow += ", ";
    m.allow += Pistache::Http::methodString(r.method);
  }
  return m;
}

}  // namespace gh::http
