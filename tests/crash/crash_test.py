#!/usr/bin/python3
"""Crash-consistency soak for Gatehouse (issue 8).

Drives writes from several client threads against the real server and kills
it with SIGKILL at random moments, many times, restarting it on the same
store after each kill. Every write that got a 2xx is written in a ledger;
a write whose answer was lost in the crash is "unknown" and its user is
frozen until the next check resolves it.

Writes driven: register, login, refresh rotation, logout (one and all
sessions), profile change, password change (with and without revoking the
other sessions), reuse of a rotated-away refresh token (revokes the family),
magic links and password resets (one-time tokens read from the file outbox),
and the audit events all of these append.

After each kill, with the server down, the store is read directly
(python3-lmdb, records decoded from their CBOR) and checked:
  * structure: every index entry points at its record and back, every
    refresh token at its session, at most one live refresh token per family
    (one refresh record with the session's generation, and it is the
    session's current hash), every record decodes;
  * the ledger: every acknowledged write is there (users, profile fields,
    current refresh tokens, revocations, used (or pruned) and live one-time tokens,
    password hashes stay put); each unknown write is resolved, and must be
    all-or-nothing (a logout-all revoked all the sessions or none; a reset
    used its token, changed the password and revoked the sessions, or did
    none of it; a rotation left the old token or its HMAC successor current);
  * the audit log: the hash chain verified independently and with
    `gatehouse audit verify`, and no committed record ever disappears.
Then the server is restarted and the same facts are checked over HTTP:
acknowledged passwords log in (for an unknown password change exactly one
of old/new works), live refresh tokens rotate, rotated-away and logged-out
tokens answer invalid_grant, used one-time tokens answer invalid_grant,
logged-out access tokens are refused.

Usage: crash_test.py [--kills N] [--seed S] [--bin PATH] [--verbose]
Exit status 0 when no violation was found, 1 otherwise (each violation is
printed with the kill number and what was expected).
"""
import argparse
import base64
import collections
import email
import email.policy
import glob
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from urllib.parse import parse_qs, urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import harness  # noqa: E402  (tests/integration/harness.py)

try:
    import lmdb  # python3-lmdb (Debian)
except ImportError:  # pragma: no cover
    sys.exit("crash_test.py needs python3-lmdb: run it with /usr/bin/python3 (apt-get install python3-lmdb)")


# ---- store access ----------------------------------------------------------

def _cbor(b, i):
    """Minimal CBOR decoder for what nlohmann::json::to_cbor writes."""
    ib = b[i]
    i += 1
    mt, ai = ib >> 5, ib & 31
    if mt == 7:
        if ai == 20:
            return False, i
        if ai == 21:
            return True, i
        if ai in (22, 23):
            return None, i
        if ai == 25:
            return struct.unpack(">e", b[i:i + 2])[0], i + 2
        if ai == 26:
            return struct.unpack(">f", b[i:i + 4])[0], i + 4
        if ai == 27:
            return struct.unpack(">d", b[i:i + 8])[0], i + 8
        raise ValueError("unexpected CBOR simple value %d" % ai)
    if ai < 24:
        n = ai
    elif ai in (24, 25, 26, 27):
        size = 1 << (ai - 24)
        n = int.from_bytes(b[i:i + size], "big")
        i += size
    else:
        raise ValueError("indefinite CBOR length")
    if mt == 0:
        return n, i
    if mt == 1:
        return -1 - n, i
    if mt == 2:
        if i + n > len(b):
            raise ValueError("truncated byte string")
        return bytes(b[i:i + n]), i + n
    if mt == 3:
        if i + n > len(b):
            raise ValueError("truncated text string")
        return bytes(b[i:i + n]).decode("utf-8"), i + n
    if mt == 4:
        out = []
        for _ in range(n):
            v, i = _cbor(b, i)
            out.append(v)
        return out, i
    if mt == 5:
        out = {}
        for _ in range(n):
            k, i = _cbor(b, i)
            v, i = _cbor(b, i)
            out[k] = v
        return out, i
    return _cbor(b, i)  # tag: the tagged item


def decode_record(raw):
    """A stored record: version byte 1, then one CBOR map."""
    if len(raw) < 2 or raw[0] != 1:
        raise ValueError("bad version byte")
    v, end = _cbor(raw, 1)
    if end != len(raw) or not isinstance(v, dict):
        raise ValueError("not one CBOR map")
    return v


def token_hash(token):
    """BLAKE2b-256 of a token, as the store keys it (crypto_generichash)."""
    return hashlib.blake2b(token.encode(), digest_size=32).digest()


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def read_audit_key(path):
    """(key, keyed_from) of the audit key file beside the store (the default
    audit.key_file); (b"", infinity) when there is none: every link unkeyed."""
    key, keyed_from = b"", float("inf")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                name, _, value = line.partition("=")
                if name.strip() == "key":
                    key = bytes.fromhex(value.strip())
                elif name.strip() == "keyed_from":
                    keyed_from = int(value)
    return key, keyed_from


TABLES = ("meta", "users", "emails", "usernames", "sessions", "user_sessions", "refresh", "keys",
          "api_keys", "user_api_keys", "avatars", "otp", "user_otp", "audit")
ID_LEN = 32  # logic::random_id(): 16 random bytes as hex


