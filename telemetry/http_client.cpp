#include "telemetry/http_client.hpp"

#include <curl/curl.h>
#include <openssl/crypto.h>

namespace gh::telemetry {
namespace {
std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }
}  // namespace

PostResult post_json(const std::string& url, const std::string& body,
                     const std::vector<std::string>& headers, long timeout_s) {
  PostResult r;
  CURL* curl = curl_easy_init();
  if (!curl) {
    r.error = "curl init failed";
    return r;
  }
  curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
  for (auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  r.ok = rc == CURLE_OK && r.status >= 200 && r.status <= 299;
  if (rc != CURLE_OK) r.error = curl_easy_strerror(rc);
  else if (!r.ok) r.error = "answered " + std::to_string(r.status);
  return r;
}

void end_of_requests_on_this_thread() { OPENSSL_thread_stop(); }

}  // namespace gh::telemetry
