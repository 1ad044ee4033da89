// Gatehouse configuration: one immutable struct, loaded once at start-up from
// a TOML file and `GATEHOUSE_<SECTION>_<KEY>` environment overrides, then
// shared read-only by the HTTP layer and every actor.
//
// Loading may throw ConfigError (the only place exceptions are used on purpose);
// nothing after start-up throws on account of configuration.
#pragma once

#include "domain/policies.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gh::config {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Server {
  /// Default: "127.0.0.1:8000". Port 0 picks a free port (the chosen address is logged).
  std::string listen = "127.0.0.1:8000";
  /// HTTP reactor threads. Default: 0 = one per core.
  int threads = 0;
  /// Largest accepted request (headers + body); larger gets 413 before it is
  /// buffered further. Default: 1.1 MiB, room for an avatar upload.
  std::size_t max_request_bytes = 1152 * 1024;
  /// Largest JSON or form body; larger gets 413. Default: 64 KiB.
  std::size_t max_body_bytes = 64 * 1024;
  /// Deepest JSON nesting accepted in a body. Default: 16.
  int max_json_depth = 16;
  /// Time a client has to send its headers *and* for the handler to answer
  /// (Pistache uses one timer for both). Default: 10 s. Shorter closes slow
  /// clients sooner but must exceed the slowest login under load.
  int header_timeout_ms = 10'000;
  /// Time a client has to send its body. Default: 10 s.
  int body_timeout_ms = 10'000;
  /// Idle keep-alive connections are closed after this. Default: 60 s.
  int keepalive_timeout_ms = 60'000;
  /// How long SIGTERM waits for in-flight requests before closing. Default: 10 s.
  int shutdown_grace_ms = 10'000;
  /// Peers (CIDRs) whose client_ip_header names the client. From any other
  /// peer the header is ignored. Default: none.
  std::vector<std::string> trusted_proxies;
  /// The header the trusted proxies set: "x-forwarded-for" or "forwarded"
  /// (RFC 7239 for=). Only that one is read; every field line of it counts,
  /// walked from the right through the trusted proxies. Default:
  /// "x-forwarded-for". A proxy must append to (or replace) it, never pass
  /// a client's value on as its own.
  std::string client_ip_header = "x-forwarded-for";
};

/// The rate-limit class of a route: which per-IP budget of [rate_limit] it
/// spends (login_ip, register_ip, refresh_ip, link_ip or default_ip). Its
/// name starts the bucket keys and labels the metrics and audit records.
enum class RateClass { standard, login, register_, refresh, link };
/// "default", "login", "register", "refresh", "link".
const char* rate_class_name(RateClass c);
/// The class named `name`, false if there is none.
bool parse_rate_class(std::string_view name, RateClass& out);