class Snapshot:
    """Every table of a stopped server's store, decoded. `problems` lists
    records that do not decode."""

    def __init__(self, path):
        self.problems = []
        self.audit_key, self.keyed_from = read_audit_key(path + ".audit-key")
        raw = {}
        env = lmdb.open(path, readonly=True, create=False, max_dbs=16, lock=True, subdir=True)
        try:
            with env.begin() as txn:
                for name in TABLES:
                    try:
                        db = env.open_db(name.encode(), txn=txn, create=False)
                    except lmdb.NotFoundError:
                        raw[name] = {}
                        continue
                    raw[name] = {bytes(k): bytes(v) for k, v in txn.cursor(db=db)}
        finally:
            env.close()
        self.meta = raw["meta"]
        self.emails = {k.decode(): v.decode() for k, v in raw["emails"].items()}
        self.usernames = {k.decode(): v.decode() for k, v in raw["usernames"].items()}
        self.user_sessions = set(k.decode() for k in raw["user_sessions"])
        # user id ":" purpose ":" token hash -> "" (the live links of a user and purpose)
        self.user_otp = set()
        for k in raw["user_otp"]:
            uid, _, rest = k.partition(b":")
            purpose, _, h = rest.partition(b":")
            self.user_otp.add((uid.decode(), purpose.decode(), h))
        self.users = self._decode(raw["users"], "users", str_keys=True)
        self.sessions = self._decode(raw["sessions"], "sessions", str_keys=True)
        self.refresh = self._decode(raw["refresh"], "refresh")
        self.otp = self._decode(raw["otp"], "otp")
        self.audit = raw["audit"]
        self.keys = raw["keys"]

    def _decode(self, table, name, str_keys=False):
        out = {}
        for k, v in table.items():
            try:
                out[k.decode() if str_keys else k] = decode_record(v)
            except (ValueError, UnicodeDecodeError, IndexError, struct.error) as e:
                self.problems.append("%s record %r does not decode: %s" % (name, k[:40], e))
        return out

    def secret(self):
        return self.meta.get(b"rotation_secret")

    def audit_head(self):
        head = self.meta.get(b"audit_head")
        if not head:
            return 0, b""
        return int.from_bytes(head[:8], "big"), head[8:]

    def structure(self):
        """Invariants that hold for any store: (number of checks, problems)."""
        problems = list(self.problems)
        checks = 0
        for em, uid in self.emails.items():
            checks += 1
            u = self.users.get(uid)
            if u is None:
                problems.append("emails[%s] -> user %s, which does not exist" % (em, uid))
            elif u.get("em") != em:
                problems.append("emails[%s] -> user %s whose email is %r" % (em, uid, u.get("em")))
        for uid, u in self.users.items():
            checks += 1
            if self.emails.get(u.get("em")) != uid:
                problems.append("user %s (%s) has no email index entry pointing back" % (uid, u.get("em")))
            if u.get("un") and self.usernames.get(u["un"].lower()) != uid:
                problems.append("user %s has username %r without its index entry" % (uid, u["un"]))
        for name, uid in self.usernames.items():
            checks += 1
            u = self.users.get(uid)
            if u is None or (u.get("un") or "").lower() != name:
                problems.append("usernames[%s] -> %s, which does not have that username" % (name, uid))
        for key in self.user_sessions:
            checks += 1
            uid, sid = key[:ID_LEN], key[ID_LEN:]
            s = self.sessions.get(sid)
            if s is None or s.get("u") != uid:
                problems.append("user_sessions entry %s/%s without its session" % (uid, sid))
        live_per_family = {}
        for h, ref in self.refresh.items():
            checks += 1
            s = self.sessions.get(ref.get("s"))
            if s is None:
                problems.append("refresh token %s points at missing session %s" % (h.hex()[:16], ref.get("s")))
                continue
            if ref.get("g", 0) > s.get("g", 0):
                problems.append("refresh token %s has generation %s beyond its session's %s"
                                % (h.hex()[:16], ref.get("g"), s.get("g")))
            if ref.get("g") == s.get("g"):
                live_per_family.setdefault(ref["s"], []).append(h)
        for sid, s in self.sessions.items():
            checks += 1
            if s.get("u") not in self.users:
                problems.append("session %s belongs to missing user %s" % (sid, s.get("u")))
            if s.get("u", "") + sid not in self.user_sessions:
                problems.append("session %s has no user_sessions index entry" % sid)
            live = live_per_family.get(sid, [])
            if len(live) > 1:
                problems.append("session %s has %d refresh tokens of its current generation %s (more than one live)"
                                % (sid, len(live), s.get("g")))
            if live and live[0] != s.get("h"):
                problems.append("session %s: the refresh token of its current generation is not its current hash" % sid)
            if not live:
                problems.append("session %s: no refresh token record for its current generation %s" % (sid, s.get("g")))
        for h, o in self.otp.items():
            checks += 1
            if o.get("u") not in self.users:
                problems.append("one-time token %s of missing user %s" % (h.hex()[:16], o.get("u")))
        for uid, purpose, h in self.user_otp:
            checks += 1
            o = self.otp.get(h)
            if o is None or o.get("u") != uid or o.get("p") != purpose:
                problems.append("user_otp[%s:%s:%s] does not point at a token of that user and purpose"
                                % (uid, purpose, h.hex()[:16]))
        # The audit chain, verified independently of the server's code.
        head_seq, head_hash = self.audit_head()
        prev = b"\0" * 32
        seq = 0
        for k in sorted(self.audit):
            checks += 1
            seq += 1
            if int.from_bytes(k, "big") != seq:
                problems.append("audit: record %d missing (found %d)" % (seq, int.from_bytes(k, "big")))
                break
            try:
                rec = decode_record(self.audit[k])
            except ValueError as e:
                problems.append("audit record %d does not decode: %s" % (seq, e))
                break
            if rec.get("p") != prev:
                problems.append("audit record %d does not link to its predecessor" % seq)
                break
            key = self.audit_key if seq >= self.keyed_from else b""
            if hashlib.blake2b(prev + rec["c"].encode(), digest_size=32, key=key).digest() != rec.get("h"):
                problems.append("audit record %d: hash does not match its content" % seq)
                break
            prev = rec["h"]
        else:
            if (head_seq, head_hash if head_seq else b"") != (seq, prev if seq else b""):
                problems.append("audit head (%d) does not match the last record (%d)" % (head_seq, seq))
        return checks, problems


# ---- the ledger --------------------------------------------------------------

def new_password():
    return "pw %s stays secret" % uuid.uuid4().hex[:16]


def jwt_sid(access_token):
    payload = access_token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))["sid"]


class Family:
    """One session (refresh-token family) the client holds."""

    def __init__(self, tokens):
        self.sid = jwt_sid(tokens["access_token"])
        self.token = tokens["refresh_token"]
        self.access = tokens["access_token"]
        self.access_at = time.time()
        self.live = True
        self.retired = []  # rotated-away refresh tokens, oldest first

    def bearer_ok(self):
        return self.access is not None and time.time() - self.access_at < 600

    def rotated(self, tokens):
        self.retired.append(self.token)
        self.retired = self.retired[-6:]
        self.token = tokens["refresh_token"]
        self.access = tokens["access_token"]
        self.access_at = time.time()


class Account:
    def __init__(self, email_addr):
        self.email = email_addr
        self.uid = None
        self.exists = None      # True, False, or None while a registration is unknown
        self.password = None    # the acknowledged password
        self.pw_hash = None     # its stored hash, bound at the first check after it was acknowledged
        self.full_name = None
        self.verified = False   # acknowledged email_verified
        self.families = []      # live and recently dead families
        self.otp_live = {}      # purpose -> mailed, unused, newest token (older ones stay valid, untracked)
        self.otp_mailed_at = {}  # purpose -> when that token was mailed (they expire after 15 min)
        self.otp_used = []      # (purpose, token) known used
        self.otp_seen = set()   # hashes of this user's tokens seen in user_otp at a check
        self.pending = None     # the one write whose answer was lost
        self.login_check = False

    def live(self):
        return [f for f in self.families if f.live]

    def password_replaced(self, new, ended):
        """An acknowledged password change or reset: `ended` families are gone."""
        self.password, self.pw_hash, self.login_check = new, None, True
        for f in ended:
            f.live = False

    def prune(self):
        live = self.live()
        if len(live) > 8 and not self.pending:
            drop = set(id(f) for f in live[:-8])  # forget (not end) the oldest live sessions
            self.families = [f for f in self.families if id(f) not in drop]
        dead = [f for f in self.families if not f.live]
        if len(dead) > 6:
            drop = set(id(f) for f in dead[:-6])
            self.families = [f for f in self.families if id(f) not in drop]
        self.otp_used = self.otp_used[-10:]


