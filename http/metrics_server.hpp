// The Prometheus listener ([metrics] listen): GET /metrics on an address of
// its own, never on the API port, so the counters (which differ for existing
// and unknown accounts) reach only the network the operator scrapes from.
// One reactor thread; every other path is 404, every other method 405.
#pragma once

#include <memory>
#include <string>

namespace gh::http {

class MetricsServer {
 public:
  MetricsServer();
  ~MetricsServer();

  /// Binds `listen` ("host:port"; port 0 picks one). False with `why`.
  bool start(const std::string& listen, std::string& why);
  /// The bound address, "host:port"; empty when not started.
  std::string address() const;
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gh::http
