"""The audit trail: auth events recorded in order by the actors that caused
them, a hash chain that `gatehouse audit verify` checks, and tamper detection."""
import hashlib
import glob
import email as email_lib
import email.policy
import re
from urllib.parse import parse_qs, urlparse
import json
import os
import shutil
import tempfile
import unittest

import lmdb

from accounts import account, cli
from harness import POSTGRES, Server, bearer, lmdb_only, unique_email, wait_until


def mails(server, to, subject):
    """The mails to `to` with `subject` in the server's outbox (file driver)."""
    out = []
    for path in glob.glob(os.path.join(server.outbox, "*.eml")):
        with open(path, "rb") as f:
            m = email_lib.message_from_bytes(f.read(), policy=email.policy.default)
        if m["To"] == to and m["Subject"] == subject:
            out.append(m)
    return out


def events(s, admin, **query):
    q = "&".join("%s=%s" % kv for kv in query.items())
    r = s.request("GET", "/admin/audit?limit=1000&" + q, headers=bearer(admin["token"]))
    assert r.status == 200, r
    return r.json()["events"]


class AuditTrail(unittest.TestCase):
    def test_a_flow_is_recorded_in_order_and_the_chain_verifies(self):
        with Server({"GATEHOUSE_TOKENS_ROTATION_GRACE_S": "0"}) as s:
            admin = account(s, "admin")
            email = unique_email()
            reg = s.request("POST", "/auth/register", json_body={"email": email, "password": "correct horse battery"})
            uid = reg.json()["user"]["id"]
            s.login(email, "wrong password!", expect=401)
            t = s.login(email)
            t2 = s.refresh(t["refresh_token"]).json()
            s.refresh(t["refresh_token"])  # reuse: the family is revoked
            t3 = s.login(email)
            s.request("POST", "/auth/logout", headers=bearer(t3["access_token"]))
            s.request("POST", "/admin/users/%s/deactivate" % uid, headers=bearer(admin["token"]))
            expected = ["register", "login_failed", "login_succeeded", "refresh", "refresh_reuse_detected",
                        "login_succeeded", "logout", "user_deactivated"]
            self.assertTrue(wait_until(lambda: len(events(s, admin, user=uid)) >= len(expected)))
            got = events(s, admin, user=uid)
            self.assertEqual([e["type"] for e in got], expected)
            self.assertEqual(got[0]["request_id"], reg.header("X-Request-Id"))
            self.assertEqual(got[0]["trace_id"], reg.header("traceparent").split("-")[1])
            self.assertEqual(got[1]["details"]["reason"], "wrong_password")
            self.assertEqual(got[-1]["actor_user_id"], admin["id"])
            seqs = [e["seq"] for e in got]
            self.assertEqual(seqs, sorted(seqs))
            self.assertTrue(all(e["ip"] == "127.0.0.1" for e in got))
            unknown = events(s, admin, type="login_failed")
            self.assertTrue(any(e["details"]["reason"] == "wrong_password" for e in unknown))
            # No secret ever reaches the audit log.
            everything = json.dumps(events(s, admin))
            for secret in ("correct horse battery", t["refresh_token"], t2["access_token"]):
                self.assertNotIn(secret, everything)
            out = cli(s, "audit", "verify")
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("chain intact", out.stdout)
            lines = [json.loads(l) for l in cli(s, "audit", "export").stdout.splitlines()]
            self.assertEqual([l["seq"] for l in lines], list(range(1, len(lines) + 1)))
            self.assertTrue(all(len(l["hash"]) == 64 for l in lines))

    def test_logout_and_api_token_records_carry_the_client(self):
        with Server() as s:
            admin = account(s, "admin")
            email = unique_email()
            uid = s.register(email)["user"]["id"]
            t = s.login(email)
            ua = {"User-Agent": "audit-client/1"}
            created = s.request("POST", "/auth/api-tokens", json_body={"name": "ci"},
                                headers=dict(bearer(t["access_token"]), **ua))
            self.assertEqual(created.status, 201, created)
            revoked = s.request("DELETE", "/auth/api-tokens/" + created.json()["id"],
                                headers=dict(bearer(t["access_token"]), **ua))
            self.assertEqual(revoked.status, 204, revoked)
            s.login(email)  # a second session, to revoke by id
            sid = [x["id"] for x in s.request("GET", "/auth/sessions", headers=bearer(t["access_token"])).json()["sessions"]
                   if not x["current"]]
            self.assertTrue(sid)
            dropped = s.request("DELETE", "/auth/sessions/" + sid[0], headers=dict(bearer(t["access_token"]), **ua))
            self.assertEqual(dropped.status, 204, dropped)
            out = s.request("POST", "/auth/logout", headers=dict(bearer(t["access_token"]), **ua))
            self.assertEqual(out.status, 204, out)
            kinds = ["api_token_created", "api_token_revoked", "session_revoked", "logout"]
            self.assertTrue(wait_until(lambda: all(any(e["type"] == k for e in events(s, admin, user=uid))
                                                   for k in kinds)))
            got = {e["type"]: e for e in events(s, admin, user=uid) if e["type"] in kinds}
            for kind, r in zip(kinds, (created, revoked, dropped, out)):
                self.assertEqual(got[kind]["ip"], "127.0.0.1", got[kind])
                self.assertEqual(got[kind]["user_agent"], "audit-client/1", got[kind])
                self.assertEqual(got[kind]["request_id"], r.header("X-Request-Id"), got[kind])
            self.assertEqual(got["session_revoked"]["details"]["reason"], "revoked_by_user")
            self.assertEqual(got["logout"]["details"]["reason"], "logout")

    def test_reset_and_verification_records_carry_the_client(self):
        with Server() as s:
            admin = account(s, "admin")
            email = unique_email()
            me = s.register(email)
            uid = me["user"]["id"]
            ua = {"User-Agent": "audit-client/2"}

            def link(subject):
                self.assertTrue(wait_until(lambda: mails(s, email, subject)), os.listdir(s.outbox))
                body = mails(s, email, subject)[-1].get_body(("plain",)).get_content()
                return parse_qs(urlparse(re.search(r"(http\S+)", body).group(1)).query)["token"][0]

            r = s.request("POST", "/auth/verify-email/send", headers=bearer(me["access_token"]))
            self.assertIn(r.status, (200, 202), r)
            verified = s.request("POST", "/auth/verify-email", json_body={"token": link("Confirm your email address")},
                                 headers=ua)
            self.assertEqual(verified.status, 200, verified)
            s.request("POST", "/auth/password/forgot", json_body={"email": email})
            reset = s.request("POST", "/auth/password/reset", headers=ua,
                              json_body={"token": link("Reset your password"), "new_password": "back in again 2026"})
            self.assertEqual(reset.status, 200, reset)
            kinds = ["email_verified", "password_reset"]
            self.assertTrue(wait_until(lambda: all(any(e["type"] == k for e in events(s, admin, user=uid))
                                                   for k in kinds)))
            got = {e["type"]: e for e in events(s, admin, user=uid) if e["type"] in kinds}
            for kind, r in zip(kinds, (verified, reset)):
                self.assertEqual(got[kind]["ip"], "127.0.0.1", got[kind])
                self.assertEqual(got[kind]["user_agent"], "audit-client/2", got[kind])
                self.assertEqual(got[kind]["request_id"], r.header("X-Request-Id"), got[kind])

    def test_a_graceful_stop_writes_the_events_of_every_answered_request(self):
        # Every answered registration has published its event; SIGTERM right
        # after the last answer must not lose the ones still queued.
        s = Server()
        try:
            ids = [s.register()["user"]["id"] for _ in range(8)]
        finally:
            s.stop()
        out = cli(s, "audit", "export")
        self.assertEqual(out.returncode, 0, out.stderr)
        registered = [json.loads(l)["subject_user_id"] for l in out.stdout.splitlines()
                      if json.loads(l)["type"] == "register"]
        self.assertEqual(registered, ids)

    def test_users_cannot_read_the_audit_log(self):
        with Server() as s:
            u = account(s, "user")
            r = s.request("GET", "/admin/audit", headers=bearer(u["token"]))
            self.assertEqual(r.status, 403)


