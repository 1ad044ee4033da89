// The actor system behind gh::Services: spawns the actors, and bridges each
// call from a (non-actor) HTTP thread to them with a short-lived actor that
// sends one request and hands the reply to the callback. The HTTP thread
// never waits.
#include "actors/actors.hpp"
#include "actors/keystore.hpp"
#include "domain/base64url.hpp"
#include "telemetry/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <sodium.h>

#include <thread>

namespace gh {

Failure to_failure(const caf::error& e) {
  if (e.category() == kErrCategory && e.code() >= 1 &&
      e.code() <= static_cast<std::uint8_t>(Errc::internal)) {
    std::string desc;
    if (e.context().match_elements<std::string>()) desc = e.context().get_as<std::string>(0);
    return {static_cast<Errc>(e.code()), std::move(desc)};
  }
  telemetry::log_error("actor failure", {{"error", caf::to_string(e)}});
  return {Errc::internal, "internal error"};
}

namespace {

int default_threads(int configured) {
  if (configured > 0) return configured;
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 2;
}

class ActorServices final : public Services {
 public:
  ActorServices(const config::Config& cfg, store::Backend& db,
                std::shared_ptr<const domain::Roles> roles)
      : cfg_(cfg), db_(db), roles_(std::move(roles)) {
    int threads = default_threads(cfg.server.threads);
    sys_cfg_.set("scheduler.max-threads", threads);
    // Sharing (a condition variable) instead of work stealing: idle stealing
    // workers poll with short sleeps, taking CPU from the HTTP reactor threads
    // on the token-check path, which involves no actor at all.
    sys_cfg_.set("scheduler.policy", caf::atom("sharing"));
    sys_cfg_.set("logger.file-verbosity", caf::atom("quiet"));
    sys_cfg_.set("logger.console-verbosity", caf::atom("quiet"));
    sys_ = std::make_unique<caf::actor_system>(sys_cfg_);
  }

  ~ActorServices() override { stop(); }

