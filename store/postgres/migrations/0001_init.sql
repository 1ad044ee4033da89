-- Gatehouse on PostgreSQL, migration 1: the tables of the store contract
-- (store/store.hpp). Applied by `gatehouse migrate` (store/postgres/backend.cpp),
-- in one transaction under an advisory lock; never edit a released file, add
-- the next one (0002_….sql) instead.
--
-- Keys are compared byte for byte (COLLATE "C"), as the LMDB engine does:
-- pages and prune cursors walk them in that order. Hashes, secrets, the
-- audit record bytes and client-supplied strings (ip, user agent) are bytea:
-- they are bytes, not necessarily UTF-8.
--
-- No foreign keys: the contract lets a session, API key, one-time token or
-- avatar name a user that is not there (and a refresh token a session that
-- is gone: earlier generations outlive their session until the prune), and
-- no engine deletes a user. What the LMDB engine deletes with a record (the
-- session's index entry and current refresh token) is an index here or is
-- deleted by the same statement batch.

CREATE TABLE meta (
  name  text COLLATE "C" PRIMARY KEY,
  value bytea NOT NULL
);

CREATE TABLE users (
  id             text COLLATE "C" PRIMARY KEY,
  -- The normal form (domain/email.hpp) computed by the caller; unique as is.
  email          text COLLATE "C" NOT NULL UNIQUE,
  password_hash  text NOT NULL,
  role           text NOT NULL,
  username       text NOT NULL DEFAULT '',
  -- ascii_lower(username), NULL without one: usernames compare in ASCII
  -- lower case (domain/ascii.hpp), which lower() under a locale does not.
  username_key   text COLLATE "C" UNIQUE,
  full_name      text NOT NULL,
  avatar_url     text NOT NULL,
  onboarding     text NOT NULL,
  -- json, not jsonb: kept as written, and a string may hold \u0000 (the
  -- profile's custom fields are any JSON object), which jsonb refuses.
  data           json NOT NULL,
  email_verified boolean NOT NULL,
  active         boolean NOT NULL,
  created_at     bigint NOT NULL,
  updated_at     bigint NOT NULL,
  failed_logins  bigint NOT NULL,
  last_failed_at bigint NOT NULL,
  device_epoch   bigint NOT NULL,
  CHECK ((username = '') = (username_key IS NULL))
);

CREATE TABLE sessions (
  id            text COLLATE "C" PRIMARY KEY,
  user_id       text COLLATE "C" NOT NULL,
  generation    bigint NOT NULL,
  token_hash    bytea NOT NULL,
  rotated_at    bigint NOT NULL,
  created_at    bigint NOT NULL,
  last_used_at  bigint NOT NULL,
  expires_at    bigint NOT NULL,
  revoked       boolean NOT NULL,
  revoke_reason text NOT NULL,
  ip            bytea NOT NULL,
  user_agent    bytea NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id, id);

-- Every refresh token ever issued, until the prune.
CREATE TABLE refresh (
  token_hash bytea PRIMARY KEY,
  session_id text COLLATE "C" NOT NULL,
  generation bigint NOT NULL,
  expires_at bigint NOT NULL
);

CREATE TABLE api_keys (
  secret_hash bytea PRIMARY KEY,
  id          text COLLATE "C" NOT NULL,
  user_id     text COLLATE "C" NOT NULL,
  name        text NOT NULL,
  scopes      text[] NOT NULL,
  allowed_ips text[] NOT NULL,
  created_at  bigint NOT NULL,
  expires_at  bigint NOT NULL,
  revoked     boolean NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

CREATE TABLE otp (
  token_hash     bytea PRIMARY KEY,
  purpose        text COLLATE "C" NOT NULL,
  user_id        text COLLATE "C" NOT NULL,
  expires_at     bigint NOT NULL,
  used           boolean NOT NULL,
  redirect_to    text NOT NULL,
  code_challenge text NOT NULL,
  -- Issued through issue_otp and not retired: counted against the cap and
  -- retired by retire_otps (the LMDB engine's user_otp index).
  issued         boolean NOT NULL DEFAULT false
);
CREATE INDEX otp_issued ON otp (user_id, purpose) WHERE issued;

CREATE TABLE avatars (
  user_id      text COLLATE "C" PRIMARY KEY,
  content_type text NOT NULL,
  bytes        bytea NOT NULL,
  updated_at   bigint NOT NULL
);

CREATE TABLE signing_keys (
  kid        text COLLATE "C" PRIMARY KEY,
  seed       bytea NOT NULL,
  created_at bigint NOT NULL
);

-- The hash chain, append-only; the head is its last row.
CREATE TABLE audit (
  seq       bigint PRIMARY KEY CHECK (seq > 0),
  prev      bytea NOT NULL,
  hash      bytea NOT NULL,
  canonical bytea NOT NULL
);