class Sinks(unittest.TestCase):
    def test_records_also_go_to_a_jsonl_file_and_a_signed_webhook(self):
        import hashlib
        import hmac
        from receivers import start_receiver
        base, got = start_receiver(self)
        import shutil
        import tempfile
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "audit.jsonl")
        env = {"GATEHOUSE_AUDIT_FILE": path, "GATEHOUSE_AUDIT_WEBHOOK_URL": base + "/audit",
               "GATEHOUSE_AUDIT_WEBHOOK_SECRET": "audit-secret"}
        with Server(env) as s:
            e = unique_email()
            s.register(e)
            s.login(e, "wrong password!", expect=401)
            self.assertTrue(wait_until(lambda: os.path.exists(path) and len(open(path).read().splitlines()) >= 2))
            self.assertTrue(wait_until(lambda: sum(len(json.loads(b)) for _, _, b in got) >= 2))
        lines = [json.loads(l) for l in open(path).read().splitlines()]
        self.assertEqual([l["type"] for l in lines], ["register", "login_failed"])
        self.assertEqual([l["seq"] for l in lines], [1, 2])
        self.assertTrue(all(len(l["hash"]) == 64 for l in lines))
        for _, headers, body in got:
            expected = "sha256=" + hmac.new(b"audit-secret", body, hashlib.sha256).hexdigest()
            self.assertTrue(hmac.compare_digest(headers["X-Gatehouse-Signature"], expected))
        self.assertEqual([r["seq"] for _, _, b in got for r in json.loads(b)], [1, 2])