struct RateLimit {
  /// Default: true. Off only behind another limiter.
  bool enabled = true;
  /// Most buckets kept (memory bound, ~150 B each). Default: 1,000,000.
  std::size_t max_keys = 1'000'000;
  /// Requests per minute (and burst) per client IP on login and the password
  /// grant. Default: 60.
  int login_ip = 60;
  /// Login attempts per minute per account (normalised email), from anywhere. Default: 10.
  int login_account = 10;
  /// Login attempts per minute per IP and account together. Default: 5.
  int login_ip_account = 5;
  /// Registrations per minute per client IP. Default: 20.
  int register_ip = 20;
  /// Refreshes per minute per client IP (mobile apps behind one NAT share it). Default: 600.
  int refresh_ip = 600;
  /// Requests for emailed links (magic link, reset, verification) per client IP. Default: 20.
  int link_ip = 20;
  /// Every other route, per client IP. Default: 6000.
  int default_ip = 6000;
  /// Per-IP buckets key IPv6 clients by their network of this many bits, as
  /// one subscriber usually holds a whole /64. Default: 64. 128 = per address
  /// (a fresh budget for every address of the block); smaller groups more
  /// subscribers together.
  int ipv6_prefix = 64;
  /// Password logins per minute of one device (a client that signed in to the
  /// account before and sends its device token). Such a login is not subject
  /// to login_account, login_ip_account or the account back-off, which other
  /// clients can spend; it has this budget and a back-off of its own. Default: 10.
  int login_device = 10;
  /// Lifetime of a device token, seconds. Default: 15552000 (180 days).
  int device_ttl_s = 180 * 86'400;
  /// Link requests (magic link, reset, verification) per minute per account
  /// and purpose. Beyond it no mail is sent, and the answer is the usual 202
  /// (a 429 would tell the owner's request apart and block it). Default: 3.
  int link_account = 3;
  /// Consecutive failed logins of one account before its back-off starts.
  /// Then each further attempt must wait 2^(n - threshold) s, at most
  /// backoff_max_s; attempts during the wait are refused exactly like a
  /// wrong password and do not extend it. Default: 5.
  int backoff_after = 5;
  /// Longest back-off, seconds. Default: 900.
  int backoff_max_s = 900;
  /// Failures older than this are forgotten, seconds. Default: 3600.
  int backoff_window_s = 3600;

  /// The per-IP budget (requests per minute) of routes of class `c`.
  int ip_per_minute(RateClass c) const;
};

/// The storage engine (store/): the embedded LMDB one or a PostgreSQL server.
enum class StoreBackend { lmdb, postgres };

struct Store {
  /// "lmdb" (default: embedded, one instance) or "postgres" (a PostgreSQL
  /// server several instances can share; docs/POSTGRES.md).
  StoreBackend backend = StoreBackend::lmdb;
  /// Folder of the LMDB environment. Default: "var" (relative to the working dir).
  std::string path = "var";
  /// postgres: the libpq connection URI, e.g. postgres://gatehouse@db/gatehouse
  /// (env GATEHOUSE_STORE_URL). The password from it or PGPASSWORD; never
  /// logged. Required with backend = "postgres".
  std::string url;
  /// postgres: most connections per instance (each transaction holds one). Default: 8.
  int pool_size = 8;
  /// postgres: the server cancels a statement running longer, ms (0 = no
  /// limit). Default: 5000.
  int statement_timeout_ms = 5000;
  /// postgres: the server cancels a statement waiting longer for a lock, ms
  /// (0 = no limit). Default: 5000.
  int lock_timeout_ms = 5000;
  /// postgres: seconds to wait for a new connection. Default: 5.
  int connect_timeout_s = 5;
  /// postgres: the longest a token check may trust its principal cache
  /// without word from the database that nothing changed, ms (the bound on
  /// how stale a revocation made by another instance can be); 0 = no cache,
  /// every check reads through. Default: 2000.
  int max_staleness_ms = 2000;
  /// LMDB map size: the most the database may grow to. Default: 1024 MiB.
  std::size_t map_size_mb = 1024;
  /// Most writes grouped into one synced commit. Default: 512. Larger batches
  /// amortise the fsync further but delay the first write of a batch less than
  /// the fsync itself does, so the cap only bounds the latency of a huge burst.
  int max_batch = 512;
  /// A warning is logged when the store's pages in use pass this share of
  /// map_size_mb (also exported as gatehouse_store_used_bytes / _map_bytes).
  /// Default: 80 (%).
  int warn_fill_percent = 80;
};

/// Per-user quotas and the background prune of dead records (actors/janitor.cpp).
struct Limits {
  /// Live (unrevoked, unexpired) API tokens a user may hold; one more is 409. Default: 50.
  int api_tokens_per_user = 50;
  /// Live sessions a user may hold; a login beyond it deletes the user's least
  /// recently used sessions with their refresh tokens (audited as revoked,
  /// reason "session_limit"). Default: 100.
  int sessions_per_user = 100;
  /// Seconds between prune passes (each also checks the store fill). Default: 300.
  int prune_interval_s = 300;
  /// Records looked at per prune step, one writer op each, so a pass never
  /// holds the writer long. Default: 1000.
  int prune_batch = 1000;
  /// How long a record is kept after its expiry (an expired API token stays
  /// listed that long). Revoked API tokens and used one-time tokens go at the
  /// next pass; sessions (revoked or not) and their refresh tokens only after
  /// their absolute expiry, for reuse detection. Default: 86400 (1 day).
  int expired_retention_s = 86'400;
};

