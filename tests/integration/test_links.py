"""Magic links, email verification and password reset through the
notification drivers: a real SMTP server (aiosmtpd), the file outbox and a
signed webhook (the brief's SECURITY.md 22, 26, 28, 29, 36, 41)."""
import base64
import email
import email.policy
import glob
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import tempfile
import time
import unittest
from urllib.parse import parse_qs, urlparse

from aiosmtpd.controller import Controller

from receivers import start_receiver
from harness import Server, bearer, unique_email, wait_until


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every delivered message."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def link_for(self, to, kind_path, timeout=10):
        def find():
            for m in reversed(self.messages):
                if m["To"] == to:
                    body = m.get_body(("plain",)).get_content()
                    found = re.search(r"(http\S*%s\S*)" % re.escape(kind_path), body)
                    if found:
                        return found.group(1)
            return None
        assert wait_until(lambda: find() is not None, timeout), [m["To"] for m in self.messages]
        return find()


def read_eml(path):
    with open(path, "rb") as f:
        return email.message_from_bytes(f.read(), policy=email.policy.default)


def token_of(link):
    return parse_qs(urlparse(link).query)["token"][0]


class Smtp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.inbox = Inbox()
        cls.smtp = Controller(cls.inbox, hostname="127.0.0.1", port=free_port())
        cls.smtp.start()
        cls.s = Server({"GATEHOUSE_NOTIFY_DRIVER": "smtp",
                        "GATEHOUSE_NOTIFY_SMTP_URL": "smtp://127.0.0.1:%d" % cls.smtp.port,
                        "GATEHOUSE_NOTIFY_FROM": "Gatehouse <auth@example.com>",
                        "GATEHOUSE_PUBLIC_URL": "http://gatehouse.test"})

    @classmethod
    def tearDownClass(cls):
        cls.s.close()
        cls.smtp.stop()

    def post(self, path, body, headers=None):
        return self.s.request("POST", path, json_body=body, headers=headers)

    def test_magic_link_login_through_a_real_smtp_server(self):
        e = unique_email()
        self.s.register(e)
        r = self.post("/auth/magic-link", {"email": e})
        self.assertEqual(r.status, 202)
        link = self.inbox.link_for(e, "/auth/magic-link")
        self.assertTrue(link.startswith("http://gatehouse.test/auth/magic-link?token="))
        token = token_of(link)
        self.assertEqual(len(token), 43)
        # GET shows a page and consumes nothing (mail scanners follow links).
        page = self.s.request("GET", urlparse(link).path + "?" + urlparse(link).query)
        self.assertEqual(page.status, 200)
        self.assertTrue(page.header("Content-Type").startswith("text/html"))
        self.assertIn(b"Sign in", page.body)
        r = self.post("/auth/magic-link/verify", {"token": token})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.s.me(r.json()["access_token"]).json()["email_verified"], True)
        # Single use; the same generic answer for reuse, truncation, garbage and wrong purpose.
        answers = [self.post("/auth/magic-link/verify", {"token": t}) for t in (token, token[:-3], "x" * 43)]
        answers.append(self.post("/auth/verify-email", {"token": token}))
        for a in answers:
            self.assertEqual((a.status, a.json()["error"]), (400, "invalid_grant"))
            self.assertEqual(a.json()["error_description"], "the link is invalid or has expired")
        # A magic-link token is not an access token.
        self.assertEqual(self.s.me(token).status, 401)

    def test_an_older_link_keeps_working_and_using_one_retires_the_others(self):
        # A newer link must not invalidate the one the owner is about to use
        # (anyone can ask for links; issue 12 item 5).
        e = unique_email()
        self.s.register(e)
        self.post("/auth/magic-link", {"email": e})
        first = token_of(self.inbox.link_for(e, "/auth/magic-link"))
        n = len(self.inbox.messages)
        self.post("/auth/magic-link", {"email": e})
        wait_until(lambda: len(self.inbox.messages) > n)
        second = token_of(self.inbox.link_for(e, "/auth/magic-link"))
        self.assertNotEqual(first, second)
        self.assertEqual(self.post("/auth/magic-link/verify", {"token": first}).status, 200)
        self.assertEqual(self.post("/auth/magic-link/verify", {"token": second}).status, 400)

    def test_unknown_emails_get_the_same_answer_and_no_mail(self):
        known = unique_email()
        self.s.register(known)
        unknown = unique_email()
        for path in ("/auth/magic-link", "/auth/password/forgot"):
            a, b = self.post(path, {"email": known}), self.post(path, {"email": unknown})
            self.assertEqual((a.status, a.json()), (b.status, b.json()))
            self.assertEqual(a.status, 202)
        self.inbox.link_for(known, "/auth/password/reset")
        time.sleep(0.3)
        self.assertFalse([m for m in self.inbox.messages if m["To"] == unknown])

    def test_redirect_only_to_allowed_origins(self):
        r = self.post("/auth/magic-link", {"email": unique_email(), "redirect_to": "https://evil.example/x"})
        self.assertEqual(r.status, 400)
        # Issue 12 item 1: only http(s), even on an allowed host.
        for bad in ("javascript://gatehouse.test/%0aalert(1)", "javascript:alert(1)", "data:text/html,x",
                    "HTTP://gatehouse.test/app", "http://gatehouse.test/a b"):
            r = self.post("/auth/magic-link", {"email": unique_email(), "redirect_to": bad})
            self.assertEqual(r.status, 400, bad)
        e = unique_email()
        self.s.register(e)
        r = self.post("/auth/magic-link", {"email": e, "redirect_to": "http://gatehouse.test/app",
                                           "code_challenge": pkce_pair()[1]})
        self.assertEqual(r.status, 202)
        # The redirect is bound to the token: the mailed link carries only the token.
        link = self.inbox.link_for(e, "/auth/magic-link")
        self.assertEqual(list(parse_qs(urlparse(link).query)), ["token"])
        self.assertNotIn("redirect", link)

    def test_email_verification(self):
        t = self.s.register()
        e = t["user"]["email"]
        self.assertFalse(t["user"]["email_verified"])
        r = self.s.request("POST", "/auth/verify-email/send", headers=bearer(t["access_token"]))
        self.assertEqual(r.status, 202)
        token = token_of(self.inbox.link_for(e, "/auth/verify-email"))
        self.assertEqual(self.post("/auth/verify-email", {"token": token}).status, 200)
        self.assertTrue(self.s.me(t["access_token"]).json()["email_verified"])
        self.assertEqual(self.post("/auth/verify-email", {"token": token}).status, 400)

    def test_password_reset_revokes_sessions_and_alerts(self):
        e = unique_email()
        t = self.s.register(e)
        self.post("/auth/password/forgot", {"email": e})
        link = self.inbox.link_for(e, "/auth/password/reset")
        page = self.s.request("GET", "/auth/password/reset?token=" + token_of(link))
        self.assertIn(b'type="password"', page.body)
        r = self.post("/auth/password/reset", {"token": token_of(link), "new_password": "short"})
        self.assertEqual(r.status, 422)
        r = self.post("/auth/password/reset", {"token": token_of(link), "new_password": "a brand new password"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.s.me(t["access_token"]).status, 401)
        self.assertEqual(self.s.refresh(t["refresh_token"]).status, 400)
        self.s.login(e, expect=401)
        self.s.login(e, "a brand new password")
        self.assertTrue(wait_until(lambda: any(m["To"] == e and "changed" in m["Subject"]
                                               for m in self.inbox.messages)))
        r = self.post("/auth/password/reset", {"token": token_of(link), "new_password": "another new password"})
        self.assertEqual(r.status, 400)

    def test_password_change(self):
        e = unique_email()
        old = self.s.register(e)
        cur = self.s.login(e)
        r = self.s.request("POST", "/auth/password/change", headers=bearer(cur["access_token"]),
                           json_body={"current_password": "wrong password", "new_password": "my next password"})
        self.assertEqual((r.status, r.json()["error"]), (403, "forbidden"))
        r = self.s.request("POST", "/auth/password/change", headers=bearer(cur["access_token"]),
                           json_body={"current_password": "correct horse battery", "new_password": "my next password",
                                      "revoke_other_sessions": True})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.s.me(cur["access_token"]).status, 200)
        self.assertEqual(self.s.me(old["access_token"]).status, 401)
        self.assertEqual(self.s.refresh(old["refresh_token"]).status, 400)
        self.s.login(e, "my next password")