class Tamper(unittest.TestCase):
    def setUp(self):
        self.s = Server()
        self.addCleanup(self.s.close)
        for _ in range(3):
            self.s.register()
        self.s.login(unique_email(), expect=401)
        self.assertTrue(wait_until(lambda: "4 records" in cli(self.s, "audit", "verify").stdout))
        self.s.stop()
        self.chain = AuditChain(self.s)

    def verify(self):
        return cli(self.s, "audit", "verify")

    def test_an_altered_record_is_detected(self):
        c, h, p = self.chain.record(2)
        self.assertIn(b"register", c)
        self.chain.put(2, c.replace(b"register", b"regist3r", 1), h, p)
        out = self.verify()
        self.assertEqual(out.returncode, 1)
        self.assertIn("record 2 was altered", out.stdout)

    def test_a_deleted_record_is_detected(self):
        self.chain.delete(3)
        out = self.verify()
        self.assertEqual(out.returncode, 1)
        self.assertIn("record 3 is missing", out.stdout)

    @lmdb_only("the head is a meta entry there; on PostgreSQL it is the last row, so a removed tail is "
               "caught against an anchor (KeyedChain.test_dropping_the_last_record…)")
    def test_records_removed_from_the_end_are_detected(self):
        self.chain.delete(4)
        out = self.verify()
        self.assertEqual(out.returncode, 1)
        self.assertIn("removed from the end", out.stdout)


# ---- Issue 12 item 15: the chain is keyed, and anchored in the sinks ----------

def unpack(value):
    """An audit record (version byte 1, CBOR map {c: text, h: bytes, p: bytes},
    keys in nlohmann's sorted order) as (canonical, hash, prev)."""
    assert value[:4] == b"\x01\xa3\x61c", value[:8]
    i = 4
    head = value[i]
    ai = head & 0x1f
    if ai < 24:
        n, i = ai, i + 1
    else:
        size = 1 << (ai - 24)
        n, i = int.from_bytes(value[i + 1:i + 1 + size], "big"), i + 1 + size
    c = bytes(value[i:i + n])
    rest = value[i + n:]
    assert rest[:4] == b"\x61h\x58\x20" and rest[36:40] == b"\x61p\x58\x20" and len(rest) == 72, rest
    return c, bytes(rest[4:36]), bytes(rest[40:72])


def pack(canonical, h, p):
    n = len(canonical)
    if n < 24:
        head = bytes([0x60 + n])
    elif n < 256:
        head = bytes([0x78, n])
    else:
        head = bytes([0x79]) + n.to_bytes(2, "big")
    return b"\x01\xa3\x61c" + head + canonical + b"\x61h\x58\x20" + h + b"\x61p\x58\x20" + p


def unkeyed(prev, canonical):
    return hashlib.blake2b(prev + canonical, digest_size=32).digest()


