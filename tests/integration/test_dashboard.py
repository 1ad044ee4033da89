"""The built-in dashboard, loaded in headless Chromium: the rendered DOM shows
the requests just made, recent traces and audit events; a screenshot is kept
as a test artefact."""
import os
import shutil
import subprocess
import tempfile
import unittest

from accounts import account
from harness import Server, unique_email

CHROMIUM = shutil.which("chromium")
ARTEFACTS = os.environ.get("GATEHOUSE_ARTEFACTS", os.path.join(tempfile.gettempdir(), "gatehouse-artefacts"))


def chromium(*args):
    profile = tempfile.mkdtemp()
    try:
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", "--user-data-dir=" + profile, "--virtual-time-budget=8000", *args],
                              capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@unittest.skipUnless(CHROMIUM, "chromium is installed by `make deps`")
class Dashboard(unittest.TestCase):
    def test_the_dashboard_renders_live_data(self):
        with Server({"GATEHOUSE_TRACING_SAMPLE_RATIO": "1.0"}) as s:  # every trace, for the waterfall
            admin = account(s, "admin")
            email = unique_email()
            s.register(email, username="dash_" + email[5:11], full_name="<img src=x onerror=alert(1)>")
            s.login(email, "wrong password!", expect=401)
            url = "http://127.0.0.1:%d/admin/dashboard#token=%s" % (s.port, admin["token"])
            out = chromium("--dump-dom", url)
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            dom = out.stdout
            self.assertIn("<h1>Gatehouse</h1>", dom)
            self.assertIn("/auth/register", dom)          # the routes table
            self.assertIn("wrong_password", dom)          # login outcomes
            self.assertIn("/admin/metrics", dom)          # read with the admin token, not the anonymous /metrics
            self.assertIn("POST /auth/login", dom)        # a trace waterfall
            self.assertIn("login_failed", dom)            # the audit table
            self.assertIn('<p id="status"></p>', dom)  # no error shown
            os.makedirs(ARTEFACTS, exist_ok=True)
            shot = os.path.join(ARTEFACTS, "dashboard.png")
            out = chromium("--screenshot=" + shot, "--window-size=1400,1000", url)
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            self.assertGreater(os.path.getsize(shot), 10000)

    def test_without_a_token_it_asks_for_one(self):
        with Server() as s:
            out = chromium("--dump-dom", "http://127.0.0.1:%d/admin/dashboard" % s.port)
            self.assertIn('<p id="status">an admin access token is needed</p>', out.stdout)


if __name__ == "__main__":
    unittest.main()
