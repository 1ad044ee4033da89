#include "actors/actors.hpp"
#include "actors/notify_drivers.hpp"
#include "telemetry/http_client.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"
#include "telemetry/trace.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace gh {
namespace {

// Runs on its own thread (detached): drivers block on disk and network.
notifier_actor::behavior_type notifier_fn(notifier_actor::pointer self, std::shared_ptr<Driver> driver,
                                          config::Notify cfg, std::shared_ptr<std::atomic<int>> backlog,
                                          Auditor audit) {
  // Cleanup runs on this actor's own thread, which CAF does not join.
  self->attach_functor([] { telemetry::end_of_requests_on_this_thread(); });
  auto attempt = [=](domain::Notification& n, int number) {
    std::string error;
    telemetry::SpanTimer span(n.trace_id, n.span_id, "notify.deliver", telemetry::SpanKind::client);
    span.attr("gatehouse.notification.kind", n.kind);
    span.attr("gatehouse.attempt", number);
    bool delivered = driver->deliver(n, error);
    span.end(!delivered);
    nlohmann::json fields = {{"kind", n.kind}, {"request_id", n.request_id}, {"attempt", number}};
    if (delivered) {
      --*backlog;
      telemetry::record_notification(n.kind, "delivered");
      telemetry::log_info("notification delivered", fields);
      return;
    }
    fields["error"] = error;
    if (number >= cfg.max_attempts) {
      --*backlog;
      telemetry::record_notification(n.kind, "failed");
      telemetry::log_error("notification not delivered; giving up", fields);
      ClientInfo ctx;
      ctx.request_id = n.request_id;
      audit.publish(audit_event("notification_failed", ctx, "", "",
                                {{"kind", n.kind}, {"attempts", number}, {"error", error}}));
      return;
    }
    auto delay = std::chrono::milliseconds(static_cast<long long>(cfg.retry_base_ms) << std::min(number - 1, 16));
    fields["retry_in_ms"] = delay.count();
    telemetry::record_notification(n.kind, "retry");
    telemetry::log_warn("notification delivery failed; will retry", fields);
    self->delayed_send(self, delay, retry_atom::value, std::move(n), number + 1);
  };
  return {
      [=](notify_atom, domain::Notification& n) { attempt(n, 1); },
      [=](retry_atom, domain::Notification& n, int number) { attempt(n, number); },
  };
}

}  // namespace

Notifier spawn_notifier(caf::actor_system& sys, const config::Config& cfg, Auditor audit, std::string& why) {
  auto driver = make_driver(cfg, why);
  if (!driver) return {};
  if (cfg.notify.driver == "log")
    telemetry::log_warn(cfg.notify.log_secrets
                            ? "notify.driver is 'log' with notify.log_secrets: live sign-in and reset tokens are "
                              "written to the log; use it for development only"
                            : "notify.driver is 'log': links are written to the log with their token redacted, "
                              "so they cannot be used; use it for development only");
  Notifier n;
  n.backlog = std::make_shared<std::atomic<int>>(0);
  n.limit = cfg.notify.queue_limit;
  n.actor = sys.spawn<caf::detached>(notifier_fn, std::shared_ptr<Driver>(std::move(driver)), cfg.notify,
                                     n.backlog, std::move(audit));
  return n;
}

void Notifier::send(domain::Notification n) const {
  if (backlog->load() >= limit) {
    telemetry::record_notification(n.kind, "dropped");
    telemetry::log_error("notification queue full; message dropped", {{"kind", n.kind}, {"request_id", n.request_id}});
    return;
  }
  ++*backlog;
  caf::anon_send(actor, notify_atom::value, std::move(n));
}

}  // namespace gh
