// A blocking JSON POST through libcurl, for the exporters and webhooks that
// run on their own threads (never on an HTTP or CAF worker thread).
#pragma once

#include <string>
#include <vector>

namespace gh::telemetry {

struct PostResult {
  bool ok = false;     ///< a 2xx answer
  long status = 0;     ///< HTTP status, 0 when there was none
  std::string error;   ///< why not, when !ok
};

/// POSTs `body` with Content-Type: application/json plus `headers`
/// ("Name: value"), waiting at most `timeout_s`.
PostResult post_json(const std::string& url, const std::string& body,
                     const std::vector<std::string>& headers = {}, long timeout_s = 10);

/// Frees what libcurl's TLS library (OpenSSL) keeps for the calling thread.
/// Call it last on a thread that made requests and that nobody joins (a CAF
/// detached actor): such a thread can still be ending when the process runs
/// OpenSSL's exit handler, which then never frees the thread's error state.
void end_of_requests_on_this_thread();

}  // namespace gh::telemetry
