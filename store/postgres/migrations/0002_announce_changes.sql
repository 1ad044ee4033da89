-- Gatehouse on PostgreSQL, migration 2: every change to a user or a session
-- is announced on the channel gatehouse_changes, its payload the row's id,
-- when its transaction commits (NOTIFY is transactional: a rollback
-- announces nothing). Each instance's listener (store/postgres/listener.cpp)
-- then stops trusting what its principal cache holds for that id. A trigger
-- rather than the engine's own statements, so that every writer is
-- announced: another instance, an offline command, an operator's UPDATE in
-- psql. INSERTs are not announced: a row that did not exist is in no cache
-- (a token check caches only what it found).

CREATE FUNCTION gatehouse_announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('gatehouse_changes', OLD.id);
  IF TG_OP = 'UPDATE' AND NEW.id <> OLD.id THEN
    PERFORM pg_notify('gatehouse_changes', NEW.id);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER users_announce_change AFTER UPDATE OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION gatehouse_announce_change();
CREATE TRIGGER sessions_announce_change AFTER UPDATE OR DELETE ON sessions
  FOR EACH ROW EXECUTE FUNCTION gatehouse_announce_change();
