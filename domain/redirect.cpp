#include "domain/redirect.hpp"

#include <algorithm>

namespace gh::domain {

std::string origin_of(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  auto path = url.find_first_of("/?#", scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

bool redirect_allowed(const std::string& url, const std::string& public_url,
                      const std::vector<std::string>& allowed) {
  if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) return false;
  for (unsigned char c : url)
    if (c <= 0x20 || c == 0x7f || c == '\\') return false;
  auto o = origin_of(url);
  if (o.size() <= url.find("://") + 3) return false;  // no host
  return o == origin_of(public_url) || std::find(allowed.begin(), allowed.end(), o) != allowed.end();
}

std::string with_query(const std::string& url, const std::string& key, const std::string& value) {
  auto hash = url.find('#');
  auto base = url.substr(0, hash);
  auto fragment = hash == std::string::npos ? std::string() : url.substr(hash);
  if (base.find('?') == std::string::npos) base += '?';
  else if (base.back() != '?' && base.back() != '&') base += '&';
  return base + key + "=" + value + fragment;
}

}  // namespace gh::domain