  bool init(std::string& why) {
    auto ring = load_keys(db_, std::int64_t{cfg_.tokens.access_ttl_s} + cfg_.tokens.leeway_s, why);
    if (!ring) return false;
    keys_->set(ring);
    auto secret = load_rotation_secret(db_, why);
    if (secret.empty()) return false;
    auto device_secret = load_secret(db_, "device_secret", why);
    if (device_secret.empty()) return false;
    devices_ = std::make_unique<domain::DeviceTokens>(std::move(device_secret));
    domain::HashParams params{cfg_.hashing.ops_limit, cfg_.hashing.mem_limit_kib * 1024};
    auto dummy = domain::hash_password(domain::random_id(), params);
    if (!dummy) {
      why = "cannot compute a password hash with the configured parameters";
      return false;
    }
    int workers = default_threads(cfg_.hashing.workers);
    writer_ = spawn_writer(*sys_, db_, cfg_.store.max_batch);
    hasher_ = spawn_hasher(*sys_, params, workers, workers * cfg_.hashing.queue_per_worker, cfg_.hashing.nice,
                           std::chrono::milliseconds(cfg_.hashing.max_wait_ms));
    tokens_ = spawn_token(*sys_, cfg_.tokens, keys_);
    auditor_ = spawn_auditor(*sys_, db_, writer_, 100'000, audit_lost_, cfg_.audit, feed_);
    sessions_ = spawn_session(*sys_, cfg_.tokens, cfg_.limits, db_, writer_, tokens_, secret, auditor_);
    janitor_ = spawn_janitor(*sys_, db_, writer_, cfg_.limits, cfg_.store.warn_fill_percent);
    key_watch_ = spawn_key_watch(*sys_, db_, keys_, cfg_.tokens.key_reload_s);
    if (auto* shared = db_.shared_buckets()) limiter_ = spawn_limiter(*sys_, *shared);
    notifier_ = spawn_notifier(*sys_, cfg_, auditor_, why);
    if (!notifier_.actor) return false;
    const auto& rl = cfg_.rate_limit;
    AccountOptions opts{domain::Backoff{rl.backoff_after, rl.backoff_max_s, rl.backoff_window_s},
                        cfg_.auth, cfg_.public_.url, auditor_};
    users_ = spawn_user(*sys_, db_, writer_, hasher_, sessions_, *dummy, roles_, opts, notifier_);
    sodium_memzero(secret.data(), secret.size());
    return true;
  }

  void register_user(RegisterRequest req, Callback<AuthResult> done) override {
    ask<AuthResult>(users_, std::move(done), register_atom::value, std::move(req));
  }
  void login(LoginRequest req, Callback<AuthResult> done) override {
    ask<AuthResult>(users_, std::move(done), login_atom::value, std::move(req));
  }
  void refresh(std::string token, ClientInfo client, Callback<TokenPair> done) override {
    ask<TokenPair>(sessions_, std::move(done), refresh_atom::value, std::move(token),
                   std::move(client));
  }
  void revoke(std::string user_id, std::string sid, bool all, bool api_tokens, domain::RevokeReason reason,
              ClientInfo client, Callback<int> done) override {
    ask<int>(sessions_, std::move(done), revoke_atom::value, std::move(user_id), std::move(sid),
             all, api_tokens, reason, std::move(client));
  }
  void sessions(std::string user_id, Callback<std::vector<domain::Session>> done) override {
    ask<std::vector<domain::Session>>(sessions_, std::move(done), list_atom::value,
                                     std::move(user_id));
  }
  void update_user(ActingUser by, std::string id, UserPatch patch,
                   Callback<domain::User> done) override {
    ask<domain::User>(users_, std::move(done), update_atom::value, std::move(by), std::move(id),
                     std::move(patch));
  }
  void set_active(ActingUser by, std::string id, bool active, Callback<domain::User> done) override {
    ask<domain::User>(users_, std::move(done), active_atom::value, std::move(by), std::move(id),
                     active);
  }
  void create_user(ActingUser by, NewUser user, Callback<domain::User> done) override {
    ask<domain::User>(users_, std::move(done), create_atom::value, std::move(by), std::move(user));
  }
  void put_avatar(std::string id, domain::Avatar avatar, std::string url,
                  Callback<domain::User> done) override {
    ask<domain::User>(users_, std::move(done), avatar_atom::value, std::move(id), std::move(avatar),
                     std::move(url));
  }
  void create_api_key(std::string user_id, ApiKeyRequest req, ClientInfo client,
                      Callback<NewApiKey> done) override {
    ask<NewApiKey>(sessions_, std::move(done), newkey_atom::value, std::move(user_id), std::move(req),
                   std::move(client));
  }
  void revoke_api_key(std::string user_id, std::string key_id, ClientInfo client,
                      Callback<int> done) override {
    ask<int>(sessions_, std::move(done), delkey_atom::value, std::move(user_id), std::move(key_id),
             std::move(client));
  }

  void request_link(LinkRequest req, Callback<bool> done) override {
    ask<bool>(users_, std::move(done), link_atom::value, std::move(req));
  }
  void redeem_magic_link(std::string token, ClientInfo client, Callback<AuthResult> done) override {
    ask<AuthResult>(users_, std::move(done), redeem_atom::value, std::string("magic"), std::move(token),
                    std::string(), std::move(client));
  }
  void exchange_magic_code(std::string code, std::string verifier, ClientInfo client,
                           Callback<AuthResult> done) override {
    ask<AuthResult>(users_, std::move(done), redeem_atom::value, std::string("code"), std::move(code),
                    std::move(verifier), std::move(client));
  }
  void verify_email(std::string token, ClientInfo client, Callback<bool> done) override {
    ask<AuthResult>(users_, [done = std::move(done)](Expected<AuthResult> r) {
      if (r.ok()) done(true);
      else done(r.failure());
    }, redeem_atom::value, std::string("verify"), std::move(token), std::string(), std::move(client));
  }
  void reset_password(std::string token, std::string password, ClientInfo client, Callback<bool> done) override {
    ask<bool>(users_, std::move(done), reset_atom::value, std::move(token), std::move(password), std::move(client));
  }
  void change_password(PasswordChange req, Callback<bool> done) override {
    ask<bool>(users_, std::move(done), passwd_atom::value, std::move(req));
  }

  void audit(domain::AuditEvent e) override { auditor_.publish(std::move(e)); }
  void take_shared(std::vector<BucketTake> buckets, Callback<SharedDecision> done) override {
    if (!limiter_) return done(Expected<SharedDecision>(SharedDecision{}));  // no shared buckets: nothing to take
    ask<SharedDecision>(limiter_, std::move(done), take_atom::value, std::move(buckets));
  }
  AuditFeed& audit_feed() override { return *feed_; }

  void ready(Callback<bool> done) override {
    // Both the writer (the store) and the user actor must answer in time.
    auto writer = writer_;
    auto users = users_;
    sys_->spawn([=](caf::event_based_actor* self) {
      auto timeout = std::chrono::seconds(2);
      self->request(writer, timeout, ping_atom::value)
          .then(
              [=](bool) {
                self->request(users, timeout, ping_atom::value)
                    .then([=](bool ok) { done(ok); },
                          [=](caf::error& e) { done(Failure{Errc::unavailable, "actors not answering"}); });
              },
              [=](caf::error& e) { done(Failure{Errc::unavailable, "store writer not answering"}); });
    });
  }

  std::shared_ptr<const domain::KeyRing> keys() const override { return keys_->get(); }
  const domain::DeviceTokens& devices() const override { return *devices_; }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    auto down = [](const auto& h) {
      if (h) caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    };
    down(janitor_);
    down(key_watch_);
    down(limiter_);
    down(users_);
    down(notifier_.actor);
    down(sessions_);
    down(tokens_);
    down(hasher_);
    // HTTP has drained by now: every answered request has published its
    // audit event. Those still queued are written before the writer stops
    // (bounded: a store that refuses every write does not hold the exit).
    if (auditor_.actor) {
      caf::scoped_actor self{*sys_};
      self->request(auditor_.actor, std::chrono::seconds(5), ping_atom::value)
          .receive([](bool) {},
                   [](caf::error&) { telemetry::log_error("audit events not written before shutdown"); });
    }
    down(auditor_.actor);
    down(writer_);  // last: no write is pending
    janitor_ = nullptr;
    key_watch_ = nullptr;
    limiter_ = nullptr;
    users_ = nullptr;
    notifier_.actor = nullptr;
    auditor_.actor = nullptr;
    sessions_ = nullptr;
    tokens_ = nullptr;
    hasher_ = nullptr;
    writer_ = nullptr;
    sys_->await_all_actors_done();
  }