/// The Prometheus exposition's own listener (never the API port).
struct Metrics {
  /// host:port of the metrics listener, serving GET /metrics. Port 0 picks a
  /// free port (logged at start as "metrics" in the "listening" line); "" = off.
  /// Default: "127.0.0.1:9464" (loopback only).
  std::string listen = "127.0.0.1:9464";
};

struct Hashing {
  /// Argon2id passes (libsodium opslimit). Default: 2 (OWASP minimum with 19 MiB).
  std::uint64_t ops_limit = 2;
  /// Argon2id memory in KiB. Default: 19456 (19 MiB, OWASP minimum).
  std::size_t mem_limit_kib = 19 * 1024;
  /// Hashing threads. Default: 0 = one per core. Each holds mem_limit while hashing.
  int workers = 0;
  /// Jobs allowed to wait for a worker; beyond it the server answers 503 with
  /// Retry-After instead of queueing without bound. Default: 32 per worker.
  int queue_per_worker = 32;
  /// Retry-After sent with 503 overloaded, in seconds. Default: 1.
  int retry_after_s = 1;
  /// Scheduling niceness of the hashing threads (0-19). Default: 10, so that
  /// token checks and other cheap requests win the CPU during a login storm
  /// while hashing still takes every idle cycle.
  int nice = 10;
  /// A login or registration that waited longer than this for a worker is
  /// answered 503 with Retry-After instead of hashed late, in ms. Default:
  /// 5000 (half the default header timeout, after which the client is gone).
  int max_wait_ms = 5000;
};

struct Password {
  /// Minimum length in characters (code points). Default: 8 (NIST 800-63B;
  /// 15 recommended without a second factor).
  std::size_t min_length = 8;
  /// Maximum length in bytes, checked before any hashing. Default: 1024.
  std::size_t max_bytes = 1024;
  /// Common-password blocklist, one per line; relative paths are resolved
  /// against the config file's folder. Default: "common-passwords.txt".
  std::string blocklist = "common-passwords.txt";
};

struct Tokens {
  /// `iss` of access tokens and the discovery document. Default: "http://127.0.0.1:8000".
  std::string issuer = "http://127.0.0.1:8000";
  /// `aud` of access tokens; verifiers must check it. Default: "gatehouse".
  std::string audience = "gatehouse";
  /// `client_id` claim for first-party logins. Default: "gatehouse".
  std::string client_id = "gatehouse";
  /// Access-token lifetime. Default: 900 s (15 min): the longest a revoked
  /// session stays usable at third-party verifiers.
  int access_ttl_s = 900;
  /// Absolute lifetime of a session (refresh-token family). Default: 30 days.
  int refresh_ttl_s = 30 * 24 * 3600;
  /// Clock skew tolerated on exp/nbf/iat. Default: 30 s.
  int leeway_s = 30;
  /// How often a running server re-reads the signing keys. A key made by
  /// `gatehouse keys rotate` is in every server's JWKS within this time and
  /// signs from twice this time after the command. Default: 5 s.
  int key_reload_s = 5;
  /// Window in which the immediately previous refresh token is answered with
  /// the current one instead of revoking the family (two racing tabs).
  /// Default: 5 s. 0 = strict RFC 9700 reuse detection.
  int rotation_grace_s = 5;
  /// Verified access tokens remembered (by hash) to skip Ed25519 verification.
  /// Default: 65536 entries (~10 MiB worst case).
  std::size_t verify_cache_entries = 65536;
  /// Sessions whose record and user a token check keeps (with the user's
  /// /auth/me answer) while the store says neither changed; 0 reads the
  /// store on every check. Default: 8192 (~10 MiB worst case).
  std::size_t principal_cache_entries = 8192;
};

