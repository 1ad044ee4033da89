"""Magic links, email verification and password reset through the
notification drivers: a real SMTP server (aiosmtpd), the file outbox and a
signed webhook (SECURITY.md 22, 26, 28, 29, 36, 41)."""
import email
import email.policy
import glob
import hashlib
import hmac
import json
import os
import re
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

    def test_a_newer_link_invalidates_the_older_one(self):
        e = unique_email()
        self.s.register(e)
        self.post("/auth/magic-link", {"email": e})
        first = token_of(self.inbox.link_for(e, "/auth/magic-link"))
        n = len(self.inbox.messages)
        self.post("/auth/magic-link", {"email": e})
        wait_until(lambda: len(self.inbox.messages) > n)
        second = token_of(self.inbox.link_for(e, "/auth/magic-link"))
        self.assertNotEqual(first, second)
        self.assertEqual(self.post("/auth/magic-link/verify", {"token": first}).status, 400)
        self.assertEqual(self.post("/auth/magic-link/verify", {"token": second}).status, 200)

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
        e = unique_email()
        self.s.register(e)
        r = self.post("/auth/magic-link", {"email": e, "redirect_to": "http://gatehouse.test/app"})
        self.assertEqual(r.status, 202)
        self.assertIn("redirect_to=http%3A%2F%2Fgatehouse.test%2Fapp", self.inbox.link_for(e, "/auth/magic-link"))

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