def outbox_files(s):
    return set(glob.glob(os.path.join(s.outbox, "*.eml")))


def outbox_link(s, to, path, before=(), timeout=10):
    """The link to `path` mailed to `to` through the file driver, in a
    message that is not one of the files `before` (outbox_files())."""
    def find():
        for f in outbox_files(s) - set(before):
            msg = read_eml(f)
            if msg["To"] == to:
                found = re.search(r"(http\S*%s\?\S*)" % re.escape(path), msg.get_body(("plain",)).get_content())
                if found:
                    return found.group(1)
        return None
    assert wait_until(lambda: find() is not None, timeout), "no %s link for %s" % (path, to)
    return find()


APP = "http://127.0.0.1:5999"  # an application origin allowed in these tests (nothing listens)


def pkce_pair():
    """A fresh PKCE verifier and its S256 challenge, as an application makes them."""
    verifier = secrets.token_urlsafe(32)  # 43 characters
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class MagicLinkRedirect(unittest.TestCase):
    """Issue 12 item 1 over plain HTTP: a bound redirect answers a code, not
    tokens; the code is exchanged once, within 60 s, for a session."""

    @classmethod
    def setUpClass(cls):
        cls.clock = tempfile.NamedTemporaryFile("w", delete=False)
        cls.clock.write("0")
        cls.clock.close()
        cls.s = Server({"GATEHOUSE_AUTH_REDIRECT_ORIGINS": APP, "GATEHOUSE_FOR_TEST_CLOCK_FILE": cls.clock.name})

    @classmethod
    def tearDownClass(cls):
        cls.s.close()
        os.unlink(cls.clock.name)

    def setUp(self):
        self.set_clock(0)

    def set_clock(self, seconds):
        with open(self.clock.name, "w") as f:
            f.write(str(seconds))

    def post(self, path, body):
        return self.s.request("POST", path, json_body=body)

    def link(self, redirect=None, e=None):
        """A new account's (or `e`'s) mailed magic-link token; with a redirect,
        bound to a fresh PKCE challenge whose verifier is self.verifier."""
        if e is None:
            e = unique_email()
            self.s.register(e)
        body = {"email": e}
        if redirect:
            self.verifier, body["code_challenge"] = pkce_pair()
            body["redirect_to"] = redirect
        before = outbox_files(self.s)
        self.assertEqual(self.post("/auth/magic-link", body).status, 202)
        return e, token_of(outbox_link(self.s, e, "/auth/magic-link", before))

    def code_of(self, token):
        r = self.post("/auth/magic-link/verify", {"token": token})
        self.assertEqual(r.status, 200, r)
        return parse_qs(urlparse(r.json()["redirect_to"]).query)["code"][0]

    def exchange(self, code, verifier):
        return self.post("/auth/magic-link/exchange", {"code": code, "code_verifier": verifier})

    def test_a_bound_redirect_gets_a_code_that_the_backend_exchanges_once(self):
        e, token = self.link(APP + "/cb?state=xyz#frag")
        r = self.post("/auth/magic-link/verify", {"token": token, "use_cookie": True})
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(set(body), {"status", "redirect_to"})  # no tokens, no user
        self.assertIsNone(r.header("Set-Cookie"))
        url = urlparse(body["redirect_to"])
        self.assertEqual((url.scheme + "://" + url.netloc, url.path, url.fragment), (APP, "/cb", "frag"))
        q = parse_qs(url.query)
        self.assertEqual(q["state"], ["xyz"])
        code = q["code"][0]
        self.assertEqual(len(code), 43)
        self.assertNotIn(token, body["redirect_to"])
        # The link is used up; the code is not a link token, nor an access token.
        self.assertEqual(self.post("/auth/magic-link/verify", {"token": token}).status, 400)
        self.assertEqual(self.post("/auth/magic-link/verify", {"token": code}).status, 400)
        self.assertEqual(self.s.me(code).status, 401)
        x = self.exchange(code, self.verifier)
        self.assertEqual(x.status, 200, x)
        tokens = x.json()
        self.assertEqual(tokens["user"]["email"], e)
        self.assertTrue(tokens["user"]["email_verified"])
        self.assertEqual(self.s.me(tokens["access_token"]).json()["email"], e)
        self.assertEqual(self.s.refresh(tokens["refresh_token"]).status, 200)
        again = self.exchange(code, self.verifier)
        self.assertEqual((again.status, again.json()["error"]), (400, "invalid_grant"))

    def test_a_link_token_cannot_be_exchanged_and_a_code_expires_after_60_s(self):
        _, token = self.link()
        self.assertEqual(self.exchange(token, pkce_pair()[0]).status, 400)
        _, token = self.link(APP + "/cb")
        code = self.code_of(token)
        self.set_clock(61)
        r = self.exchange(code, self.verifier)
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_grant"))
        self.assertEqual(self.post("/auth/magic-link/exchange", {}).status, 400)

    def test_a_redirect_needs_an_s256_code_challenge(self):
        """Review of item 1: the code is bound to the application's browser
        session by PKCE; a redirect without a challenge is refused."""
        e = unique_email()
        self.s.register(e)
        verifier, challenge = pkce_pair()
        for body, why in (({"redirect_to": APP + "/cb"}, "code_challenge"),
                          ({"redirect_to": APP + "/cb", "code_challenge": verifier[:42]}, "code_challenge"),
                          ({"redirect_to": APP + "/cb", "code_challenge": challenge + "="}, "code_challenge"),
                          ({"redirect_to": APP + "/cb", "code_challenge": verifier, "code_challenge_method": "plain"},
                           "S256"),
                          ({"code_challenge": challenge}, "redirect_to")):
            with self.subTest(body=body):
                r = self.post("/auth/magic-link", dict(body, email=e))
                self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"), r)
                self.assertIn(why, r.json()["error_description"])
        before = outbox_files(self.s)
        r = self.post("/auth/magic-link", {"email": e, "redirect_to": APP + "/cb", "code_challenge": challenge,
                                           "code_challenge_method": "S256"})
        self.assertEqual(r.status, 202, r)
        code = self.code_of(token_of(outbox_link(self.s, e, "/auth/magic-link", before)))
        self.assertEqual(self.exchange(code, verifier).status, 200)

    def test_the_code_needs_the_verifier_of_its_challenge(self):
        """A code alone (from logs, history, a Referer) is worth nothing, and an
        attacker's code handed to a victim's app (login CSRF) fails there: the
        victim's session has another verifier. A refusal leaves the code unused."""
        e, token = self.link(APP + "/cb")
        code, mine = self.code_of(token), self.verifier
        r = self.post("/auth/magic-link/exchange", {"code": code})
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"))
        for bad in ("x" * 42, "a" * 42 + "+", "a" * 129):
            r = self.exchange(code, bad)
            self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"), bad)
        other_session = pkce_pair()[0]
        r = self.exchange(code, other_session)
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_grant"))
        same = self.exchange("no such code", other_session).json()
        self.assertEqual((r.json()["error"], r.json()["error_description"]), (same["error"], same["error_description"]))
        # The challenge itself is not the verifier.
        self.assertEqual(self.exchange(code, pkce_pair()[1]).status, 400)
        ok = self.exchange(code, mine)
        self.assertEqual(ok.status, 200, ok)
        self.assertEqual(ok.json()["user"]["email"], e)
        self.assertEqual(self.exchange(code, mine).status, 400)

    def test_exchanging_one_code_keeps_the_users_other_codes(self):
        """Review item 3: two apps or tabs of one user each hold a code; the
        first exchange must not retire the second."""
        e, first = self.link(APP + "/one")
        code1, v1 = self.code_of(first), self.verifier
        _, second = self.link(APP + "/two", e)
        code2, v2 = self.code_of(second), self.verifier
        self.assertEqual(self.exchange(code1, v1).status, 200)
        r = self.exchange(code2, v2)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user"]["email"], e)

    def test_without_a_bound_redirect_the_link_signs_in_here(self):
        e, token = self.link()
        r = self.post("/auth/magic-link/verify", {"token": token, "use_cookie": True})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user"]["email"], e)
        self.assertIn("access_token", r.json())
        self.assertIn("HttpOnly", r.header("Set-Cookie"))

    def test_the_page_names_the_account_and_ignores_a_redirect_in_its_url(self):
        e, token = self.link()
        page = self.s.request("GET", "/auth/magic-link?token=%s&redirect_to=javascript:alert(1)//" % token)
        self.assertEqual(page.status, 200)
        html = page.body.decode()
        self.assertIn("This signs you in as <strong>%s</strong>" % e, html)
        self.assertNotIn("javascript", html)
        self.assertNotIn("redirect", html)
        self.assertNotIn("<script>", html)  # the script is a file: /auth/link.js
        # Showing the page consumed nothing.
        self.assertEqual(self.post("/auth/magic-link/verify", {"token": token}).status, 200)
        gone = self.s.request("GET", "/auth/magic-link?token=" + token).body.decode()
        self.assertIn("This link is invalid or has expired.", gone)
        self.assertNotIn("<form", gone)
        self.assertNotIn(e, gone)
        self.assertIn("invalid or has expired", self.s.request("GET", "/auth/magic-link?token=nonsense").body.decode())