struct Cookie {
  /// Name of the refresh cookie. Default: "__Host-gatehouse_refresh" (the
  /// `__Host-` prefix forces Secure, Path=/ and no Domain in browsers).
  std::string name = "__Host-gatehouse_refresh";
  /// Secure attribute. Default: true. Set false only for plain-http local
  /// development, together with a name without the `__Host-` prefix.
  bool secure = true;
  /// SameSite attribute: Strict, Lax or None. Default: Strict.
  std::string same_site = "Strict";
  /// Name of the device cookie (see rate_limit.login_device); it takes
  /// `secure` and `same_site` from here too. Default: "__Host-gatehouse_device".
  std::string device_name = "__Host-gatehouse_device";
  /// Origins allowed to use cookie-authenticated routes, besides the custom
  /// CSRF header that every such request must carry. Default: none (only
  /// requests without an Origin header, or same-origin ones).
  std::vector<std::string> allowed_origins;
};

struct RolesFile {
  /// Roles, permissions and the management matrix; relative to the config
  /// file's folder. Default: "roles.toml"; when absent, the built-in
  /// user/manager/admin roles apply.
  std::string file = "roles.toml";
};

struct Avatars {
  /// Largest avatar upload, bytes. Default: 1 MiB. server.max_request_bytes
  /// must leave room for it.
  std::size_t max_bytes = 1 << 20;
};

struct Public {
  /// The base URL users reach Gatehouse at; links in emails point here.
  /// Default: "http://127.0.0.1:8000".
  std::string url = "http://127.0.0.1:8000";
};

struct Notify {
  /// log | file | smtp | webhook. Default: "log" (prints links in the log:
  /// development only; a warning is logged at start-up).
  std::string driver = "log";
  /// log driver: print links with their live token. Default: false (the
  /// token is replaced by "…redacted…"). Development only: whoever reads
  /// the log can sign in as anyone who asked for a link.
  bool log_secrets = false;
  /// From address of emails. Default: "Gatehouse <no-reply@localhost>".
  std::string from = "Gatehouse <no-reply@localhost>";
  /// file driver: outbox folder of .eml files. Default: "var/outbox".
  std::string file_dir = "var/outbox";
  /// smtp driver: smtp://host:port (smtps:// for TLS from the start).
  /// Credentials come from GATEHOUSE_NOTIFY_SMTP_USER / _PASSWORD.
  std::string smtp_url = "smtp://127.0.0.1:25";
  /// smtp driver: upgrade with STARTTLS (required when true). Default: false.
  bool smtp_starttls = false;
  /// webhook driver: where to POST, and the HMAC-SHA256 key of the
  /// X-Gatehouse-Signature header.
  std::string webhook_url;
  std::string webhook_secret;
  /// Folder of the message templates, relative to the config file. Default: "templates".
  std::string templates = "templates";
  /// Delivery attempts before giving up, with exponential back-off from
  /// retry_base_ms. Default: 5, 500 ms.
  int max_attempts = 5;
  int retry_base_ms = 500;
  /// Messages waiting for delivery at most; more are dropped and logged. Default: 10,000.
  int queue_limit = 10'000;
};

/// auth.existing_email (domain/policies.hpp).
using domain::ExistingEmail;
const char* existing_email_name(ExistingEmail e);