 private:
  // Spawns a bridge actor that sends one request to `target` and passes the
  // reply (or the failure) to `done`. The bridge ends with the reply.
  template <class T, class Handle, class... Ts>
  void ask(const Handle& target, Callback<T> done, Ts&&... xs) {
    sys_->spawn([target, done = std::move(done),
                 msg = std::make_tuple(std::forward<Ts>(xs)...)](caf::event_based_actor* self) {
      std::apply(
          [&](auto&... args) {
            self->request(target, caf::infinite, args...)
                .then([done](T& r) { done(Expected<T>(std::move(r))); },
                      [done](caf::error& e) { done(Expected<T>(to_failure(e))); });
          },
          msg);
    });
  }

  const config::Config& cfg_;
  store::Backend& db_;
  std::shared_ptr<const domain::Roles> roles_;
  caf::actor_system_config sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::shared_ptr<domain::KeyRingHolder> keys_ = std::make_shared<domain::KeyRingHolder>();
  std::unique_ptr<domain::DeviceTokens> devices_;
  writer_actor writer_;
  hasher_actor hasher_;
  token_actor tokens_;
  session_actor sessions_;
  user_actor users_;
  janitor_actor janitor_;
  key_watch_actor key_watch_;
  limiter_actor limiter_;
  Notifier notifier_;
  Auditor auditor_;
  std::shared_ptr<AuditFeed> feed_ = std::make_shared<AuditFeed>();
  std::shared_ptr<std::atomic<std::uint64_t>> audit_lost_ = std::make_shared<std::atomic<std::uint64_t>>(0);
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<Services> Services::start(const config::Config& cfg, store::Backend& db,
                                          std::shared_ptr<const domain::Roles> roles,
                                          std::string& why) {
  if (sodium_init() < 0) {
    why = "libsodium failed to initialise";
    return nullptr;
  }
  auto s = std::make_unique<ActorServices>(cfg, db, std::move(roles));
  if (!s->init(why)) return nullptr;
  return s;
}

}  // namespace gh
