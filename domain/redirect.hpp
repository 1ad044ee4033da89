// Where a magic link may send the browser afterwards, and the URL it gets.
// Pure functions: the HTTP layer checks a redirect when the link is asked
// for, the user actor builds the final URL when the link is used.
#pragma once

#include <string>
#include <vector>

namespace gh::domain {

/// "https://a.example:8443/x?y" -> "https://a.example:8443"; "" without "://".
std::string origin_of(const std::string& url);

/// May a magic link redirect to `url`? Only an http:// or https:// URL
/// (lowercase scheme) without whitespace, control characters or
/// backslashes, whose origin is `public_url`'s or one of `allowed`.
bool redirect_allowed(const std::string& url, const std::string& public_url,
                      const std::vector<std::string>& allowed);

/// `url` with `key=value` added to its query (`?` or `&`), before any
/// fragment. `value` must already be URL-safe (base64url).
std::string with_query(const std::string& url, const std::string& key, const std::string& value);

}  // namespace gh::domain
