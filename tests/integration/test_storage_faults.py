"""Storage faults (issue 8): a store that fills up, a disk that fills up, and
stale LMDB reader slots left by a killed process.

* A full map (store.map_size_mb = 1): writes are refused with 503
  `unavailable` + Retry-After, nothing refused is visible (over HTTP and in the
  LMDB files), reads keep working, the server neither crashes nor hangs on
  SIGTERM, `gatehouse audit verify` passes, and after a restart with a larger
  map writes succeed again with all acknowledged data intact.
* A full disk (the store on a 4 MiB tmpfs, root only): commits fail with
  ENOSPC and are answered 503; once space is freed, writes succeed again
  without a restart.
* Stale readers: a reader slot left by a SIGKILLed process is cleared when the
  server opens the store (mdb_reader_check).
The writer's behaviour on MDB_MAP_FULL inside a batch is unit-tested in
tests/unit/writer_test.cpp.
"""
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
import zlib

import lmdb

from harness import (BIN, CONFIG, DEFAULT_PASSWORD, POSTGRES, SLOW, ApiAssertions, Server, ServerTest, bearer,
                     lmdb_only, postgres_only, unique_email, wait_until)

PNG = b"\x89PNG\r\n\x1a\n"

# A registration inserts the user and its first session in one commit (it
# was two: a full store between them left an account behind a 503). The
# tests assert that a registration answered 503 left nothing.