HOSTED_PAGES = ["/auth/magic-link?token=x", "/auth/verify-email?token=x", "/auth/password/reset?token=x",
                "/admin/dashboard", "/auth/link.js", "/auth/link.css", "/admin/dashboard.js",
                "/admin/dashboard.css"]


class ExchangeRateLimit(unittest.TestCase):
    """Review item 2: an application's backend is one address exchanging the
    codes of all its users; the exchange is not in the per-IP login class
    (login_ip = 60 a minute) but the default one."""

    def test_70_exchanges_from_one_address_within_a_minute(self):
        s = Server({"GATEHOUSE_AUTH_REDIRECT_ORIGINS": APP, "GATEHOUSE_RATE_LIMIT_ENABLED": "true"})
        self.addCleanup(s.close)
        e = unique_email()
        s.register(e)
        verifier, challenge = pkce_pair()
        self.assertEqual(s.request("POST", "/auth/magic-link", json_body={
            "email": e, "redirect_to": APP + "/cb", "code_challenge": challenge}).status, 202)
        token = token_of(outbox_link(s, e, "/auth/magic-link"))
        code = parse_qs(urlparse(s.request("POST", "/auth/magic-link/verify", json_body={"token": token})
                                 .json()["redirect_to"]).query)["code"][0]
        statuses = [s.request("POST", "/auth/magic-link/exchange",
                              json_body={"code": "spent-%d" % i, "code_verifier": verifier}).status
                    for i in range(69)]
        self.assertEqual(set(statuses), {400})
        r = s.request("POST", "/auth/magic-link/exchange", json_body={"code": code, "code_verifier": verifier})
        self.assertEqual(r.status, 200, r)