struct Auth {
  /// May a user whose email is not verified log in? Default: true.
  bool allow_unverified_login = true;
  /// Registering an email that has an account: "conflict" answers 409 (and
  /// a new account gets tokens at once); "notify" answers 202 alike for new
  /// and existing emails, mails a verification link to a new account and an
  /// "account exists" notice to an existing one. Default: "conflict".
  /// Checked once at load: the value is an ExistingEmail.
  ExistingEmail existing_email = ExistingEmail::conflict;
  /// True for "notify": a registration does not tell whether the email has an account.
  bool hide_existing_email() const { return existing_email == ExistingEmail::notify; }
  /// Lifetimes of one-time tokens, seconds. Defaults: 900, 900, 86400.
  int magic_link_ttl_s = 900;
  int reset_ttl_s = 900;
  int verify_ttl_s = 86'400;
  /// Live (unused, unexpired) links per account and purpose. A new link does
  /// not invalidate the earlier ones, so a link the owner got keeps working
  /// while others request more; at the cap no new link is issued or mailed
  /// until one is used or expires. Using one retires the others. Default: 3.
  int max_live_links = 3;
  /// Origins a magic link's redirect_to may point at (besides public.url).
  std::vector<std::string> redirect_origins;
};

struct AuditSinks {
  /// The MAC key of the audit chain (32 random bytes, created with mode 0600
  /// on first start). Keep it OUTSIDE the data folder, ideally in a secret
  /// store or on a separate mount: whoever can write the store and read this
  /// file can rewrite the chain undetected. Must not be inside store.path.
  /// Default: "" = "<store.path>.audit-key", beside the store folder.
  std::string key_file;
  /// Also append every audit record, as a JSON line, to this file; each line
  /// carries its seq and MAC, so the last line anchors the chain's head
  /// (`gatehouse audit verify --anchor FILE`). Default: "" (off).
  std::string file;
  /// Also POST every batch of audit records (a JSON array) here, signed like
  /// notification webhooks (X-Gatehouse-Signature: sha256=HMAC of the body).
  /// Default: "" (off).
  std::string webhook_url;
  std::string webhook_secret;
};

struct Otlp {
  /// OpenTelemetry collector base URL (spans go to <endpoint>/v1/traces as
  /// OTLP/HTTP JSON). Default: "" = no export (recent spans stay in memory
  /// for GET /admin/traces).
  std::string endpoint;
};

struct Tracing {
  /// Share of new traces (requests without a `traceparent`) whose spans are
  /// recorded, 0.0-1.0; a request with a `traceparent` follows its sampled
  /// flag. Errors (status >= 500) and slow answers are always recorded
  /// (their server span); 4xx answers are sampled like any other. Default: 0.1.
  double sample_ratio = 0.1;
  /// Answers slower than this always record their server span; 0: off.
  /// Default: 500.
  int slow_ms = 500;
};

struct Log {
  /// Minimum level: debug, info, warn, error. Default: info.
  std::string level = "info";
};

/// Splits "host:port" (port 0-65535); false with `why` otherwise. Shared by
/// server.listen and metrics.listen.
bool parse_listen(const std::string& listen, std::string& host, int& port, std::string& why);

struct Config {
  Server server;
  RateLimit rate_limit;
  Store store;
  Limits limits;
  Metrics metrics;
  Hashing hashing;
  Password password;
  Tokens tokens;
  Cookie cookie;
  RolesFile roles;
  Avatars avatars;
  Public public_;
  Notify notify;
  Auth auth;
  Otlp otlp;
  Tracing tracing;
  AuditSinks audit;
  Log log;
  /// Folder of the config file (for relative paths); "." without a file.
  std::string config_dir = ".";

  /// Reads `path` (if non-empty) then applies overrides from `env`
  /// (`GATEHOUSE_SERVER_LISTEN=…`). Throws ConfigError naming the key.
  static Config load(const std::string& path, const std::map<std::string, std::string>& env);

  /// The environment of this process as a map, for load().
  static std::map<std::string, std::string> process_env();

  /// Resolves a path from the config against config_dir.
  std::string resolve(const std::string& p) const;

  /// audit.key_file, or its default beside store.path.
  std::string audit_key_path() const;
};

}  // namespace gh::config