class NotSent(Exception):
    """Connection refused: the request never reached a server."""


class Unknown(Exception):
    """The connection broke: the request may or may not have been carried out."""


class Violation(Exception):
    pass


# ---- the outbox ---------------------------------------------------------------

class Outbox:
    """Mail written by the file driver (one .eml per message, renamed into
    place when complete)."""

    def __init__(self, folder):
        self.folder = folder
        self.seen = set()
        self.links = {}  # email -> list of links, in discovery order
        self.lock = threading.Lock()

    def scan(self):
        with self.lock:
            for path in glob.glob(os.path.join(self.folder, "*.eml")):
                if path in self.seen:
                    continue
                self.seen.add(path)
                with open(path, "rb") as f:
                    m = email.message_from_bytes(f.read(), policy=email.policy.default)
                body = m.get_body(("plain",))
                text = body.get_content() if body else ""
                for link in re.findall(r"(http\S+\?token=[A-Za-z0-9_-]+\S*)", text):
                    self.links.setdefault(m["To"], []).append(link)

    def tokens(self, to):
        with self.lock:
            return set(parse_qs(urlparse(link).query)["token"][0] for link in self.links.get(to, []))

    def token(self, to, path, known, timeout, stop):
        """A token for `to` on `path` that is not in `known`; None on timeout or stop."""
        deadline = time.time() + timeout
        while True:
            self.scan()
            with self.lock:
                for link in self.links.get(to, []):
                    u = urlparse(link)
                    if u.path == path:
                        t = parse_qs(u.query)["token"][0]
                        if t not in known:
                            return t
            if time.time() > deadline or stop.is_set():
                return None
            time.sleep(0.03)


# ---- the tool -----------------------------------------------------------------

