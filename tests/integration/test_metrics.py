"""Prometheus metrics: the exposition passes promtool, a real Prometheus on
loopback scrapes the server, and the counters follow what happened."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import Server, unique_email, wait_until

ROOT = os.path.join(os.path.dirname(__file__), "../..")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server()

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def metrics(self):
        r = self.s.request("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))
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

    def test_a_real_prometheus_scrapes_the_server(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(os.path.join(ROOT, "config/prometheus/prometheus.yml")) as f:
            text = f.read().replace("127.0.0.1:8000", "127.0.0.1:%d" % self.s.port).replace("5s", "1s")
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


if __name__ == "__main__":
    unittest.main()
