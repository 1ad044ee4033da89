#include "http/metrics_server.hpp"

#include "config/config.hpp"
#include "telemetry/metrics.hpp"

#include <pistache/endpoint.h>

namespace gh::http {
namespace {

using namespace Pistache;

class MetricsHandler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(MetricsHandler)

  void onRequest(const Http::Request& req, Http::ResponseWriter writer) override {
    static const auto text = Http::Mime::MediaType::fromString("text/plain; charset=utf-8");
    if (req.resource() != "/metrics") {
      writer.send(Http::Code::Not_Found, "not found: the exposition is at /metrics\n", text);
    } else if (req.method() != Http::Method::Get) {
      writer.send(Http::Code::Method_Not_Allowed, "use GET\n", text);
    } else {
      static const auto exposition = Http::Mime::MediaType::fromString("text/plain; version=0.0.4; charset=utf-8");
      writer.send(Http::Code::Ok, telemetry::metrics_text(), exposition);
    }
  }
};

}  // namespace

struct MetricsServer::Impl {
  std::unique_ptr<Http::Endpoint> endpoint;
  std::string host;
};

MetricsServer::MetricsServer() : impl_(new Impl) {}
MetricsServer::~MetricsServer() { stop(); }

bool MetricsServer::start(const std::string& listen, std::string& why) {
  int port = 0;
  if (!config::parse_listen(listen, impl_->host, port, why)) return false;
  try {
    impl_->endpoint = std::make_unique<Http::Endpoint>(Address(impl_->host, Port(port)));
    impl_->endpoint->init(Http::Endpoint::options()
                              .threads(1)
                              .flags(Tcp::Options::ReuseAddr)
                              .maxRequestSize(16 * 1024)
                              .headerTimeout(std::chrono::seconds(10))
                              .keepaliveTimeout(std::chrono::seconds(60)));
    impl_->endpoint->setHandler(Http::make_handler<MetricsHandler>());
    impl_->endpoint->serveThreaded();
  } catch (const std::exception& e) {
    why = "cannot listen on " + listen + " (metrics.listen): " + e.what();
    impl_->endpoint.reset();
    return false;
  }
  return true;
}

std::string MetricsServer::address() const {
  if (!impl_->endpoint) return {};
  return impl_->host + ":" + impl_->endpoint->getPort().toString();
}

void MetricsServer::stop() {
  if (impl_->endpoint) {
    impl_->endpoint->shutdown();
    impl_->endpoint.reset();
  }
}

}  // namespace gh::http