class AuditChain:
    """The audit records of a stopped server's store, edited as an attacker
    with write access to the store (not the key file) would: through
    python-lmdb on LMDB (records and the meta head), with SQL on PostgreSQL
    (rows of `audit`; the head is the last row)."""

    def __init__(self, server):
        self.s = server

    def records(self):
        """[(seq, canonical, hash, prev)] in order."""
        if POSTGRES:
            rows = self.s.sql("SELECT seq, encode(canonical, 'hex'), encode(hash, 'hex'), encode(prev, 'hex') "
                              "FROM audit ORDER BY seq")
            return [(int(q), bytes.fromhex(c), bytes.fromhex(h), bytes.fromhex(p)) for q, c, h, p in rows]
        env = lmdb.open(self.s.store, max_dbs=32)
        try:
            with env.begin(db=env.open_db(b"audit")) as txn:
                return [(int.from_bytes(k, "big"),) + unpack(bytes(v)) for k, v in txn.cursor()]
        finally:
            env.close()

    def record(self, seq):
        """(canonical, hash, prev) of record `seq`."""
        return [r[1:] for r in self.records() if r[0] == seq][0]

    def put(self, seq, canonical, h, p):
        if POSTGRES:
            self.s.sql("UPDATE audit SET canonical = '\\x%s', hash = '\\x%s', prev = '\\x%s' WHERE seq = %d"
                       % (canonical.hex(), h.hex(), p.hex(), seq))
            return
        self._lmdb(lambda txn, audit, meta: txn.put(seq.to_bytes(8, "big"), pack(canonical, h, p), db=audit))

    def delete(self, seq):
        if POSTGRES:
            self.s.sql("DELETE FROM audit WHERE seq = %d" % seq)
            return
        self._lmdb(lambda txn, audit, meta: txn.delete(seq.to_bytes(8, "big"), db=audit))

    def set_head(self, seq, h):
        """The head the store claims (LMDB's meta audit_head; nothing to do on
        PostgreSQL, where the head is the last row)."""
        if not POSTGRES:
            self._lmdb(lambda txn, audit, meta: txn.put(b"audit_head", seq.to_bytes(8, "big") + h, db=meta))

    def delete_meta(self, *names):
        if POSTGRES:
            self.s.sql("DELETE FROM meta WHERE name IN (%s)" % ", ".join("'%s'" % n for n in names))
            return
        self._lmdb(lambda txn, audit, meta: [txn.delete(n.encode(), db=meta) for n in names])

    def _lmdb(self, fn):
        env = lmdb.open(self.s.store, max_dbs=32)
        audit, meta = env.open_db(b"audit"), env.open_db(b"meta")
        with env.begin(write=True) as txn:
            fn(txn, audit, meta)
        env.close()


def rewrite_chain(server, change, first=1):
    """Offline, as an attacker with write access to the store but not the key
    file: applies `change(seq, canonical) -> canonical` to every record from
    `first` on and recomputes the unkeyed links and the head after it."""
    chain = AuditChain(server)
    records = chain.records()
    prev = None
    for seq, c, h, p in records:
        if seq < first:
            prev = h
            continue
        p = prev if prev is not None else p
        c = change(seq, c)
        h = unkeyed(p, c)
        chain.put(seq, c, h, p)
        prev = h
    chain.set_head(records[-1][0], prev)


def drop_last(server):
    """Deletes the last record and points the head at the one before it."""
    chain = AuditChain(server)
    records = chain.records()
    chain.delete(records[-1][0])
    chain.set_head(records[-2][0], records[-2][2])


def sink_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