def avatar_bytes(size):
    """A well-formed PNG of `size` bytes (random IDAT data: only the chunk
    structure is checked, and it is stored unchanged)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0))
    iend = chunk(b"IEND", b"")
    return PNG + ihdr + chunk(b"IDAT", os.urandom(size - len(PNG) - len(ihdr) - len(iend) - 12)) + iend


def stored_emails(store):
    """The emails index of a store whose server is stopped."""
    env = lmdb.open(store, readonly=True, create=False, max_dbs=16)
    try:
        with env.begin() as txn:
            db = env.open_db(b"emails", txn=txn, create=False)
            return set(k.decode() for k, _ in txn.cursor(db=db))
    finally:
        env.close()


def failed_commits(s):
    """gatehouse_store_commits_total{result="failed"} from the metrics listener."""
    text = s.metrics()
    m = re.search(r'^gatehouse_store_commits_total\{result="failed"\} ([0-9.e+]+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def audit_verify(store, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN, "audit", "verify", "--config", CONFIG, "--data", store],
                          capture_output=True, text=True, env=e, timeout=60)


class FillingStore(ApiAssertions):
    """Fills a server's store through the API and keeps the ledger."""

    def fill(self, s, max_requests=800):
        """Registers users with big profiles, and gives every other one an
        avatar, until writes are refused. Returns (acked, refused): acked
        users as dicts, refused writes as (kind, email or user) pairs."""
        acked, refused = [], []
        for i in range(max_requests):
            e = unique_email("fill")
            body = {"email": e, "password": DEFAULT_PASSWORD, "full_name": "F%d " % i + "x" * 180,
                    "data": {"blob": uuid.uuid4().hex * 120}}
            r = s.request("POST", "/auth/register", json_body=body)
            if r.status == 503:
                self.assert_unavailable(r)
                refused.append(("register", e))
            else:
                self.assertEqual(r.status, 201, r)
                b = r.json()
                acked.append({"email": e, "id": b["user"]["id"], "full_name": body["full_name"],
                              "data": body["data"], "access": b["access_token"], "refresh": b["refresh_token"],
                              "avatar": None})
            if acked and i % 2 == 0:
                u = acked[-1]
                img = avatar_bytes(20000)
                r = s.request("PUT", "/auth/me/avatar", body=img,
                              headers=dict(bearer(u["access"]), **{"Content-Type": "image/png"}))
                if r.status == 503:
                    self.assert_unavailable(r)
                    refused.append(("avatar", u))
                else:
                    self.assertEqual(r.status, 200, r)
                    u["avatar"] = img
            if len(refused) >= 12:
                break
        return acked, refused

    def assert_unavailable(self, r):
        self.assert_error(r, 503, "unavailable")
        retry = r.header("Retry-After")
        self.assertIsNotNone(retry, r.headers)
        self.assertTrue(retry.isdigit() and int(retry) >= 1, retry)

    def assert_reads_work(self, s, acked):
        self.assertEqual(s.request("GET", "/health").status, 200)
        self.assertEqual(s.request("GET", "/.well-known/jwks.json").status, 200)
        for u in acked[:: max(1, len(acked) // 15)] + acked[-3:]:
            r = s.me(u["access"])
            self.assertEqual(r.status, 200, r)
            me = r.json()
            self.assertEqual((me["email"], me["full_name"], me["data"]), (u["email"], u["full_name"], u["data"]))
            a = s.request("GET", "/avatars/" + u["id"])
            if u["avatar"] is None:
                self.assertEqual(a.status, 404, a)
                self.assertIsNone(me["avatar_url"])
            else:
                self.assertEqual((a.status, a.body), (200, u["avatar"]))

    def assert_refused_invisible(self, s, refused):
        """Refused writes changed nothing. Returns the refused registrations
        whose account exists anyway (asserted to be none)."""
        split = []
        for kind, what in refused:
            if kind == "register":
                r = s.request("POST", "/auth/login", json_body={"email": what, "password": DEFAULT_PASSWORD})
                if r.status == 401:
                    self.assert_error(r, 401, "invalid_credentials")
                    continue
                # The account exists: its insert committed and the session
                # write after it was refused.
                self.assertIn(r.status, (200, 503), r)
                if r.status == 503:
                    self.assert_unavailable(r)
                split.append(what)
            else:
                u = what
                a = s.request("GET", "/avatars/" + u["id"])
                if u["avatar"] is None:
                    self.assertEqual(a.status, 404, "a refused avatar upload is visible")
                else:
                    self.assertEqual((a.status, a.body), (200, u["avatar"]), "a refused avatar replaced the old one")
        self.assertEqual(split, [], "registrations answered 503 left accounts behind")
        return split

    def retry_refused(self, s, refused, split):
        """Once there is space again, every refused write succeeds, and so
        does a new registration with a big profile."""
        for kind, what in refused:
            if kind == "register" and what in split:
                s.login(what)  # the account that was created is whole
            elif kind == "register":
                s.register(what)  # 201: the refused registration left nothing behind (no 409)
            else:
                img = avatar_bytes(20000)
                r = s.request("PUT", "/auth/me/avatar", body=img,
                              headers=dict(bearer(what["access"]), **{"Content-Type": "image/png"}))
                self.assertEqual(r.status, 200, r)
                what["avatar"] = img
        s.register(unique_email("after"), data={"blob": "z" * 4000})


@lmdb_only("fills LMDB's fixed-size map (store.map_size_mb = 1); a PostgreSQL database has none")
class MapFull(FillingStore, unittest.TestCase):
    def test_a_full_map_refuses_writes_keeps_reads_and_recovers_after_restart(self):
        s = Server({"GATEHOUSE_STORE_MAP_SIZE_MB": "1"})
        self.addCleanup(s.close)
        acked, refused = self.fill(s)
        self.assertTrue(refused, "1 MiB never filled up")
        self.assertGreater(len(acked), 20)
        self.assertTrue(s.alive())
        self.assert_reads_work(s, acked)
        split = self.assert_refused_invisible(s, refused)
        # A login needs a session write: it may or may not fit, but it is
        # either a full success or a clean 503 — never a 500 or a crash.
        r = s.request("POST", "/auth/login", json_body={"email": acked[0]["email"], "password": DEFAULT_PASSWORD})
        if r.status != 200:
            self.assert_unavailable(r)
        # A wrong password is still refused as such.
        r = s.request("POST", "/auth/login", json_body={"email": acked[0]["email"], "password": "wrong password 1"})
        self.assert_error(r, 401, "invalid_credentials")
        # Writes keep being refused (not hanging), and the server stays up.
        # LMDB reuses the pages of older transactions once no reader holds
        # them, so a write may still fit now and then: each answer is a full
        # success or a clean 503, and the store runs out again soon.
        for _ in range(40):
            e = unique_email("more")
            body = {"email": e, "password": DEFAULT_PASSWORD, "data": {"blob": "y" * 4000}}
            r = s.request("POST", "/auth/register", json_body=body)
            if r.status == 503:
                self.assert_unavailable(r)
                refused.append(("register", e))
                break
            self.assertEqual(r.status, 201, r)
            b = r.json()
            acked.append({"email": e, "id": b["user"]["id"], "full_name": b["user"]["full_name"], "data": body["data"],
                          "access": b["access_token"], "refresh": b["refresh_token"], "avatar": None})
        else:
            self.fail("a full 1 MiB map kept accepting registrations")
        self.assertTrue(s.alive())

        # SIGTERM while full: a clean exit 0 (Server.stop asserts it).
        s.stop()
        emails = stored_emails(s.store)
        for u in acked:
            self.assertIn(u["email"], emails)
        for kind, what in refused:
            if kind == "register" and what not in split:
                self.assertNotIn(what, emails, "a refused registration is in the store")
            if what in split:
                self.assertIn(what, emails)
        v = audit_verify(s.store, {"GATEHOUSE_STORE_MAP_SIZE_MB": "1"})
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)

        # Space returns: a larger map. Everything acknowledged is intact and
        # writes succeed again, including the ones refused before.
        s.env["GATEHOUSE_STORE_MAP_SIZE_MB"] = "16"
        s.start()
        self.assert_reads_work(s, acked)
        for u in acked[:3]:
            s.login(u["email"])
            r = s.refresh(u["refresh"])
            self.assertEqual(r.status, 200, r)
        self.retry_refused(s, refused, split)


@lmdb_only("puts the LMDB folder on a small tmpfs; PostgreSQL's files are the cluster's, not the server's")
class DiskFull(FillingStore, unittest.TestCase):
    """The store on a small tmpfs: ENOSPC on commit. Needs root (mount)."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        self.mnt = tempfile.mkdtemp(prefix="gatehouse-tmpfs-")
        out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", self.mnt],
                             capture_output=True, text=True)
        if out.returncode != 0:
            os.rmdir(self.mnt)
            self.skipTest("cannot mount a tmpfs here: " + out.stderr.strip())
        self.addCleanup(os.rmdir, self.mnt)
        self.addCleanup(subprocess.run, ["umount", self.mnt])

    def fill_disk(self, leave):
        st = os.statvfs(self.mnt)
        free = st.f_bavail * st.f_frsize
        path = os.path.join(self.mnt, "filler")
        with open(path, "wb") as f:
            f.write(b"\0" * max(0, free - leave))
        return path

    def test_a_full_disk_refuses_writes_and_recovers_without_restart(self):
        s = Server(data_dir=self.mnt)
        self.addCleanup(s.close)
        first = s.register(unique_email("first"), full_name="First")
        filler = self.fill_disk(leave=256 * 1024)
        acked, refused = self.fill(s)
        self.assertTrue(refused, "the disk never filled up")
        self.assertTrue(s.alive())
        self.assertGreater(failed_commits(s), 0)
        everyone = [{"email": first["user"]["email"], "id": first["user"]["id"], "full_name": "First",
                     "data": {}, "access": first["access_token"], "avatar": None}] + acked
        self.assert_reads_work(s, everyone)
        split = self.assert_refused_invisible(s, refused)
        # Space returns: no restart needed.
        os.remove(filler)
        self.retry_refused(s, refused, split)
        s.login(first["user"]["email"])
        self.assert_reads_work(s, everyone)
        s.stop()
        v = audit_verify(s.store)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)


STALE_READER = """
import lmdb, os, sys, time
env = lmdb.open(sys.argv[1], readonly=True, max_dbs=16)
txn = env.begin()
print(os.getpid(), flush=True)
time.sleep(120)
"""


@postgres_only("the database server going away; LMDB's twins are MapFull and DiskFull")
class DatabaseDown(ApiAssertions, unittest.TestCase):
    """The PostgreSQL server stops under a running gatehouse (a cluster of the
    test's own): requests that need the store answer 503 `unavailable` with
    Retry-After at once (no hang), the server stays up and stops cleanly,
    and once the database is back it serves again without a restart."""

    def timed(self, fn):
        t = time.monotonic()
        r = fn()
        self.assertLess(time.monotonic() - t, 5 * SLOW, r)
        return r

    def assert_unavailable(self, r):
        self.assert_error(r, 503, "unavailable")
        self.assertTrue((r.header("Retry-After") or "").isdigit(), r.headers)

    def test_requests_answer_503_while_the_database_is_down_and_work_again_after(self):
        import pg
        cluster = pg.Cluster()
        self.addCleanup(cluster.stop)
        cluster.start()
        s = Server(store_url=pg.new_database(on=cluster))
        self.addCleanup(s.close)
        email = unique_email()
        me = s.register(email)
        self.assertEqual(s.me(me["access_token"]).status, 200)
        cluster.pause()
        body = {"email": unique_email(), "password": DEFAULT_PASSWORD}
        self.assert_unavailable(self.timed(lambda: s.request("POST", "/auth/register", json_body=body)))
        self.assert_unavailable(self.timed(lambda: s.me(me["access_token"])))
        self.assert_unavailable(self.timed(lambda: s.request("POST", "/auth/login",
                                                             json_body={"email": email, "password": DEFAULT_PASSWORD})))
        self.assert_unavailable(self.timed(lambda: s.refresh(me["refresh_token"])))
        self.assertTrue(s.alive())
        cluster.resume()
        self.assertTrue(wait_until(lambda: s.me(me["access_token"]).status == 200, 10), s.log()[-3000:])
        self.assertEqual(s.request("POST", "/auth/register", json_body=body).status, 201)  # nothing was left behind
        r = s.refresh(me["refresh_token"])
        self.assertEqual(r.status, 200, r)
        s.login(email)
        # SIGTERM while the database is down: a clean exit (Server.stop asserts it).
        cluster.pause()
        self.assert_unavailable(s.me(me["access_token"]))
        s.stop()
        cluster.resume()
        out = s.cli("audit", "verify")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)


@lmdb_only("LMDB's reader table (mdb_reader_check)")
class StaleReaders(unittest.TestCase):
    def reader_pids(self, env):
        """PIDs in the reader table (mdb_reader_list)."""
        return set(int(m) for m in re.findall(r"^\s*(\d+)\s+[0-9a-f]+\s+", env.readers(), re.M))

    def test_a_reader_slot_left_by_a_killed_process_is_cleared_at_start(self):
        s = Server()
        self.addCleanup(s.close)
        s.register()
        s.stop()
        # This process keeps the environment open, so LMDB cannot simply
        # reset the reader table as the first opener: only mdb_reader_check
        # removes a dead process's slot.
        env = lmdb.open(s.store, readonly=True, max_dbs=16)
        self.addCleanup(env.close)
        child = subprocess.Popen([sys.executable, "-c", STALE_READER, s.store], stdout=subprocess.PIPE, text=True)
        pid = int(child.stdout.readline())
        self.assertIn(pid, self.reader_pids(env))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        time.sleep(0.2)
        self.assertIn(pid, self.reader_pids(env), "the killed reader's slot should still be there")
        # Control: another process opening the store and reading does not
        # clear it either (only mdb_reader_check does).
        subprocess.run([sys.executable, "-c", "import lmdb, sys; e = lmdb.open(sys.argv[1], readonly=True, "
                        "max_dbs=16); e.begin().stat(); e.close()", s.store], check=True)
        self.assertIn(pid, self.reader_pids(env))
        if shutil.which("mdb_stat"):
            out = subprocess.run(["mdb_stat", "-r", s.store], capture_output=True, text=True).stdout
            self.assertRegex(out, r"(?m)^\s*%d\s" % pid)
        s.start()
        self.assertNotIn(pid, self.reader_pids(env), "the server did not clear the stale reader slot")
        if shutil.which("mdb_stat"):
            out = subprocess.run(["mdb_stat", "-r", s.store], capture_output=True, text=True).stdout
            self.assertNotRegex(out, r"(?m)^\s*%d\s" % pid)
        self.assertTrue(s.healthy())
        s.register()


if __name__ == "__main__":
    unittest.main()


class CorruptRecords(ServerTest, ApiAssertions, unittest.TestCase):
    """A record that no longer decodes is a store failure, answered 503, never
    taken for absence (issue 13: a failing disk used to answer "the session has
    ended" or "invalid email or password", and a login with an unreadable
    account looked like an unknown email). The bytes are changed in the live
    store through python-lmdb while the server runs (on PostgreSQL a column
    is set to a value the engine refuses to decode); putting them back shows
    nothing was lost or rewritten meanwhile."""

    # PostgreSQL: (table, column, a value that does not decode) per LMDB table.
    PG_BREAK = {b"users": ("users", "failed_logins", str(1 << 40)),   # not an int
                b"sessions": ("sessions", "generation", "-1")}       # a negative generation

    def swap(self, table, key, value):
        """Replaces the value of `key` in `table`; returns the old bytes. On
        PostgreSQL the garbage (bytes) breaks the row's column instead, and
        what was returned (the column's old value, a str) puts it back."""
        if POSTGRES:
            name, column, broken = self.PG_BREAK[table]
            where = " WHERE id = '%s'" % key.decode()
            old = self.s.sql("SELECT %s FROM %s%s" % (column, name, where))
            self.assertEqual(len(old), 1, (table, key))
            self.s.sql("UPDATE %s SET %s = %s%s" % (name, column, value if isinstance(value, str) else broken, where))
            return old[0][0]
        env = lmdb.open(self.s.store, max_dbs=32, map_size=1 << 30)
        try:
            with env.begin(write=True, db=env.open_db(table)) as txn:
                old = txn.get(key)
                self.assertIsNotNone(old, (table, key))
                txn.put(key, value)
                return old
        finally:
            env.close()

    def test_an_unreadable_user_is_503_for_token_checks_logins_and_refresh(self):
        email = unique_email()
        me = self.s.register(email=email)
        token, uid = me["access_token"], me["user"]["id"]
        self.assertEqual(self.s.request("GET", "/auth/me", headers=bearer(token)).status, 200)
        good = self.swap(b"users", uid.encode(), b"\x01\xff\xff not cbor")
        try:
            self.assert_error(self.s.request("GET", "/auth/me", headers=bearer(token)), 503, "unavailable")
            r = self.s.request("POST", "/auth/login", json_body={"email": email, "password": DEFAULT_PASSWORD})
            self.assert_error(r, 503, "unavailable")
            self.assert_error(self.s.refresh(me["refresh_token"]), 503, "unavailable")
        finally:
            self.swap(b"users", uid.encode(), good)
        # Nothing was rewritten while it was unreadable: the same tokens work.
        self.assertEqual(self.s.request("GET", "/auth/me", headers=bearer(token)).status, 200)
        r = self.s.refresh(me["refresh_token"])
        self.assertEqual(r.status, 200, r)

    def test_an_unreadable_session_is_503_not_the_end_of_the_session(self):
        me = self.s.register()
        token = me["access_token"]
        sid = self.s.request("GET", "/auth/sessions", headers=bearer(token)).json()["sessions"][0]["id"]
        good = self.swap(b"sessions", sid.encode(), b"\x01garbage")
        try:
            self.assert_error(self.s.request("GET", "/auth/me", headers=bearer(token)), 503, "unavailable")
        finally:
            self.swap(b"sessions", sid.encode(), good)
        self.assertEqual(self.s.request("GET", "/auth/me", headers=bearer(token)).status, 200)
