"""Starts the real gatehouse binary on a free port with a temporary store and
talks HTTP to it. Used by every integration test module.

Run with Debian's /usr/bin/python3 (it sees python3-jwt); ctest does.
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
import uuid

BIN = os.environ.get("GATEHOUSE_BIN", os.path.join(os.path.dirname(__file__), "../../build/gatehouse"))
CONFIG = os.environ.get("GATEHOUSE_CONFIG",
                        os.path.join(os.path.dirname(__file__), "../../config/gatehouse.toml"))

# Fast hashing for tests: the cost is not what is being tested here. Rate
# limits are off unless a test turns them on (test_rate_limit.py does).
FAST_HASHING = {"GATEHOUSE_HASHING_OPS_LIMIT": "1", "GATEHOUSE_HASHING_MEM_LIMIT_KIB": "8192",
                "GATEHOUSE_RATE_LIMIT_ENABLED": "false"}


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


def unique_email(tag="user"):
    return "%s-%s@example.com" % (tag, uuid.uuid4().hex[:12])


class Server:
    """One gatehouse process. `env` adds GATEHOUSE_* overrides."""

    def __init__(self, env=None, data_dir=None):
        self.owns_dir = data_dir is None
        self.data = data_dir or tempfile.mkdtemp(prefix="gatehouse-test-")
        self.outbox = os.path.join(self.data, "outbox")
        self.env = dict(FAST_HASHING)
        # Mail goes to an outbox folder unless a test picks another driver.
        self.env.update({"GATEHOUSE_NOTIFY_DRIVER": "file", "GATEHOUSE_NOTIFY_FILE_DIR": self.outbox})
        self.env.update(env or {})
        self.lines = []
        self.proc = None
        self.start()

    # -- process -------------------------------------------------------------
    def start(self):
        env = dict(os.environ)
        env.update(self.env)
        self.proc = subprocess.Popen(
            [BIN, "serve", "--config", CONFIG, "--data", os.path.join(self.data, "store"),
             "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        listening = threading.Event()
        self.port = None

        def pump(proc):
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                if self.port is None and '"listening"' in line:
                    self.port = int(json.loads(line)["address"].rsplit(":", 1)[1])
                    listening.set()

        threading.Thread(target=pump, args=(self.proc,), daemon=True).start()
        if not listening.wait(15):
            self.proc.kill()
            raise RuntimeError("gatehouse did not start:\n" + "\n".join(self.lines))

    def stop(self):
        """SIGTERM; the server must exit 0 within 15 s."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            code = self.proc.wait(15)
            self.proc.stdout.close()
            if code != 0:
                raise AssertionError("gatehouse exited %d:\n%s" % (code, "\n".join(self.lines[-20:])))
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def close(self):
        try:
            self.stop()
        finally:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
            if self.owns_dir:
                shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def log(self):
        return "\n".join(self.lines)

    # -- HTTP ----------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, json_body=None, form=None):
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif form is not None:
            from urllib.parse import urlencode
            body = urlencode(form).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def register(self, email=None, password="correct horse battery", **extra):
        body = {"email": email or unique_email(), "password": password}
        body.update(extra)
        r = self.request("POST", "/auth/register", json_body=body)
        assert r.status == 201, r
        return r.json()

    def login(self, email, password="correct horse battery", expect=200, **extra):
        body = {"email": email, "password": password}
        body.update(extra)
        r = self.request("POST", "/auth/login", json_body=body)
        assert r.status == expect, r
        return r.json()

    def refresh(self, token):
        return self.request("POST", "/auth/refresh", json_body={"refresh_token": token})

    def me(self, access_token):
        return self.request("GET", "/auth/me", headers=bearer(access_token))


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


def bearer(token):
    return {"Authorization": "Bearer " + token}


def wait_until(predicate, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