class KeyedChain(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        self.sink = os.path.join(tmp, "audit.jsonl")
        self.s = Server({"GATEHOUSE_AUDIT_FILE": self.sink})
        self.addCleanup(self.s.close)
        for _ in range(3):
            self.s.register()
        self.s.login(unique_email(), expect=401)
        self.assertTrue(wait_until(lambda: len(sink_lines(self.sink)) == 4))
        self.s.stop()
        self.path = os.path.join(self.s.data, "store")
        self.key = self.s.audit_key_file()

    def verify(self, *extra, env=None):
        return cli(self.s, "audit", "verify", *extra, env=env)

    def warnings(self):
        return [r for r in self.s.log_records() if r.get("msg", "").startswith("audit chain tail does not verify")]

    def test_the_key_file_is_created_outside_the_store_with_mode_0600(self):
        self.assertEqual(os.stat(self.key).st_mode & 0o777, 0o600)
        if not POSTGRES:  # (no store folder there)
            self.assertNotIn("audit-key", " ".join(os.listdir(self.path)))
        out = self.verify("--anchor", self.sink)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("4 records, chain intact", out.stdout)
        self.s.start()
        self.assertEqual(self.warnings(), [])

    def test_a_rewritten_record_with_recomputed_later_hashes_is_detected(self):
        rewrite_chain(self.s, lambda seq, c: c.replace(b"register", b"regist3r", 1) if seq == 2 else c, first=2)
        out = self.verify()
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("record 2 was altered", out.stdout)
        self.s.start()  # the start-up tail check warns, the server still serves
        self.assertTrue(self.s.healthy())
        warned = self.warnings()
        self.assertEqual(len(warned), 1, self.s.log())
        self.assertEqual(warned[0]["level"], "warn")
        self.assertIn("record 2 was altered", warned[0]["problem"])

    def test_dropping_the_last_record_is_detected_against_the_file_sink_anchor(self):
        drop_last(self.s)
        out = self.verify("--anchor", self.sink)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("head is record 3", out.stdout)
        self.assertIn("records removed from the end", out.stdout)
        self.s.start()
        warned = self.warnings()
        self.assertEqual(len(warned), 1, self.s.log())
        self.assertIn("removed from the end", warned[0]["problem"])

    def test_verify_needs_the_key(self):
        out = self.verify(env={"GATEHOUSE_AUDIT_KEY_FILE": self.key + ".missing"})
        self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
        self.assertIn("needs the audit MAC key", out.stderr)
        other = tempfile.NamedTemporaryFile("w", delete=False)
        self.addCleanup(os.unlink, other.name)
        other.write("key = %s\nkeyed_from = 1\n" % ("ab" * 32))
        other.close()
        out = self.verify(env={"GATEHOUSE_AUDIT_KEY_FILE": other.name})
        self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
        self.assertIn("not the key this store", out.stderr)

    def test_an_unkeyed_rewrite_is_not_accepted_by_a_verifier_with_or_without_the_key(self):
        # The attacker deletes the store's keyed marker and recomputes every
        # link unkeyed. Before the fix a verifier without the key file said
        # "audit log OK ... (UNKEYED)" with exit 0.
        rewrite_chain(self.s, lambda seq, c: c.replace(b"register", b"regist3r", 1) if seq == 2 else c)
        AuditChain(self.s).delete_meta("audit_keyed_from", "audit_key_id")
        out = self.verify(env={"GATEHOUSE_AUDIT_KEY_FILE": self.key + ".missing"})
        self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
        self.assertNotIn("audit log OK", out.stdout)
        self.assertIn("needs the audit MAC key", out.stderr)
        self.assertIn("--unkeyed", out.stderr)
        # With the key file: the store claims to be unkeyed past its keyed_from.
        out = self.verify()
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("claims to be unkeyed", out.stdout)
        # --unkeyed says what it checked, and is no way around the key file.
        out = self.verify("--unkeyed")
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        out = self.verify("--unkeyed", env={"GATEHOUSE_AUDIT_KEY_FILE": self.key + ".missing"})
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("only the unkeyed links were checked", out.stdout)

    def test_a_store_from_before_the_key_is_migrated_and_its_old_records_stay_covered(self):
        # Turn the store into one written by an older build: unkeyed links, no key.
        rewrite_chain(self.s, lambda seq, c: c)
        AuditChain(self.s).delete_meta("audit_keyed_from", "audit_key_id")
        os.unlink(self.key)
        out = self.verify()  # without the key, only on explicit request
        self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
        self.assertIn("--unkeyed", out.stderr)
        out = self.verify("--unkeyed")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("UNKEYED", out.stdout)
        self.s.start()  # keys the chain: record 5 says so
        self.s.register()
        self.assertTrue(wait_until(lambda: "6 records" in self.verify().stdout))
        self.s.stop()
        records = [json.loads(l) for l in cli(self.s, "audit", "export").stdout.splitlines()]
        self.assertEqual(records[4]["type"], "audit_keyed")
        self.assertEqual(records[4]["details"], {"unkeyed_records": 4})
        with open(self.key) as f:
            self.assertIn("keyed_from = 5", f.read())
        out = self.verify()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("records before 5 are unkeyed", out.stdout)
        # An unkeyed record rewritten, and every later link recomputed: the
        # first keyed record commits to them.
        rewrite_chain(self.s, lambda seq, c: c.replace(b"register", b"regist3r", 1) if seq == 1 else c)
        out = self.verify()
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("record 5 was altered", out.stdout)


if __name__ == "__main__":
    unittest.main()
