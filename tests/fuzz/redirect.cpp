// Fuzzes gh::domain::redirect_allowed and with_query: the redirect of a magic
// link is chosen by whoever asks for the link. Public URL
// https://auth.example.com, allowed origins https://app.example.com and
// http://localhost:3000.
//
// Properties: an allowed URL starts with one of those origins followed by
// its end, '/', '?' or '#' (so "https://app.example.com.evil" and
// "https://app.example.com@evil" are refused), has no whitespace, control
// character or backslash, and stays allowed, with the same origin, once the
// token is added by with_query; the token lands in the query, before any
// fragment.
#include "domain/redirect.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string public_url = "https://auth.example.com/";
  static const std::vector<std::string> allowed = {"https://app.example.com", "http://localhost:3000"};
  std::string url(as_text(data, size));
  auto origin = gh::domain::origin_of(url);
  FUZZ_CHECK(origin.empty() || url.compare(0, origin.size(), origin) == 0);
  if (!gh::domain::redirect_allowed(url, public_url, allowed)) return 0;

  bool prefix = false;
  for (const std::string o : {"https://auth.example.com", "https://app.example.com", "http://localhost:3000"})
    if (url.compare(0, o.size(), o) == 0 && (url.size() == o.size() || std::string_view("/?#").find(url[o.size()]) != std::string_view::npos))
      prefix = true;
  FUZZ_CHECK(prefix);
  for (unsigned char c : url) FUZZ_CHECK(c > 0x20 && c != 0x7f && c != '\\');

  const std::string token = "dG9rZW4tdmFsdWU";
  auto final_url = gh::domain::with_query(url, "token", token);
  FUZZ_CHECK(gh::domain::redirect_allowed(final_url, public_url, allowed));
  FUZZ_CHECK(gh::domain::origin_of(final_url) == origin);
  // base + ('?' | '&' | nothing after a trailing one) + "token=<token>" + fragment
  auto hash = url.find('#');
  auto base = url.substr(0, hash);
  auto fragment = hash == std::string::npos ? std::string() : url.substr(hash);
  const std::string param = "token=" + token;
  FUZZ_CHECK(final_url.size() >= base.size() + param.size() + fragment.size());
  FUZZ_CHECK(final_url.compare(0, base.size(), base) == 0);
  FUZZ_CHECK(final_url.compare(final_url.size() - fragment.size(), fragment.size(), fragment) == 0);
  auto end = final_url.size() - fragment.size();
  FUZZ_CHECK(final_url.compare(end - param.size(), param.size(), param) == 0);
  char before = final_url[end - param.size() - 1];
  FUZZ_CHECK(before == '?' || before == '&');
  FUZZ_CHECK(final_url.substr(0, end).find('?') != std::string::npos);
  return 0;
}