class HostedPageHeaders(unittest.TestCase):
    """Issue 12 item 9: every hosted page and its files carry a strict CSP
    (no inline code), refuse framing and send no referrer."""

    def test_every_hosted_page_sends_the_policy(self):
        with Server() as s:
            for path in HOSTED_PAGES:
                r = s.request("GET", path)
                self.assertEqual(r.status, 200, path)
                csp = r.header("Content-Security-Policy") or ""
                directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
                self.assertEqual(directives.get("default-src"), ["'none'"], path)
                self.assertEqual(directives.get("frame-ancestors"), ["'none'"], path)
                self.assertEqual(directives.get("script-src"), ["'self'"], path)
                self.assertEqual(directives.get("style-src"), ["'self'"], path)
                self.assertNotIn("unsafe", csp, path)
                self.assertEqual(r.header("X-Frame-Options"), "DENY", path)
                self.assertEqual(r.header("Referrer-Policy"), "no-referrer", path)
                self.assertEqual(r.header("X-Content-Type-Options"), "nosniff", path)
                kind = {"js": "text/javascript", "css": "text/css"}.get(path.rsplit(".", 1)[-1], "text/html")
                self.assertTrue(r.header("Content-Type").startswith(kind), (path, r.header("Content-Type")))
                if kind == "text/html":  # nothing the policy would block
                    html = r.body.decode()
                    self.assertNotRegex(html, r"<script(?![^>]*\bsrc=)[^>]*>", path)
                    self.assertNotIn("<style", html, path)
                    self.assertNotRegex(html, r"\sstyle=|\son[a-z]+=", path)


