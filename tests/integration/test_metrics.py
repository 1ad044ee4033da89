"""Prometheus metrics: served on their own listener ([metrics] listen), never
anonymously on the API port (the counters tell existing accounts from unknown
ones: issue 12 item 2); the exposition passes promtool, a real Prometheus on
loopback scrapes the listener, the counters follow what happened, the store
fill is exported, and GET /admin/metrics needs the metrics:read permission."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from accounts import account
from harness import POSTGRES, ApiAssertions, Server, bearer, unique_email, wait_until

ROOT = os.path.join(os.path.dirname(__file__), "../..")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Metrics(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server()

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def metrics(self):
        r = self.s.metrics_request()
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain; version=0.0.4"), r.headers)
        return r.body.decode()

    def value(self, text, prefix):
        for line in text.splitlines():
            if line.startswith(prefix):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def test_exposition_passes_promtool_and_counts_what_happened(self):
        e = unique_email()
        self.s.register(e)
        self.s.login(e)
        self.s.login(e, "wrong password", expect=401)
        text = self.metrics()
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertGreaterEqual(self.value(text, 'gatehouse_logins_total{outcome="succeeded"}'), 1)
        self.assertGreaterEqual(self.value(text, 'gatehouse_logins_total{outcome="wrong_password"}'), 1)
        self.assertGreaterEqual(
            self.value(text, 'gatehouse_http_requests_total{method="POST",route="/auth/register",status="201"}'), 1)
        self.assertGreater(self.value(text, "gatehouse_store_commits_total"), 0)
        self.assertGreater(self.value(text, "gatehouse_process_resident_memory_bytes"), 1e6)
        self.assertIn("gatehouse_http_request_duration_seconds_bucket", text)
        self.assertIn("gatehouse_hasher_wait_seconds_count", text)
        self.assertTrue(wait_until(lambda: self.value(self.metrics(), "gatehouse_audit_records_total") >= 3))

    def test_the_api_port_has_no_anonymous_metrics(self):
        # Today's code answered 200 with the login outcomes (wrong_password vs
        # unknown_user) to anyone who could reach the API.
        e = unique_email()
        self.s.register(e)
        self.s.login(e, "wrong password", expect=401)
        self.s.login(unique_email(), "wrong password", expect=401)
        r = self.s.request("GET", "/metrics")
        self.assert_error(r, 404, "not_found")
        self.assertNotIn(b"gatehouse_", r.body)
        self.assertIn('gatehouse_logins_total{outcome="unknown_user"}', self.metrics())  # it is on the listener

    def test_the_listener_serves_only_the_exposition(self):
        self.assertNotEqual(self.s.metrics_port, self.s.port)
        self.assertEqual(self.s.metrics_request("GET", "/health").status, 404)
        self.assertEqual(self.s.metrics_request("GET", "/auth/me").status, 404)
        self.assertEqual(self.s.metrics_request("POST", "/metrics").status, 405)

    def test_admin_metrics_needs_the_metrics_permission(self):
        self.assert_invalid_token(self.s.request("GET", "/admin/metrics"))
        user = account(self.s, "user")
        self.assert_error(self.s.request("GET", "/admin/metrics", headers=bearer(user["token"])), 403, "forbidden")
        support = account(self.s, "support")  # users:read only
        self.assert_error(self.s.request("GET", "/admin/metrics", headers=bearer(support["token"])), 403, "forbidden")
        admin = account(self.s, "admin")
        r = self.s.request("GET", "/admin/metrics", headers=bearer(admin["token"]))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("text/plain; version=0.0.4"), r.headers)
        self.assertIn(b"gatehouse_logins_total", r.body)

    def test_the_store_fill_is_exported(self):
        self.s.register()
        text = self.metrics()
        used = self.value(text, "gatehouse_store_used_bytes ")
        mapped = self.value(text, "gatehouse_store_map_bytes ")
        if POSTGRES:  # no fixed size to fill: both unknown (0)
            self.assertEqual((used, mapped), (0, 0))
            return
        self.assertEqual(mapped, 1024 * 1024 * 1024)  # store.map_size_mb = 1024
        self.assertGreater(used, 4096)
        self.assertLess(used, mapped)
        size = sum(os.path.getsize(os.path.join(self.s.store, f)) for f in os.listdir(self.s.store) if f == "data.mdb")
        self.assertLessEqual(used, size)

    def test_a_real_prometheus_scrapes_the_server(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(os.path.join(ROOT, "config/prometheus/prometheus.yml")) as f:
            text = f.read().replace("127.0.0.1:9464", "127.0.0.1:%d" % self.s.metrics_port).replace("5s", "1s")
        with open(cfg, "w") as f:
            f.write(text)
        port = free_port()
        prom = subprocess.Popen(["prometheus", "--config.file", cfg, "--storage.tsdb.path", os.path.join(tmp, "data"),
                                 "--web.listen-address", "127.0.0.1:%d" % port,
                                 "--web.console.templates", os.path.join(ROOT, "config/prometheus/consoles"),
                                 "--web.console.libraries", os.path.join(ROOT, "config/prometheus/consoles")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(prom.wait)
        self.addCleanup(prom.terminate)

        def target_up():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % port, timeout=2) as r:
                    targets = json.load(r)["data"]["activeTargets"]
                return bool(targets) and targets[0]["health"] == "up"
            except OSError:
                return False

        self.assertTrue(wait_until(target_up, 30))
        with urllib.request.urlopen("http://127.0.0.1:%d/consoles/gatehouse.html" % port, timeout=5) as r:
            self.assertEqual(r.status, 200)
            page = r.read()
            self.assertIn(b"<h1>Gatehouse</h1>", page)
            self.assertNotIn(b"error", page.lower())


class Listener(unittest.TestCase):
    def test_an_empty_listen_turns_the_listener_off(self):
        with Server({"GATEHOUSE_METRICS_LISTEN": ""}) as s:
            self.assertIsNone(s.metrics_port)
            line = [json.loads(l) for l in s.lines if '"listening"' in l][0]
            self.assertNotIn("metrics", line)
            self.assertEqual(s.request("GET", "/metrics").status, 404)

    def test_a_bad_listen_address_is_refused_at_start(self):
        with self.assertRaises(RuntimeError) as e:
            Server({"GATEHOUSE_METRICS_LISTEN": "localhost"})
        self.assertIn("metrics.listen", str(e.exception))

    def test_a_taken_port_stops_the_start(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            with self.assertRaises(RuntimeError) as e:
                Server({"GATEHOUSE_METRICS_LISTEN": "127.0.0.1:%d" % taken.getsockname()[1]})
            self.assertIn("metrics listener", str(e.exception))


if __name__ == "__main__":
    unittest.main()
