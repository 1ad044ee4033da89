"""Starts the real gatehouse binary on a free port with a temporary store and
talks HTTP to it. Used by every integration test module.

Run with Debian's /usr/bin/python3 (it sees python3-jwt and
python3-cryptography); ctest does. Environment:

  GATEHOUSE_BIN     the binary (default: build/gatehouse of this checkout)
  GATEHOUSE_CONFIG  the config file (default: config/gatehouse.toml)
  GATEHOUSE_TEST_STORE  "lmdb" (the default) or "postgres": with postgres every
                    Server serves from a fresh database of a throwaway cluster
                    (pg.py), migrated by `gatehouse migrate`, and the CLI
                    helpers run on it; tests that poke the LMDB files
                    themselves are skipped (`lmdb_only`).
  GATEHOUSE_SANITIZER  set by sanitizer builds (address or thread): every
                    timeout here is multiplied by SLOW (GATEHOUSE_TIMEOUT_SCALE
                    overrides the factor), and a sanitizer report in a server's
                    output fails the test even when the server is SIGKILLed.

Layout of a server's temporary folder (`Server.data`): `store/` is the LMDB
store given to `--data` (on postgres it stays empty, and the audit key file
`store.audit-key` is beside it in both cases), `outbox/` receives mail (file
notification driver).
Only processes started here are ever signalled.
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import uuid
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("GATEHOUSE_BIN", os.path.join(HERE, "../../build/gatehouse"))
CONFIG = os.environ.get("GATEHOUSE_CONFIG", os.path.join(HERE, "../../config/gatehouse.toml"))

# Sanitizer builds are slower (ASan ~2-3x, TSan ~5-15x): scale the waits
# rather than loosen what the tests assert.
SANITIZER = os.environ.get("GATEHOUSE_SANITIZER", "")
SLOW = float(os.environ.get("GATEHOUSE_TIMEOUT_SCALE") or {"": 1, "address": 3, "thread": 5}.get(SANITIZER, 5))

START_TIMEOUT_S = 15 * SLOW
STOP_TIMEOUT_S = 15 * SLOW
HTTP_TIMEOUT_S = 30 * SLOW

# The first line of an AddressSanitizer, LeakSanitizer, ThreadSanitizer or
# UndefinedBehaviorSanitizer report.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
                     "ThreadSanitizer: ", " runtime error: ")

DEFAULT_PASSWORD = "correct horse battery"

# The engine every Server of this process uses (see the module docstring).
STORE = os.environ.get("GATEHOUSE_TEST_STORE", "") or "lmdb"
if STORE not in ("lmdb", "postgres"):
    raise RuntimeError("GATEHOUSE_TEST_STORE must be lmdb or postgres, not %r" % STORE)
POSTGRES = STORE == "postgres"


def lmdb_only(reason):
    """Skips a test or class on postgres: it works on the LMDB files themselves
    (`reason` says how). Keep these few: a test that only checks what the API
    does must run on both engines."""
    return unittest.skipIf(POSTGRES, "LMDB only: " + reason)


def postgres_only(reason):
    return unittest.skipUnless(POSTGRES, "PostgreSQL only: " + reason)

# Fast hashing for tests: the cost is not what is being tested here. Rate
# limits are off unless a test turns them on (test_rate_limit.py does). The
# metrics listener takes a free port (servers run in parallel), read from the
# "listening" line like the API port.
FAST_HASHING = {"GATEHOUSE_HASHING_OPS_LIMIT": "1", "GATEHOUSE_HASHING_MEM_LIMIT_KIB": "8192",
                "GATEHOUSE_RATE_LIMIT_ENABLED": "false", "GATEHOUSE_METRICS_LISTEN": "127.0.0.1:0"}


class Headers:
    """Response headers in arrival order; lookups ignore case."""

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def get(self, name, default=None):
        for k, v in self.pairs:
            if k.lower() == name.lower():
                return v
        return default

    def get_all(self, name):
        return [v for k, v in self.pairs if k.lower() == name.lower()]

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name):
        return self.get(name) is not None

    def __iter__(self):
        return iter(self.pairs)

    def __repr__(self):
        return repr(self.pairs)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = Headers(headers)
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


def unique_email(tag="user"):
    return "%s-%s@example.com" % (tag, uuid.uuid4().hex[:12])


def bearer(token):
    return {"Authorization": "Bearer " + token}


def wait_until(predicate, timeout=5.0):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class Server:
    """One gatehouse process, a context manager. `env` adds GATEHOUSE_*
    overrides on top of os.environ and the fast-hashing defaults; tests may
    change `self.env` before `restart()`. `data_dir` reuses a folder (it is
    then not deleted).

    On postgres (GATEHOUSE_TEST_STORE) the server serves from a new migrated
    database (`store_url`), or from `store_url` when given; `share=other`
    serves from another server's database with its audit key file, as
    several instances of one deployment do."""

    def __init__(self, env=None, data_dir=None, store_url=None, share=None):
        self.owns_dir = data_dir is None
        self.data = data_dir or tempfile.mkdtemp(prefix="gatehouse-test-")
        self.store = os.path.join(self.data, "store")
        self.outbox = os.path.join(self.data, "outbox")
        self.env = dict(FAST_HASHING)
        # Mail goes to an outbox folder unless a test picks another driver.
        self.env.update({"GATEHOUSE_NOTIFY_DRIVER": "file", "GATEHOUSE_NOTIFY_FILE_DIR": self.outbox})
        self.store_url = None
        if share is not None:
            store_url = share.store_url
            self.env["GATEHOUSE_AUDIT_KEY_FILE"] = share.audit_key_file()
        if POSTGRES:
            try:
                import pg
                self.store_url = store_url or pg.new_database()
            except BaseException:
                if self.owns_dir:
                    shutil.rmtree(self.data, ignore_errors=True)
                raise
            self.env.update({"GATEHOUSE_STORE_BACKEND": "postgres", "GATEHOUSE_STORE_URL": self.store_url})
        elif store_url is not None:
            raise ValueError("store_url needs GATEHOUSE_TEST_STORE=postgres")
        self.env.update(env or {})
        self.lines = []  # every stdout line of every process started, in order
        self.proc = None
        self.port = None
        self.metrics_port = None  # None when [metrics] listen is ""
        self._pump = None
        try:
            self.start()
        except BaseException:
            if self.owns_dir:
                shutil.rmtree(self.data, ignore_errors=True)
            raise

    # -- process -------------------------------------------------------------
    def start(self):
        assert self.proc is None, "already running"
        env = dict(os.environ)
        env.update(self.env)
        proc = subprocess.Popen(
            [BIN, "serve", "--config", CONFIG, "--data", self.store, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        listening = threading.Event()
        found = {}

        def pump():
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                if "port" not in found and '"listening"' in line:
                    try:
                        rec = json.loads(line)
                        found["port"] = int(rec["address"].rsplit(":", 1)[1])
                        if "metrics" in rec:
                            found["metrics_port"] = int(rec["metrics"].rsplit(":", 1)[1])
                    except (ValueError, KeyError):
                        continue
                    listening.set()
            listening.set()  # end of output: the process is gone

        self.proc = proc
        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        listening.wait(START_TIMEOUT_S)
        if "port" not in found:
            proc.kill()
            proc.wait()
            self._pump.join(5)
            proc.stdout.close()
            self.proc = None
            raise RuntimeError("gatehouse did not start (exit %r):\n%s" % (proc.returncode, "\n".join(self.lines[-30:])))
        self.port = found["port"]
        self.metrics_port = found.get("metrics_port")

    def _reap(self):
        self._pump.join(5)
        self.proc.stdout.close()
        self.proc = None

    def sanitizer_report(self):
        """The first sanitizer report in the output (from its first line), or ''."""
        for i, line in enumerate(self.lines):
            if any(m in line for m in SANITIZER_MARKERS):
                return "\n".join(self.lines[max(0, i - 1):i + 80])
        return ""

    def stop(self):
        """SIGTERM; the server must exit 0 within 15 s (times SLOW) and print
        no sanitizer report."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("gatehouse did not exit within %d s of SIGTERM:\n%s"
                                 % (STOP_TIMEOUT_S, "\n".join(self.lines[-20:])))
        self._reap()
        report = self.sanitizer_report()
        if code != 0 or report:
            raise AssertionError("gatehouse exited %d:\n%s" % (code, report or "\n".join(self.lines[-20:])))

    def kill(self):
        """SIGKILL (only our own process). Its exit code means nothing then,
        but a sanitizer report printed before still fails the test."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reap()
        report = self.sanitizer_report()
        if report:
            raise AssertionError("gatehouse printed a sanitizer report:\n%s" % report)

    # -- the store -----------------------------------------------------------
    def store_env(self):
        """The environment that points a gatehouse command at this server's
        store: the engine and URL on postgres, and the audit key file when
        the server was given one."""
        out = {k: self.env[k] for k in ("GATEHOUSE_STORE_BACKEND", "GATEHOUSE_STORE_URL", "GATEHOUSE_AUDIT_KEY_FILE")
               if k in self.env}
        return out

    def audit_key_file(self):
        return self.env.get("GATEHOUSE_AUDIT_KEY_FILE") or self.store + ".audit-key"

    def cli(self, *args, env=None, timeout=120):
        """Runs `gatehouse <args> --config … --data <store>` on this server's
        store (either engine); a CompletedProcess with text output."""
        e = dict(os.environ)
        e.update(self.store_env())
        e.update(env or {})
        return subprocess.run([BIN, *args, "--config", CONFIG, "--data", self.store],
                              capture_output=True, text=True, env=e, timeout=timeout * SLOW)

    def sql(self, query):
        """postgres only: runs `query` on this server's database with psql;
        the rows of its last statement as lists of strings."""
        assert POSTGRES, "sql() needs GATEHOUSE_TEST_STORE=postgres"
        import pg
        return pg.sql(self.store_url, query)

    def restart(self):
        """Stops and starts again on the same store (a new port)."""
        self.stop()
        self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        try:
            self.stop()
        finally:
            self.kill()
            if self.owns_dir:
                shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def log(self):
        return "\n".join(self.lines)

    def log_records(self):
        """The JSON log lines as objects (non-JSON lines are skipped)."""
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    # -- HTTP ----------------------------------------------------------------
    def connect(self, timeout=HTTP_TIMEOUT_S):
        """A connection for tests that want keep-alive; pass it as `conn`."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, json_body=None, form=None, conn=None):
        """One request. `json_body` is serialised as JSON, `form` (a dict or a
        list of pairs) url-encoded; both set Content-Type unless `headers` has
        one. A fresh connection is used unless `conn` is given."""
        headers = dict(headers or {})
        has_type = any(k.lower() == "content-type" for k in headers)
        if json_body is not None:
            body = json.dumps(json_body).encode()
            if not has_type:
                headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urlencode(form).encode()
            if not has_type:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif isinstance(body, str):
            body = body.encode()
        own = conn is None
        c = self.connect() if own else conn
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            if own:
                c.close()

    def metrics_request(self, method="GET", path="/metrics"):
        """A request to the metrics listener ([metrics] listen), not the API port."""
        assert self.metrics_port, "the metrics listener is off"
        c = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=HTTP_TIMEOUT_S)
        try:
            c.request(method, path)
            r = c.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            c.close()

    def metrics(self):
        """The Prometheus exposition from the metrics listener, as text (expects 200)."""
        r = self.metrics_request()
        assert r.status == 200, r
        return r.body.decode()

    def register(self, email=None, password=DEFAULT_PASSWORD, **extra):
        """Registers (expects 201) and returns the response body."""
        body = {"email": email or unique_email(), "password": password}
        body.update(extra)
        r = self.request("POST", "/auth/register", json_body=body)
        assert r.status == 201, r
        return r.json()

    def login(self, email, password=DEFAULT_PASSWORD, expect=200, **extra):
        """Logs in (expects `expect`) and returns the response body."""
        body = {"email": email, "password": password}
        body.update(extra)
        r = self.request("POST", "/auth/login", json_body=body)
        assert r.status == expect, r
        return r.json()

    def refresh(self, token):
        return self.request("POST", "/auth/refresh", json_body={"refresh_token": token})

    def me(self, access_token):
        return self.request("GET", "/auth/me", headers=bearer(access_token))

    def healthy(self):
        try:
            return self.request("GET", "/health").status == 200
        except OSError:
            return False


class ServerTest:
    """Mixin for a unittest.TestCase class sharing one server, started with
    the class attribute `env`, as `cls.s`."""
    env = None

    @classmethod
    def setUpClass(cls):
        cls.s = Server(cls.env)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()


class ApiAssertions:
    """Assertions on the documented response conventions (docs/API.md)."""

    def assert_error(self, r, status, code):
        """Status, error code and the error shape: error, error_description,
        request_id (= the X-Request-Id header), JSON, no-store."""
        self.assertEqual(r.status, status, r)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r.headers)
        body = r.json()
        self.assertEqual(body.get("error"), code, body)
        self.assertIsInstance(body.get("error_description"), str, body)
        self.assertTrue(body["error_description"], body)
        self.assertTrue(body.get("request_id"), body)
        self.assertEqual(body["request_id"], r.header("X-Request-Id"), r.headers)
        self.assertEqual(r.header("Cache-Control"), "no-store", r.headers)
        return body

    def assert_invalid_token(self, r):
        body = self.assert_error(r, 401, "invalid_token")
        www = r.header("WWW-Authenticate") or ""
        self.assertTrue(www.startswith("Bearer"), www)
        self.assertIn('error="invalid_token"', www)
        return body