class LogDriver(unittest.TestCase):
    """Issue 12 item 11: the log driver prints no live token unless the
    operator opts in with notify.log_secrets."""

    def logged_link(self, s, e):
        s.register(e)
        self.assertEqual(s.request("POST", "/auth/magic-link", json_body={"email": e}).status, 202)
        find = lambda: [r for r in s.log_records() if r.get("msg") == "notification (log driver)" and r.get("to") == e]
        self.assertTrue(wait_until(lambda: find()), s.log()[-2000:])
        return find()[0]["link"]

    def test_the_default_redacts_the_token(self):
        with Server({"GATEHOUSE_NOTIFY_DRIVER": "log"}) as s:
            e = unique_email()
            link = self.logged_link(s, e)
            self.assertTrue(link.endswith("/auth/magic-link?token=\u2026redacted\u2026"), link)
            self.assertIsNone(re.search(r"token=[A-Za-z0-9_-]", s.log()))  # no token anywhere in the log
            self.assertIn("token redacted", s.log())  # the start-up warning says so
            self.assertEqual(s.request("POST", "/auth/magic-link/verify", json_body={"token": token_of(link)}).status, 400)

    def test_the_opt_in_logs_a_working_link(self):
        with Server({"GATEHOUSE_NOTIFY_DRIVER": "log", "GATEHOUSE_NOTIFY_LOG_SECRETS": "true"}) as s:
            e = unique_email()
            token = token_of(self.logged_link(s, e))
            self.assertEqual(len(token), 43)
            r = s.request("POST", "/auth/magic-link/verify", json_body={"token": token})
            self.assertEqual((r.status, r.json()["user"]["email"]), (200, e))


