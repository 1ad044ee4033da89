"""Issue 12 items 1 and 9 in headless Chromium, clicked through over the
DevTools protocol (cdp.py): a redirect in the magic-link page's URL is
ignored (no script runs, nothing leaves the origin, no token in any URL);
a redirect bound when the link was asked for brings the browser to the
application with a code, which the application's backend exchanges for
tokens with the PKCE verifier it keeps in that browser's cookie (so another
browser's code, handed to this one, signs nobody in); the link pages and the
dashboard work under their CSP."""
import http.cookies
import http.server
import json
import shutil
import threading
import unittest
import urllib.request
from urllib.parse import parse_qs, quote, urlparse

from accounts import account
from cdp import Browser, CdpError
from harness import Server, unique_email, wait_until
from test_links import free_port, outbox_files, outbox_link, pkce_pair

CHROMIUM = shutil.which("chromium")


def try_evaluate(page, expression):
    """The expression's value, or None while the page is between documents."""
    try:
        return page.evaluate(expression)
    except CdpError:
        return None


class Recorder(http.server.ThreadingHTTPServer):
    """A loopback HTTP server keeping every request line it gets. With
    `gatehouse` it is an application: GET /start?email=… makes a PKCE
    verifier, keeps it in this browser's own cookie (app_pkce) and asks
    Gatehouse for a magic link to /callback?state=s1 with its challenge;
    GET /callback?code=… exchanges the code server-side with the verifier of
    the browser's cookie and keeps the answer."""

    def __init__(self, gatehouse=None):
        self.hits, self.exchanges, self.gatehouse = [], [], gatehouse
        super().__init__(("127.0.0.1", free_port()), Handler)
        self.origin = "http://127.0.0.1:%d" % self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self):
        self.shutdown()
        self.server_close()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits.append(self.path)
        url = urlparse(self.path)
        body = b"<!doctype html><title>app</title><p id=state>nothing</p>"
        if url.path == "/frame":  # a page of another origin framing ?src=
            src = parse_qs(url.query)["src"][0]
            body = ("<!doctype html><iframe id=f src='%s'></iframe>" % src.replace("'", "%27")).encode()
        set_cookie = None
        if self.server.gatehouse and url.path == "/start":
            verifier, challenge = pkce_pair()
            status, _ = self.gatehouse("/auth/magic-link", {
                "email": parse_qs(url.query)["email"][0], "redirect_to": self.server.origin + "/callback?state=s1",
                "code_challenge": challenge, "code_challenge_method": "S256"})
            assert status == 202, status
            set_cookie = "app_pkce=%s; Path=/; HttpOnly; SameSite=Lax" % verifier
            body = b"<!doctype html><title>app</title><p id=state>check your mail</p>"
        if self.server.gatehouse and url.path == "/callback":
            code = parse_qs(url.query).get("code", [""])[0]
            jar = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
            verifier = jar["app_pkce"].value if "app_pkce" in jar else ""
            self.server.exchanges.append(self.gatehouse("/auth/magic-link/exchange",
                                                        {"code": code, "code_verifier": verifier}))
            if self.server.exchanges[-1][0] == 200:
                body = b"<!doctype html><title>app</title><p id=state>signed in</p>"
            else:
                body = b"<!doctype html><title>app</title><p id=state>refused</p>"
        self.send_response(200)
        if set_cookie:
            self.send_header("Set-Cookie", set_cookie)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def gatehouse(self, path, body):
        """POSTs JSON to Gatehouse from the application's backend: (status, JSON)."""
        req = urllib.request.Request(self.server.gatehouse + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def log_message(self, *args):
        pass


@unittest.skipUnless(CHROMIUM, "chromium is installed by `make deps`")
class MagicLinkInChromium(unittest.TestCase):
    def setUp(self):
        self.app = Recorder()
        self.addCleanup(self.app.close)
        self.evil = Recorder()
        self.addCleanup(self.evil.close)
        self.s = Server({"GATEHOUSE_AUTH_REDIRECT_ORIGINS": self.app.origin})
        self.addCleanup(self.s.close)
        self.base = "http://127.0.0.1:%d" % self.s.port
        self.app.gatehouse = self.base
        self.browser = Browser()
        self.addCleanup(self.browser.close)

    def link(self, email, start=None):
        """The mailed magic link of `email`, pointed at this server's port:
        without a redirect, or (`start`, a browser page) asked for by the
        application's /start in that browser."""
        before = outbox_files(self.s)
        if start:
            start.navigate(self.app.origin + "/start?email=" + quote(email))
            start.wait_for("document.getElementById('state').textContent === 'check your mail'")
        else:
            self.assertEqual(self.s.request("POST", "/auth/magic-link", json_body={"email": email}).status, 202)
        mailed = urlparse(outbox_link(self.s, email, "/auth/magic-link", before))
        return self.base + mailed.path + "?" + mailed.query

    def app_cookies(self, page):
        return [c for c in page.send("Network.getCookies", {"urls": [self.base]})["cookies"]
                if c["name"] != "app_pkce"]  # cookies are per host, not per port

    def assert_no_access_token_in_urls(self, page, tokens):
        urls = page.requested_urls() + page.history_urls() + [page.url()]
        for u in urls:
            self.assertNotIn("access_token", u)
            for t in tokens:
                self.assertNotIn(t, u)

    def test_a_redirect_in_the_page_url_is_ignored(self):
        # The attacker's own account and token, mailed to the victim with a
        # redirect of the attacker's choosing in the URL.
        attacker = unique_email("attacker")
        self.s.register(attacker)
        # Written into the URL as the probe did (not percent-encoded); the
        # payload needs no quotes, and // comments out what a page appends.
        for redirect in ("javascript:void(window.pwned=1,document.title=document.domain)//",
                         self.evil.origin + "/steal"):
            with self.subTest(redirect=redirect):
                page = self.browser.new_page()
                url = self.link(attacker) + "&redirect_to=" + redirect
                page.navigate(url)
                page.evaluate("document.querySelector('button').click()")
                # Wait for an outcome: the page's message, the payload, or a navigation away.
                outcome = "window.pwned || (document.getElementById('m') || {}).textContent"
                self.assertTrue(wait_until(lambda: self.evil.hits or not page.url().startswith(self.base)
                                           or try_evaluate(page, outcome), 10))
                self.assertEqual(page.evaluate("document.title"), "Sign in")
                self.assertIsNone(page.evaluate("window.pwned"))
                self.assertTrue(page.url().startswith(self.base + "/auth/magic-link"), page.url())
                self.assertEqual(self.evil.hits, [])
                self.assertEqual(page.evaluate("document.getElementById('m').textContent"),
                                 "Signed in as %s. You can close this page." % attacker)
                # The confirm page named the account the click signs in to.
                self.assertIn(attacker, page.evaluate("document.getElementById('who').textContent"))
                self.assertEqual(page.evaluate("document.documentElement.dataset.script"), "ready")
                self.assert_no_access_token_in_urls(page, [])
                self.assertEqual(page.csp_violations(), [])
                # Same-origin sign-in: the refresh cookie, no token in the page URL.
                cookies = page.send("Network.getCookies", {"urls": [self.base]})["cookies"]
                self.assertTrue([c for c in cookies if c["httpOnly"]], cookies)
        self.assertEqual(self.evil.hits, [])

    def test_a_bound_redirect_hands_the_application_a_code(self):
        email = unique_email()
        self.s.register(email)
        page = self.browser.new_page()
        page.navigate(self.link(email, start=page))
        self.assertIn(email, page.evaluate("document.getElementById('who').textContent"))
        page.evaluate("document.querySelector('button').click()")
        landed = page.wait_for_url(lambda u: u.startswith(self.app.origin + "/callback"))
        page.wait_for("document.getElementById('state') && document.getElementById('state').textContent === 'signed in'")
        q = parse_qs(urlparse(landed).query)
        self.assertEqual(set(q), {"state", "code"})
        self.assertEqual(q["state"], ["s1"])
        # The backend exchanged the code: valid tokens for this account.
        self.assertTrue(wait_until(lambda: self.app.exchanges))
        status, tokens = self.app.exchanges[0]
        self.assertEqual(status, 200, tokens)
        self.assertEqual(tokens["user"]["email"], email)
        self.assertEqual(self.s.me(tokens["access_token"]).json()["email"], email)
        self.assertEqual(self.s.refresh(tokens["refresh_token"]).status, 200)
        # No token in any URL the browser saw, and no sign-in cookie here.
        self.assert_no_access_token_in_urls(page, [tokens["access_token"], tokens["refresh_token"]])
        self.assertEqual([h for h in self.app.hits if h != "/favicon.ico"],
                         ["/start?email=" + quote(email), "/callback?state=s1&code=" + q["code"][0]])
        self.assertEqual([c for c in self.app_cookies(page) if c["httpOnly"]], [])
        # The code is spent: replaying the landing URL signs nobody in.
        page.navigate(landed)
        self.assertEqual(self.app.exchanges[-1][0], 400)
        # The page asked Gatehouse for no referrer when it left.
        self.assertEqual(page.response_headers(self.link_url_seen(page))["referrer-policy"], "no-referrer")

    def test_another_browsers_code_signs_nobody_in(self):
        """Login CSRF at the application: the attacker starts a sign-in to
        their own account in their browser and hands the victim the landing
        URL with their code. The victim's browser holds another verifier (its
        own sign-in under way), so the exchange is refused; the attacker's
        code still works with the attacker's verifier only."""
        attacker, victim = unique_email("attacker"), unique_email("victim")
        self.s.register(attacker)
        self.s.register(victim)
        # The attacker's browser: a separate profile with its own cookie jar.
        theirs = Browser()
        self.addCleanup(theirs.close)
        evil_page = theirs.new_page()
        evil_link = self.link(attacker, start=evil_page)
        evil_verifier = [c["value"] for c in evil_page.send("Network.getCookies", {"urls": [self.app.origin]})
                         ["cookies"] if c["name"] == "app_pkce"][0]
        # The attacker uses the link but stops at the landing URL: no exchange.
        r = self.s.request("POST", "/auth/magic-link/verify", json_body={"token": urlparse(evil_link).query[6:]})
        evil_landing = r.json()["redirect_to"]
        # The victim has a sign-in of their own under way, then opens the URL.
        page = self.browser.new_page()
        self.link(victim, start=page)
        page.navigate(evil_landing)
        page.wait_for("document.getElementById('state').textContent === 'refused'")
        status, answer = self.app.exchanges[-1]
        self.assertEqual((status, answer["error"]), (400, "invalid_grant"))
        # Without any verifier the app cannot exchange it either.
        fresh = Browser()
        self.addCleanup(fresh.close)
        bare = fresh.new_page()
        bare.navigate(evil_landing)
        bare.wait_for("document.getElementById('state').textContent === 'refused'")
        self.assertEqual(self.app.exchanges[-1][0], 400)
        # The refusals used nothing: the attacker's own session still signs in.
        code = parse_qs(urlparse(evil_landing).query)["code"][0]
        ok = self.s.request("POST", "/auth/magic-link/exchange", json_body={"code": code, "code_verifier": evil_verifier})
        self.assertEqual((ok.status, ok.json()["user"]["email"]), (200, attacker))

    def link_url_seen(self, page):
        return [u for u in page.requested_urls() if "/auth/magic-link?token=" in u][0]

    def test_the_link_pages_work_under_their_policy(self):
        email = unique_email()
        self.s.register(email)
        self.s.request("POST", "/auth/password/forgot", json_body={"email": email})
        mailed = urlparse(outbox_link(self.s, email, "/auth/password/reset"))
        page = self.browser.new_page()
        page.navigate(self.base + mailed.path + "?" + mailed.query)
        self.assertEqual(page.wait_for("document.documentElement.dataset.script"), "ready")
        self.assertEqual(page.evaluate("getComputedStyle(document.body).maxWidth"), "448px")  # link.css applied
        page.evaluate("document.querySelector('input[name=p]').value = 'a brand new password'")
        page.evaluate("document.querySelector('button').click()")
        self.assertEqual(page.wait_for("document.getElementById('m').textContent"), "Done. You can close this page.")
        self.assertEqual(page.csp_violations(), [])
        self.s.login(email, "a brand new password")

    def test_the_dashboard_works_under_its_policy(self):
        admin = account(self.s, "admin")
        self.s.login(unique_email(), "wrong password!", expect=401)
        page = self.browser.new_page()
        page.navigate(self.base + "/admin/dashboard#token=" + admin["token"])
        page.wait_for("document.querySelectorAll('#routes tr').length > 0 && "
                      "document.querySelectorAll('#audit tr').length > 0")
        self.assertEqual(page.evaluate("document.getElementById('status').textContent"), "")
        self.assertEqual(page.evaluate("getComputedStyle(document.getElementById('status')).color"),
                         "rgb(170, 0, 0)")  # dashboard.css applied
        self.assertEqual(page.csp_violations(), [])
        self.assertIn("frame-ancestors 'none'",
                      page.response_headers(self.base + "/admin/dashboard")["content-security-policy"])

    def test_a_framed_page_is_refused(self):
        # A page of another origin (same site, so the frame stays in this
        # renderer and shows in the frame tree) framing the sign-in page: the
        # browser refuses to render it (frame-ancestors 'none' / X-Frame-Options).
        email = unique_email()
        self.s.register(email)
        target = self.link(email)
        page = self.browser.new_page()
        page.navigate(self.evil.origin + "/frame?src=" + quote(target, safe=""))

        def frame_url():
            children = page.send("Page.getFrameTree")["frameTree"].get("childFrames", [])
            return children[0]["frame"]["url"] if children else None
        # A refused frame is replaced by the browser's error page.
        self.assertTrue(wait_until(lambda: (frame_url() or "").startswith("chrome-error://"), 10), frame_url())
        self.assertIn(target, page.requested_urls())