class CrashTest:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.data = tempfile.mkdtemp(prefix="gatehouse-crash-")
        self.store = os.path.join(self.data, "store")
        self.outbox = Outbox(os.path.join(self.data, "outbox"))
        self.env = {
            "GATEHOUSE_TOKENS_ROTATION_GRACE_S": "0",      # a rotated-away token never works again
            "GATEHOUSE_RATE_LIMIT_BACKOFF_AFTER": "1000",  # checks log in with wrong passwords on purpose
            # Every link request must be mailed (the caps on mails per account are not under test here).
            "GATEHOUSE_RATE_LIMIT_LINK_ACCOUNT": "1000000",
            "GATEHOUSE_AUTH_MAX_LIVE_LINKS": "1000",
            "GATEHOUSE_LOG_LEVEL": "info",
        }
        self.server = None
        self.lock = threading.Lock()
        self.violations = []
        self.kill_no = 0
        self.killed = threading.Event()
        self.stop = threading.Event()
        self.secret = None
        self.audit_seen = 0
        self.stats = {"acked": 0, "acked_by_op": {}, "unknown": 0, "committed": 0, "not_committed": 0,
                      "ledger_checks": 0, "undetermined": 0, "http_checks": 0, "invariant_checks": 0, "audit_verify": 0,
                      "audit_verify_beside": 0, "startup_kills": 0, "audit_records": 0}
        self.audit_expected = collections.Counter()  # (user id, audit type) of acknowledged writes
        self.audit_coverage = None
        self.workers = [Worker(self, i, random.Random(self.rng.random())) for i in range(args.threads)]

    # -- bookkeeping --------------------------------------------------------
    def violation(self, what):
        msg = "[kill %d] %s" % (self.kill_no, what)
        with self.lock:
            self.violations.append(msg)
        print("VIOLATION " + msg, flush=True)

    def count(self, key, n=1):
        with self.lock:
            self.stats[key] += n

    def acked(self, op):
        with self.lock:
            self.stats["acked"] += 1
            self.stats["acked_by_op"][op] = self.stats["acked_by_op"].get(op, 0) + 1

    def expect_audit(self, uid, kind):
        with self.lock:
            self.audit_expected[(uid, kind)] += 1

    def accounts(self):
        return [a for w in self.workers for a in w.accounts]

    def log(self, *a):
        if self.args.verbose:
            print(*a, flush=True)

    # -- HTTP ---------------------------------------------------------------
    def http(self, method, path, json_body=None, headers=None):
        try:
            return self.server.request(method, path, json_body=json_body, headers=headers)
        except ConnectionRefusedError:
            raise NotSent()
        except (OSError, http.client.HTTPException) as e:
            if not self.killed.is_set():
                self.violation("%s %s failed while the server was up: %r" % (method, path, e))
            raise Unknown()

    def next_token(self, token):
        return b64url(hmac.new(self.secret, token.encode(), hashlib.sha256).digest())

    # -- server -------------------------------------------------------------
    def start(self):
        if self.server is None:
            self.server = harness.Server(self.env, data_dir=self.data)
        else:
            self.server.start()

    def startup_kill(self):
        """Starts a server and SIGKILLs it within its start-up."""
        env = dict(os.environ)
        env.update(harness.FAST_HASHING)
        env.update({"GATEHOUSE_NOTIFY_DRIVER": "file", "GATEHOUSE_NOTIFY_FILE_DIR": self.outbox.folder})
        env.update(self.env)
        p = subprocess.Popen([harness.BIN, "serve", "--config", harness.CONFIG, "--data", self.store,
                              "--listen", "127.0.0.1:0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=env)
        time.sleep(self.rng.uniform(0.0, 0.05))
        p.kill()
        p.wait()
        self.count("startup_kills")

    def audit_verify(self, beside):
        out = subprocess.run([harness.BIN, "audit", "verify", "--config", harness.CONFIG, "--data", self.store],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0 or "audit log OK" not in out.stdout:
            self.violation("`gatehouse audit verify`%s failed (exit %d): %s %s"
                           % (" beside the running server" if beside else "", out.returncode,
                              out.stdout.strip(), out.stderr.strip()[-500:]))
            return None
        self.count("audit_verify_beside" if beside else "audit_verify")
        m = re.search(r"OK: (\d+) records", out.stdout)
        return int(m.group(1)) if m else None

    # -- one cycle ------------------------------------------------------------
    def run(self):
        t0 = time.time()
        print("crash test: %d kills, seed %d, %d client threads, store %s"
              % (self.args.kills, self.args.seed, self.args.threads, self.store), flush=True)
        try:
            self.start()
            for n in range(1, self.args.kills + 1):
                self.kill_no = n
                self.cycle(n)
                if self.violations and not self.args.keep_going:
                    break
            self.kill_no += 1
            self.final_check()
        except Violation as e:
            self.violation(str(e))
        except Exception:
            self.violation("the test tool failed:\n" + traceback.format_exc())
        finally:
            if self.server is not None:
                try:
                    self.server.kill()
                except Exception:
                    pass
        self.summary(time.time() - t0)
        if self.violations and not self.args.inject:
            print("kept the store for inspection: " + self.data)
        else:
            shutil.rmtree(self.data, ignore_errors=True)
        return 1 if self.violations else 0

    def cycle(self, n):
        # Workload, then SIGKILL at a random moment of it.
        self.killed.clear()
        self.stop.clear()
        acked_before = self.stats["acked"]
        threads = [threading.Thread(target=w.run, daemon=True) for w in self.workers]
        for t in threads:
            t.start()
        window = self.rng.choice([self.rng.uniform(0.0, 0.1), self.rng.uniform(0.05, self.args.max_window)])
        time.sleep(window)
        if self.args.inject == "rollback" and n == 2:
            # The self-test needs writes acknowledged after the snapshot of kill 1.
            deadline = time.monotonic() + 20
            while self.stats["acked"] == acked_before and time.monotonic() < deadline:
                time.sleep(0.01)
        if not self.server.alive():
            self.violation("the server died on its own:\n" + "\n".join(self.server.lines[-20:]))
        self.killed.set()
        self.server.kill()
        self.stop.set()
        for t in threads:
            t.join(60)
            if t.is_alive():
                raise Violation("a client thread did not stop after the kill")
        for rec in self.server.log_records():
            if rec.get("msg") in ("store commit failed", "store batch aborted", "store write transaction failed"):
                self.violation("server logged %r before the kill: %s" % (rec.get("msg"), rec))
        del self.server.lines[:]
        unknown = sum(1 for a in self.accounts() if a.pending)
        # Sometimes also crash the next start-up.
        if self.rng.random() < 0.08:
            self.startup_kill()
        if self.args.inject:
            self.inject(n)
        # Phase A: the store, with no server running.
        self.check_store()
        audit_count = self.audit_verify(beside=False)
        if audit_count is not None:
            if audit_count < self.audit_seen:
                self.violation("audit log shrank from %d to %d records" % (self.audit_seen, audit_count))
            self.audit_seen = max(self.audit_seen, audit_count)
            self.stats["audit_records"] = audit_count
        # Phase B: restart and check over HTTP.
        self.start()
        self.killed.clear()
        try:
            self.check_http()
        except (Unknown, NotSent):
            raise Violation("an HTTP request of the checks failed with the server up")
        if n % 5 == 0:
            self.audit_verify(beside=True)
        for a in self.accounts():
            a.prune()
        self.log("kill %d: window %.2f s, %d writes acknowledged, %d unknown resolved, audit %d records"
                 % (n, window, self.stats["acked"] - acked_before, unknown, self.audit_seen))

    def inject(self, n):
        """Self-test of the checker: damage the store the way a broken server
        would, and the run must then fail."""
        backup = os.path.join(self.data, "store-at-kill-1")
        if self.args.inject == "rollback" and n == 1:
            shutil.copytree(self.store, backup)
        elif self.args.inject == "rollback" and n == 2:
            # Every write acknowledged since kill 1 is lost, as if the server
            # had answered before its commit was durable.
            shutil.copy2(os.path.join(backup, "data.mdb"), os.path.join(self.store, "data.mdb"))
            print("injected: store rolled back to its state at kill 1", flush=True)
        elif self.args.inject == "break-audit" and n == 2:
            env = lmdb.open(self.store, max_dbs=16, subdir=True)
            with env.begin(write=True) as txn:
                db = env.open_db(b"audit", txn=txn, create=False)
                k, v = next(iter(txn.cursor(db=db)))
                i = v.index(b'"type":"') + 8
                v = v[:i] + (b"X" if v[i:i + 1] != b"X" else b"Y") + v[i + 1:]
                txn.put(k, v, db=db)
            env.close()
            print("injected: audit record 1 altered", flush=True)

    # -- phase A: the store ---------------------------------------------------
    def check_store(self):
        snap = Snapshot(self.store)
        checks, problems = snap.structure()
        self.count("invariant_checks", checks)
        for p in problems:
            self.violation("store invariant: " + p)
        if self.secret is None:
            self.secret = snap.secret()
            if not self.secret or len(self.secret) != 32:
                raise Violation("no 32-byte rotation secret in the store")
        elif snap.secret() != self.secret:
            self.violation("the rotation secret changed across a crash")
        for acc in self.accounts():
            self.check_account_store(acc, snap)

    def check_account_store(self, acc, snap):
        p = acc.pending
        ck = lambda: self.count("ledger_checks")  # noqa: E731
        if acc.exists is None:  # an unknown registration: all or nothing
            uid = snap.emails.get(acc.email)
            self.count("unknown")
            ck()
            if uid is None:
                acc.exists = False
                acc.password = p["password"]
                self.count("not_committed")
            else:
                u = snap.users.get(uid, {})
                if u.get("fn") != p["full_name"]:
                    self.violation("unknown registration of %s stored with full_name %r, sent %r"
                                   % (acc.email, u.get("fn"), p["full_name"]))
                acc.exists, acc.uid, acc.password, acc.full_name = True, uid, p["password"], p["full_name"]
                acc.login_check = True
                self.count("committed")
            acc.pending = None
            return
        if acc.exists is False:
            ck()
            if acc.email in snap.emails:
                self.violation("registration of %s was absent after an earlier crash and is present now" % acc.email)
            return
        uid = snap.emails.get(acc.email)
        ck()
        if uid != acc.uid:
            self.violation("acknowledged user %s (%s) is missing: emails index says %r" % (acc.email, acc.uid, uid))
            return
        u = snap.users.get(uid)
        if u is None:
            self.violation("acknowledged user %s has no record" % acc.email)
            return
        op = p["op"] if p else None
        if op:
            self.count("unknown")

        def resolved(committed):
            self.count("committed" if committed else "not_committed")

        # profile
        ck()
        if op == "patch":
            if u.get("fn") not in (acc.full_name, p["new"]):
                self.violation("%s: full_name %r is neither the acknowledged %r nor the unknown %r"
                               % (acc.email, u.get("fn"), acc.full_name, p["new"]))
            resolved(u.get("fn") == p["new"] != acc.full_name)
            acc.full_name = u.get("fn")
            acc.pending = None
        elif u.get("fn") != acc.full_name:
            self.violation("%s: acknowledged full_name %r, stored %r" % (acc.email, acc.full_name, u.get("fn")))
        if acc.verified:
            ck()
            if not u.get("ev"):
                self.violation("%s: acknowledged email verification lost" % acc.email)
        # password hash stays what it was unless a change is unknown
        if op not in ("pwchange", "reset"):
            ck()
            if acc.pw_hash is None:
                acc.pw_hash = u.get("pw")
            elif acc.pw_hash != u.get("pw"):
                self.violation("%s: stored password hash changed without an acknowledged change" % acc.email)
        else:
            p["hash_changed"] = acc.pw_hash is not None and u.get("pw") != acc.pw_hash
        # families
        for fam in acc.families:
            s = snap.sessions.get(fam.sid)
            ck()
            if s is None:
                self.violation("%s: acknowledged session %s is missing" % (acc.email, fam.sid))
                continue
            if s.get("u") != uid:
                self.violation("session %s belongs to %s, not %s" % (fam.sid, s.get("u"), uid))
            if op == "refresh" and p["fam"] is fam:
                succ = self.next_token(fam.token)
                if s.get("h") == token_hash(fam.token):
                    fam.unknown_rotation = (False, succ)  # the successor must not work
                    resolved(False)
                elif s.get("h") == token_hash(succ):
                    fam.unknown_rotation = (True, fam.token)  # the old token must not work
                    fam.retired.append(fam.token)
                    fam.token, fam.access = succ, None
                    resolved(True)
                else:
                    self.violation("%s session %s: current refresh token is neither the acknowledged one nor its "
                                   "successor (unknown rotation)" % (acc.email, fam.sid))
                acc.pending = None
            elif s.get("h") != token_hash(fam.token):
                self.violation("%s session %s: the acknowledged newest refresh token is not current (generation %s)"
                               % (acc.email, fam.sid, s.get("g")))
            for old in fam.retired:
                ck()
                ref = snap.refresh.get(token_hash(old))
                if ref is None or ref.get("s") != fam.sid or ref.get("g", 0) >= s.get("g", 0):
                    self.violation("%s session %s: a rotated-away refresh token is missing or current again (%r)"
                                   % (acc.email, fam.sid, ref))
            maybe = op in ("logout", "reuse") and p["fam"] is fam or \
                op in ("logout_all", "pwchange", "reset") and fam in p["fams"]
            if not maybe:
                ck()
                if fam.live and s.get("rv"):
                    self.violation("%s session %s: acknowledged live, stored revoked (%s)"
                                   % (acc.email, fam.sid, s.get("rr")))
                if not fam.live and not s.get("rv"):
                    self.violation("%s session %s: acknowledged logged out / revoked, stored live"
                                   % (acc.email, fam.sid))
        if op in ("logout", "reuse"):
            s = snap.sessions.get(p["fam"].sid, {})
            p["fam"].live = not s.get("rv")
            resolved(bool(s.get("rv")))
            acc.pending = None
        elif op in ("logout_all", "pwchange", "reset"):
            flags = [bool(snap.sessions.get(f.sid, {}).get("rv")) for f in p["fams"]]
            ck()
            if any(flags) and not all(flags):
                self.violation("%s: unknown %s revoked %d of its %d sessions (must be all or none)"
                               % (acc.email, op, sum(flags), len(flags)))
            p["revoked"] = all(flags) if flags else None
            if op == "logout_all":
                for f in p["fams"]:
                    f.live = not p["revoked"]
                resolved(bool(p["revoked"]))
                acc.pending = None
        # one-time tokens
        for purpose, t in acc.otp_used:
            ck()
            o = snap.otp.get(token_hash(t))
            # Missing is fine: the background prune deletes used one-time
            # tokens (domain/retention.hpp), and only used ones this
            # young; a token was mailed only after its commit, so a lost write
            # leaves it present and unused, which this still catches.
            if o is not None and not o.get("us"):
                self.violation("%s: used %s token is unused in the store (%r)" % (acc.email, purpose, o))
        for purpose, t in list(acc.otp_live.items()):
            o = snap.otp.get(token_hash(t))
            # An unknown redeem or reset of this purpose may have retired it with the one it used.
            consuming = op in ("redeem", "reset") and p["purpose"] == purpose
            ck()
            if o is None and consuming:
                continue  # retired with the one it used, then pruned (used tokens go at the next pass)
            if o is None or o.get("p") != purpose or o.get("u") != uid:
                self.violation("%s: mailed %s token missing from the store (%r)" % (acc.email, purpose, o))
                continue
            if o.get("us") and not consuming:  # a newer link never uses up an older one
                self.violation("%s: mailed, unused %s token is marked used" % (acc.email, purpose))
        mine = set(h for u2, pu, h in snap.user_otp if u2 == uid)
        if op == "link":
            # Committed: a token of this purpose the account had never seen.
            ck()
            new = [h for u2, pu, h in snap.user_otp
                   if u2 == uid and pu == p["purpose"] and h not in p["known"] and h not in acc.otp_seen]
            if len(new) > 1:
                self.violation("%s: one unknown %s request issued %d tokens" % (acc.email, p["purpose"], len(new)))
            resolved(bool(new))
            acc.pending = None
        elif op in ("redeem", "reset"):
            o = snap.otp.get(token_hash(p["token"]), {})
            p["used"] = bool(o.get("us"))
            if op == "redeem":
                ck()
                if p["used"] and not u.get("ev"):
                    self.violation("%s: magic-link token used but the email is not verified (half a write)"
                                   % acc.email)
                if p["used"]:
                    acc.otp_live.pop("magic", None)
                    acc.otp_used.append(("magic", p["token"]))  # and the older magic links are retired
                    acc.verified = True
                resolved(p["used"])
                acc.pending = None
            else:
                ck()
                if p["revoked"] is not None and p["revoked"] != p["used"]:
                    self.violation("%s: unknown password reset: token used=%s but sessions revoked=%s"
                                   % (acc.email, p["used"], p["revoked"]))
                if p["hash_changed"] and not p["used"]:
                    self.violation("%s: unknown password reset changed the hash without using its token" % acc.email)
        acc.otp_seen |= mine

    # -- phase B: over HTTP ----------------------------------------------------
    def expect(self, r, status, code=None, what=""):
        self.count("http_checks")
        ok = r.status == status
        if ok and code is not None:
            try:
                ok = r.json().get("error") == code
            except ValueError:
                ok = False
        if not ok:
            self.violation("%s: expected %d%s, got %r" % (what, status, " " + code if code else "", r))
        return ok

    def login(self, acc, password, expect, what):
        r = self.http("POST", "/auth/login", {"email": acc.email, "password": password})
        if expect == 200 and self.expect(r, 200, None, what):
            acc.families.append(Family(r.json()))
            self.acked("login")
            return True
        if expect == 401:
            self.expect(r, 401, "invalid_credentials", what)
        return r.status == 200

    def refresh_check(self, acc, fam, what):
        r = self.http("POST", "/auth/refresh", {"refresh_token": fam.token})
        if fam.live:
            if self.expect(r, 200, None, "%s: live refresh token of %s session %s" % (what, acc.email, fam.sid)):
                fam.rotated(r.json())
                self.acked("refresh")
                m = self.http("GET", "/auth/me", headers=harness.bearer(fam.access))
                if self.expect(m, 200, None, "%s: /auth/me with the new access token" % what):
                    if m.json().get("email") != acc.email:
                        self.violation("/auth/me answered %r for %s" % (m.json().get("email"), acc.email))
        else:
            self.expect(r, 400, "invalid_grant", "%s: refresh token of ended session %s (%s)" % (what, fam.sid, acc.email))
            if fam.access:
                self.expect(self.http("GET", "/auth/me", headers=harness.bearer(fam.access)), 401, "invalid_token",
                            "%s: access token of ended session %s" % (what, fam.sid))

    def check_http(self):
        rng = self.rng
        accounts = self.accounts()
        for acc in accounts:
            p = acc.pending
            if acc.exists is False and rng.random() < 0.3:
                self.login(acc, acc.password, 401, "login to a registration that never committed (%s)" % acc.email)
            if acc.exists is not True:
                continue
            if p and p["op"] in ("pwchange", "reset"):
                self.resolve_password(acc, p)
            if acc.login_check:
                acc.login_check = False
                self.login(acc, acc.password, 200, "%s: acknowledged password" % acc.email)
        # rotations whose answer was lost: exactly one of (old, successor) works
        for acc in accounts:
            for fam in acc.families:
                info = getattr(fam, "unknown_rotation", None)
                if not info:
                    continue
                del fam.unknown_rotation
                committed, other = info
                if not fam.live:
                    continue
                if not committed:  # the successor was never stored: refused, with no side effect
                    self.expect(self.http("POST", "/auth/refresh", {"refresh_token": other}), 400, "invalid_grant",
                                "%s session %s: successor of a rotation that did not commit" % (acc.email, fam.sid))
                self.refresh_check(acc, fam, "unknown rotation (committed=%s)" % committed)
                if committed and rng.random() < 0.5:
                    # the rotated-away token must not work: reuse revokes the family, for good
                    self.expect(self.http("POST", "/auth/refresh", {"refresh_token": other}), 400, "invalid_grant",
                                "%s session %s: token rotated away by a rotation whose answer was lost"
                                % (acc.email, fam.sid))
                    fam.live = False
                    self.acked("reuse_revoke")
                    self.refresh_check(acc, fam, "after reuse of a crash-rotated token")
        # sampled checks of live and dead families, retired tokens, used one-time tokens
        fams = [(a, f) for a in accounts if a.exists for f in a.families]
        live = [x for x in fams if x[1].live]
        dead = [x for x in fams if not x[1].live]
        for acc, fam in rng.sample(live, min(len(live), self.args.sample)):
            self.refresh_check(acc, fam, "after restart")
        for acc, fam in rng.sample(dead, min(len(dead), self.args.sample)):
            self.refresh_check(acc, fam, "after restart")
            for old in fam.retired[-2:]:
                self.expect(self.http("POST", "/auth/refresh", {"refresh_token": old}), 400, "invalid_grant",
                            "rotated-away token of ended session %s" % fam.sid)
        used = [(a, pt) for a in accounts if a.exists for pt in a.otp_used]
        for acc, (purpose, t) in rng.sample(used, min(len(used), self.args.sample)):
            if purpose == "magic":
                r = self.http("POST", "/auth/magic-link/verify", {"token": t})
            else:
                r = self.http("POST", "/auth/password/reset", {"token": t, "new_password": new_password()})
            self.expect(r, 400, "invalid_grant", "used %s token of %s" % (purpose, acc.email))
        sample_accounts = [a for a in accounts if a.exists and not a.pending]
        for acc in rng.sample(sample_accounts, min(len(sample_accounts), max(1, self.args.sample // 3))):
            self.login(acc, acc.password, 200, "%s: acknowledged password (sample)" % acc.email)

    def resolve_password(self, acc, p):
        old, new = p["old"], p["new"]
        r = self.http("POST", "/auth/login", {"email": acc.email, "password": new})
        self.count("http_checks")
        changed = r.status == 200
        if changed:
            acc.families.append(Family(r.json()))
            self.expect(self.http("POST", "/auth/login", {"email": acc.email, "password": old}), 401,
                        "invalid_credentials", "%s: old password after the unknown %s committed" % (acc.email, p["op"]))
        else:
            self.expect(r, 401, "invalid_credentials", "%s: new password of an unknown %s" % (acc.email, p["op"]))
            r = self.http("POST", "/auth/login", {"email": acc.email, "password": old})
            if self.expect(r, 200, None, "%s: neither the old nor the new password works after an unknown %s"
                           % (acc.email, p["op"])):
                acc.families.append(Family(r.json()))
        if p["revoked"] is not None and p["revoked"] != changed:
            self.violation("%s: unknown %s: password changed=%s but its sessions revoked=%s (must be all or none)"
                           % (acc.email, p["op"], changed, p["revoked"]))
        if p["hash_changed"] and not changed:
            self.violation("%s: unknown %s: the stored hash changed but the new password does not work"
                           % (acc.email, p["op"]))
        if p["op"] == "reset":
            if p["used"] != changed:
                self.violation("%s: unknown reset: token used=%s, password changed=%s" % (acc.email, p["used"], changed))
            if p["used"]:
                acc.otp_live.pop("reset", None)
                acc.otp_used.append(("reset", p["token"]))
        for f in p["fams"]:
            f.live = f.live and not changed
        self.count("committed" if changed else "not_committed")
        if changed:
            acc.password = new
        acc.pw_hash = None
        acc.pending = None

    def final_check(self):
        """A last kill-free pass: every live family rotates, every dead one stays dead."""
        self.server.kill()
        self.check_store()
        self.start()
        for acc in self.accounts():
            if not acc.exists:
                continue
            for fam in acc.families:
                self.refresh_check(acc, fam, "final pass")
        self.server.stop()
        # Informational: audit records are appended after the answer, so a
        # crash can lose those of acknowledged writes. How many were lost?
        snap = Snapshot(self.store)
        found = collections.Counter()
        for raw in snap.audit.values():
            c = json.loads(decode_record(raw)["c"])
            found[(c.get("subject_user_id"), c.get("type"))] += 1
        expected = sum(self.audit_expected.values())
        missing = sum(max(0, n - found[k]) for k, n in self.audit_expected.items())
        self.audit_coverage = (expected - missing, expected)

    def summary(self, seconds):
        s = self.stats
        ops = ", ".join("%s %d" % kv for kv in sorted(s["acked_by_op"].items()))
        users = sum(1 for a in self.accounts() if a.exists)
        print("crash test summary: seed %d" % self.args.seed)
        print("  kills: %d SIGKILLs under load (+%d during start-up), %d restarts, %.1f s"
              % (self.kill_no - 1 if self.kill_no else 0, s["startup_kills"], self.kill_no, seconds))
        print("  acknowledged writes: %d (%s), each checked against the store after every later kill" % (s["acked"], ops))
        print("  unknown writes (answer lost in a crash): %d resolved: %d committed whole, %d not at all%s"
              % (s["unknown"], s["committed"], s["not_committed"],
                 ", %d consistent either way" % s["undetermined"] if s["undetermined"] else ""))
        print("  ledger checks: %d, store invariant checks: %d, HTTP checks: %d"
              % (s["ledger_checks"], s["invariant_checks"], s["http_checks"]))
        print("  audit: `gatehouse audit verify` OK %d times on the stopped store, %d beside the server; %d records"
              % (s["audit_verify"], s["audit_verify_beside"], self.audit_seen))
        if self.audit_coverage:
            print("  audit coverage (informational): %d of %d acknowledged registrations / password changes / resets "
                  "have their audit record; the others were lost in a kill (the audit append follows the answer)"
                  % self.audit_coverage)
        print("  users: %d; violations: %d" % (users, len(self.violations)))
        for v in self.violations[:50]:
            print("  - " + v)


class Worker:
    """One client thread; it owns its accounts, so per-account operations are
    sequential and the ledger needs no lock."""

    def __init__(self, tool, idx, rng):
        self.t = tool
        self.idx = idx
        self.rng = rng
        self.accounts = []

    def run(self):
        while not self.t.stop.is_set():
            try:
                self.step()
            except NotSent:
                time.sleep(0.02)
            except Unknown:
                pass
            except Exception:
                self.t.violation("client thread %d failed:\n%s" % (self.idx, traceback.format_exc()))
                return

    def http(self, *a, **k):
        return self.t.http(*a, **k)

    def unexpected(self, what, r):
        if self.t.killed.is_set() and r.status == 503:
            return  # cannot happen with SIGKILL, but a drain answer is not a violation
        self.t.violation("%s: unexpected answer %r" % (what, r))

    def step(self):
        ready = [a for a in self.accounts if a.exists and not a.pending]
        choices = []
        # Registrations that never committed stay in the ledger (they must
        # stay absent) but do not count against the accounts a thread keeps.
        cap = self.t.args.users_per_thread
        if sum(1 for a in self.accounts if a.exists is not False) < cap and len(self.accounts) < 3 * cap:
            choices.append(("register", 10))
        if ready:
            choices += [("login", 6), ("refresh", 30), ("logout", 7), ("logout_all", 2), ("patch", 6),
                        ("pwchange", 5), ("link", 6), ("redeem", 5), ("reuse", 3), ("me", 5)]
        if not choices:
            time.sleep(0.01)
            return
        op = self.rng.choices([c[0] for c in choices], [c[1] for c in choices])[0]
        if op == "register":
            return self.register()
        acc = self.rng.choice(ready)
        live = acc.live()
        if len(live) > 5 and op in ("login",):
            op = "logout"
        if op == "login" or (not live and op not in ("link", "redeem")):
            return self.login(acc)
        fam = self.rng.choice(live) if live else None
        if op in ("logout", "logout_all", "patch", "pwchange", "me") and not fam.bearer_ok():
            op = "refresh"
        getattr(self, "op_" + op)(acc, fam)

    # -- operations -----------------------------------------------------------
    def register(self):
        acc = Account("crash-%s@example.com" % uuid.uuid4().hex[:16])
        pw, fn = new_password(), "User %s" % uuid.uuid4().hex[:8]
        body = {"email": acc.email, "password": pw, "full_name": fn}
        try:
            r = self.http("POST", "/auth/register", body)
        except Unknown:
            acc.pending = {"op": "register", "password": pw, "full_name": fn}
            self.accounts.append(acc)
            raise
        if r.status != 201:
            return self.unexpected("register", r)
        b = r.json()
        acc.exists, acc.uid, acc.password, acc.full_name = True, b["user"]["id"], pw, fn
        acc.families.append(Family(b))
        acc.login_check = True
        self.accounts.append(acc)
        self.t.acked("register")
        self.t.expect_audit(acc.uid, "register")

    def login(self, acc):
        r = self.http("POST", "/auth/login", {"email": acc.email, "password": acc.password})
        if r.status != 200:
            return self.unexpected("login of %s with its acknowledged password" % acc.email, r)
        acc.families.append(Family(r.json()))
        self.t.acked("login")

    def op_refresh(self, acc, fam):
        try:
            r = self.http("POST", "/auth/refresh", {"refresh_token": fam.token})
        except Unknown:
            acc.pending = {"op": "refresh", "fam": fam}
            raise
        if r.status != 200:
            return self.unexpected("refresh of live session %s of %s" % (fam.sid, acc.email), r)
        fam.rotated(r.json())
        self.t.acked("refresh")

    def op_me(self, acc, fam):
        r = self.http("GET", "/auth/me", headers=harness.bearer(fam.access))
        if r.status != 200 or r.json().get("email") != acc.email or r.json().get("full_name") != acc.full_name:
            self.unexpected("/auth/me of live session %s of %s (full_name %r)" % (fam.sid, acc.email, acc.full_name), r)

    def op_logout(self, acc, fam):
        try:
            r = self.http("POST", "/auth/logout", headers=harness.bearer(fam.access))
        except Unknown:
            acc.pending = {"op": "logout", "fam": fam}
            raise
        if r.status != 204:
            return self.unexpected("logout of %s" % acc.email, r)
        fam.live = False
        self.t.acked("logout")
        r = self.http("GET", "/auth/me", headers=harness.bearer(fam.access))
        if r.status != 401:
            self.unexpected("/auth/me right after logout", r)

    def op_logout_all(self, acc, fam):
        fams = acc.live()
        try:
            r = self.http("POST", "/auth/logout", {"all": True}, headers=harness.bearer(fam.access))
        except Unknown:
            acc.pending = {"op": "logout_all", "fams": fams}
            raise
        if r.status != 204:
            return self.unexpected("logout of all sessions of %s" % acc.email, r)
        for f in fams:
            f.live = False
        self.t.acked("logout_all")

    def op_patch(self, acc, fam):
        new = "Name %s" % uuid.uuid4().hex[:10]
        try:
            r = self.http("PATCH", "/auth/me", {"full_name": new}, headers=harness.bearer(fam.access))
        except Unknown:
            acc.pending = {"op": "patch", "new": new}
            raise
        if r.status != 200 or r.json().get("full_name") != new:
            return self.unexpected("profile change of %s" % acc.email, r)
        acc.full_name = new
        self.t.acked("patch")

    def op_pwchange(self, acc, fam):
        new, revoke = new_password(), self.rng.random() < 0.5
        others = [f for f in acc.live() if f is not fam] if revoke else []
        body = {"current_password": acc.password, "new_password": new, "revoke_other_sessions": revoke}
        try:
            r = self.http("POST", "/auth/password/change", body, headers=harness.bearer(fam.access))
        except Unknown:
            acc.pending = {"op": "pwchange", "old": acc.password, "new": new, "fams": others}
            raise
        if r.status != 200:
            return self.unexpected("password change of %s" % acc.email, r)
        acc.password_replaced(new, others)
        self.t.acked("pwchange")
        self.t.expect_audit(acc.uid, "password_changed")

    def op_link(self, acc, fam, purpose=None):
        purpose = purpose or self.rng.choice(["magic", "reset"])
        path = {"magic": "/auth/magic-link", "reset": "/auth/password/forgot"}[purpose]
        link_path = {"magic": "/auth/magic-link", "reset": "/auth/password/reset"}[purpose]
        self.t.outbox.scan()
        known = set(t for _, t in acc.otp_used) | set(acc.otp_live.values()) | self.t.outbox.tokens(acc.email)
        pending = {"op": "link", "purpose": purpose, "known": set(token_hash(t) for t in known)}
        try:
            r = self.http("POST", path, {"email": acc.email})
        except Unknown:
            acc.pending = pending
            raise
        if r.status != 202:
            return self.unexpected("%s for %s" % (path, acc.email), r)
        # 202 comes before the token is stored; the mail comes after the commit.
        token = self.t.outbox.token(acc.email, link_path, known, 5.0, self.t.stop)
        if token is None:
            if not self.t.stop.is_set():
                self.t.violation("no %s mail for %s within 5 s" % (purpose, acc.email))
            acc.pending = pending
            raise Unknown()
        acc.otp_live[purpose] = token  # the older one stays valid (no longer tracked)
        acc.otp_mailed_at[purpose] = time.time()
        self.t.acked("link_" + purpose)

    def op_redeem(self, acc, fam):
        if not acc.otp_live:
            return self.op_link(acc, fam)
        purpose = self.rng.choice(sorted(acc.otp_live))
        token = acc.otp_live[purpose]
        if time.time() - acc.otp_mailed_at.get(purpose, 0) > 600:
            return self.op_link(acc, fam, purpose)  # close to expiry: a new link supersedes it
        if purpose == "magic":
            try:
                r = self.http("POST", "/auth/magic-link/verify", {"token": token})
            except Unknown:
                acc.pending = {"op": "redeem", "token": token, "purpose": purpose}
                raise
            if r.status != 200:
                return self.unexpected("magic link of %s (mailed, unused)" % acc.email, r)
            acc.families.append(Family(r.json()))
            acc.verified = True
            self.t.acked("magic_link_verify")
        else:
            new = new_password()
            fams = acc.live()
            try:
                r = self.http("POST", "/auth/password/reset", {"token": token, "new_password": new})
            except Unknown:
                acc.pending = {"op": "reset", "token": token, "purpose": purpose, "old": acc.password, "new": new,
                               "fams": fams}
                raise
            if r.status != 200:
                return self.unexpected("password reset of %s (mailed, unused token)" % acc.email, r)
            acc.password_replaced(new, fams)
            self.t.acked("password_reset")
            self.t.expect_audit(acc.uid, "password_reset")
        del acc.otp_live[purpose]
        acc.otp_used.append((purpose, token))

    def op_reuse(self, acc, fam):
        if not fam.retired:
            return self.op_refresh(acc, fam)
        try:
            r = self.http("POST", "/auth/refresh", {"refresh_token": fam.retired[-1]})
        except Unknown:
            acc.pending = {"op": "reuse", "fam": fam}
            raise
        if r.status != 400 or r.json().get("error") != "invalid_grant":
            return self.t.violation("a rotated-away refresh token of %s was accepted: %r" % (acc.email, r))
        fam.live = False  # reuse detection revoked the family (committed before the answer)
        self.t.acked("reuse_revoke")
        r = self.http("POST", "/auth/refresh", {"refresh_token": fam.token})
        if r.status != 400:
            self.unexpected("refresh of a family revoked for reuse", r)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="SIGKILLs under load (default 20)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock, printed)")
    ap.add_argument("--bin", default=None, help="the gatehouse binary (default: build/gatehouse)")
    ap.add_argument("--config", default=None, help="the config file (default: config/gatehouse.toml)")
    ap.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    ap.add_argument("--users-per-thread", type=int, default=12, help="accounts each thread creates (default 12)")
    ap.add_argument("--max-window", type=float, default=1.2, help="longest load phase before a kill, s")
    ap.add_argument("--sample", type=int, default=12, help="families / tokens checked over HTTP per restart")
    ap.add_argument("--keep-going", action="store_true", help="do not stop at the first kill with a violation")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--inject", choices=("rollback", "break-audit"),
                    help="self-test: damage the store after a kill; the run must then report violations")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = int(time.time() * 1000) % 1000000
    harness.BIN = os.path.abspath(args.bin) if args.bin else os.environ.get(
        "GATEHOUSE_BIN", os.path.join(ROOT, "build", "gatehouse"))
    harness.CONFIG = os.path.abspath(args.config) if args.config else os.environ.get(
        "GATEHOUSE_CONFIG", os.path.join(ROOT, "config", "gatehouse.toml"))
    if not os.path.exists(harness.BIN):
        sys.exit("no gatehouse binary at %s (build first, or pass --bin)" % harness.BIN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(CrashTest(args).run())


if __name__ == "__main__":
    main()
