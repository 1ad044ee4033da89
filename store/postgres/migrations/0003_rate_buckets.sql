-- Gatehouse on PostgreSQL, migration 3: the login rate-limit buckets that
-- every instance shares (store::SharedBuckets), so an account is limited
-- the same behind a load balancer as on one instance. UNLOGGED: not
-- written to the WAL, and emptied by a crash, which only refills every
-- bucket (rate limits fail open, as an instance's restart does).

CREATE UNLOGGED TABLE rate_buckets (
  key      text COLLATE "C" PRIMARY KEY,
  tokens   float8 NOT NULL,
  -- seconds since the epoch on the database's clock: instances whose clocks
  -- disagree still refill a bucket at one rate
  updated  float8 NOT NULL,
  -- the last take was refused (the first refusal of a burst is audited)
  refusing boolean NOT NULL
);
CREATE INDEX rate_buckets_updated ON rate_buckets (updated);

-- One token from `bucket` (capacity `burst`, refilled at `per_minute`), the
-- arithmetic of domain/rate_limit.cpp under the row's lock. Now and then it
-- also deletes up to 1000 buckets idle for an hour (full again: no state).
CREATE FUNCTION gatehouse_take(bucket text, per_minute bigint, burst bigint,
                               OUT allowed boolean, OUT remaining bigint, OUT reset_s bigint,
                               OUT retry_after_s bigint, OUT first_refusal boolean)
LANGUAGE plpgsql AS $$
DECLARE
  now_s float8 := extract(epoch FROM clock_timestamp());
  rate float8 := per_minute / 60.0;
  have float8;
  was_refusing boolean;
BEGIN
  INSERT INTO rate_buckets VALUES (bucket, burst, now_s, false) ON CONFLICT (key) DO NOTHING;
  SELECT least(burst, b.tokens + greatest(now_s - b.updated, 0) * rate), b.refusing
    INTO have, was_refusing FROM rate_buckets b WHERE b.key = bucket FOR UPDATE;
  allowed := have >= 1;
  IF allowed THEN
    have := have - 1;
  END IF;
  UPDATE rate_buckets SET tokens = have, updated = now_s, refusing = NOT allowed WHERE key = bucket;
  remaining := floor(greatest(have, 0));
  reset_s := CASE WHEN rate > 0 THEN ceil((burst - have) / rate) ELSE 0 END;
  retry_after_s := CASE WHEN allowed THEN 0 WHEN rate > 0 THEN ceil((1 - have) / rate) ELSE 3600 END;
  first_refusal := NOT allowed AND NOT was_refusing;
  IF random() < 0.001 THEN
    DELETE FROM rate_buckets WHERE key IN
      (SELECT key FROM rate_buckets WHERE updated < now_s - 3600 ORDER BY updated LIMIT 1000);
  END IF;
END
$$;