class HiddenRegistration(unittest.TestCase):
    def test_registration_does_not_reveal_existing_emails(self):
        inbox = Inbox()
        smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
        smtp.start()
        self.addCleanup(smtp.stop)
        env = {"GATEHOUSE_NOTIFY_DRIVER": "smtp", "GATEHOUSE_NOTIFY_SMTP_URL": "smtp://127.0.0.1:%d" % smtp.port,
               "GATEHOUSE_AUTH_EXISTING_EMAIL": "notify", "GATEHOUSE_AUTH_ALLOW_UNVERIFIED_LOGIN": "false"}
        with Server(env) as s:
            body = lambda e: {"email": e, "password": "correct horse battery"}
            new = unique_email()
            a = s.request("POST", "/auth/register", json_body=body(new))
            b = s.request("POST", "/auth/register", json_body=body(new))  # now it exists
            self.assertEqual((a.status, a.json()), (b.status, b.json()))
            self.assertEqual(a.status, 202)
            self.assertNotIn("access_token", a.json())
            self.assertTrue(wait_until(lambda: any("already has one" in m.get_body(("plain",)).get_content()
                                                   for m in inbox.messages if m["To"] == new)))
            # Unverified: the right password is answered 403 until the email is confirmed.
            r = s.request("POST", "/auth/login", json_body=body(new))
            self.assertEqual((r.status, r.json()["error"]), (403, "forbidden"))
            token = token_of(inbox.link_for(new, "/auth/verify-email"))
            self.assertEqual(s.request("POST", "/auth/verify-email", json_body={"token": token}).status, 200)
            s.login(new)


