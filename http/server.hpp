// The HTTP server: a Pistache endpoint whose handler routes each request to
// a route handler (http/routes.cpp) with a Responder of its own.
//
// Lifecycle: start() binds and serves on background reactor threads;
// drain() makes new requests answer 503 and waits (up to a grace period) for
// in-flight ones to be answered; stop() closes the endpoint.
#pragma once

#include "actors/api.hpp"
#include "domain/roles.hpp"

#include <memory>
#include <string>

namespace gh::http {

class Server {
 public:
  Server(const config::Config& cfg, store::Backend& store, Services& services,
         std::shared_ptr<const domain::Roles> roles);
  ~Server();

  /// Binds `listen` ("host:port"; port 0 picks one). False with `why`.
  bool start(const std::string& listen, std::string& why);
  /// The bound address, "host:port".
  std::string address() const;
  /// Stops taking new work and waits for in-flight requests; true if all
  /// finished within `grace_ms`.
  bool drain(int grace_ms);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gh::http