class Expiry(unittest.TestCase):
    def test_links_expire(self):
        clock = tempfile.NamedTemporaryFile("w", delete=False)
        clock.write("0")
        clock.close()
        self.addCleanup(os.unlink, clock.name)
        with Server({"GATEHOUSE_FOR_TEST_CLOCK_FILE": clock.name}) as s:
            e = unique_email()
            s.register(e)
            s.request("POST", "/auth/magic-link", json_body={"email": e})
            assert wait_until(lambda: glob.glob(os.path.join(s.outbox, "*.eml")))
            msg = read_eml(glob.glob(os.path.join(s.outbox, "*.eml"))[0])
            token = token_of(re.search(r"(http\S+)", msg.get_body(("plain",)).get_content()).group(1))
            with open(clock.name, "w") as f:
                f.write(str(15 * 60 + 1))  # default magic-link lifetime: 15 minutes
            r = s.request("POST", "/auth/magic-link/verify", json_body={"token": token})
            self.assertEqual((r.status, r.json()["error"]), (400, "invalid_grant"))


class FileOutbox(unittest.TestCase):
    def test_the_file_driver_writes_parseable_eml(self):
        with Server() as s:
            e = unique_email()
            s.register(e)
            s.request("POST", "/auth/password/forgot", json_body={"email": e})
            self.assertTrue(wait_until(lambda: glob.glob(os.path.join(s.outbox, "*.eml"))))
            self.assertFalse(glob.glob(os.path.join(s.outbox, ".*.tmp")))
            path = glob.glob(os.path.join(s.outbox, "*.eml"))[0]
            msg = read_eml(path)
            self.assertEqual(msg["To"], e)
            self.assertEqual(msg["Subject"], "Reset your password")
            self.assertTrue(msg["Message-ID"] and msg["Date"])
            html = msg.get_body(("html",)).get_content()
            self.assertIn("/auth/password/reset?token=", html)
            self.assertNotIn(token_of(re.search(r"(http\S+)", msg.get_body(("plain",)).get_content()).group(1)),
                             s.log())


class Webhook(unittest.TestCase):
    def test_webhook_posts_signed_json(self):
        base, got = start_receiver(self)
        env = {"GATEHOUSE_NOTIFY_DRIVER": "webhook", "GATEHOUSE_NOTIFY_WEBHOOK_URL": base + "/hook",
               "GATEHOUSE_NOTIFY_WEBHOOK_SECRET": "s3cret"}
        with Server(env) as s:
            e = unique_email()
            s.register(e)
            s.request("POST", "/auth/magic-link", json_body={"email": e})
            self.assertTrue(wait_until(lambda: got))
            _, headers, body = got[0]
            sig = headers["X-Gatehouse-Signature"]
            expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
            self.assertTrue(hmac.compare_digest(sig, expected))
            payload = json.loads(body)
            self.assertEqual((payload["kind"], payload["to"]), ("magic_link", e))
            self.assertIn("/auth/magic-link?token=", payload["link"])


class SmtpDown(unittest.TestCase):
    def test_a_dead_smtp_server_changes_no_answer_and_is_retried(self):
        env = {"GATEHOUSE_NOTIFY_DRIVER": "smtp", "GATEHOUSE_NOTIFY_SMTP_URL": "smtp://127.0.0.1:%d" % free_port(),
               "GATEHOUSE_NOTIFY_RETRY_BASE_MS": "50", "GATEHOUSE_NOTIFY_MAX_ATTEMPTS": "3"}
        with Server(env) as s:
            e = unique_email()
            s.register(e)
            t0 = time.time()
            r = s.request("POST", "/auth/password/forgot", json_body={"email": e})
            self.assertEqual(r.status, 202)
            self.assertLess(time.time() - t0, 1.0)
            self.assertTrue(wait_until(lambda: "giving up" in s.log(), 10))
            attempts = [json.loads(l) for l in s.lines if "notification" in l and "retry" in l]
            self.assertEqual([a["attempt"] for a in attempts], [1, 2])
            self.assertEqual(s.request("GET", "/health").status, 200)
            s.login(e)
            # The failure is in the audit log too.
            from accounts import account
            admin = account(s, "admin")
            self.assertTrue(wait_until(lambda: s.request("GET", "/admin/audit?type=notification_failed",
                                                         headers=bearer(admin["token"])).json()["events"]))
            event = s.request("GET", "/admin/audit?type=notification_failed",
                              headers=bearer(admin["token"])).json()["events"][0]
            self.assertEqual((event["details"]["kind"], event["details"]["attempts"]), ("reset_password", 3))


if __name__ == "__main__":
    unittest.main()
