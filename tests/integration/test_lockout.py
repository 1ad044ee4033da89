"""Nobody can lock an owner out (issue 12 items 5 and 12; NIST 800-63B
§5.2.2, the OWASP device cookie). Attackers from many addresses (through a
trusted proxy) keep an account throttled for unknown clients, yet the owner's
client that signed in before logs in with its device token; link requests
never answer 429 per account and a link the owner got keeps working while
others request more; wrong current passwords on /auth/password/change count
as failed logins, yet only the session's own failures hold a change back;
a password change or reset voids every earlier device token."""
import email
import email.policy
import glob
import os
import re
import tempfile
import unittest
from urllib.parse import parse_qs, urlparse

from harness import Server, bearer, unique_email, wait_until

PASSWORD = "the owner's password"
ENV = {"GATEHOUSE_RATE_LIMIT_ENABLED": "true", "GATEHOUSE_SERVER_TRUSTED_PROXIES": "127.0.0.1/32",
       "GATEHOUSE_RATE_LIMIT_LOGIN_IP": "100000", "GATEHOUSE_RATE_LIMIT_LINK_IP": "100000",
       "GATEHOUSE_RATE_LIMIT_LOGIN_ACCOUNT": "5", "GATEHOUSE_RATE_LIMIT_LOGIN_IP_ACCOUNT": "100000",
       "GATEHOUSE_RATE_LIMIT_LOGIN_DEVICE": "100",
       # A long back-off that no test outlives: 3 failures in, each further waits up to 600 s.
       "GATEHOUSE_RATE_LIMIT_BACKOFF_AFTER": "3", "GATEHOUSE_RATE_LIMIT_BACKOFF_MAX_S": "600"}
DEVICE_COOKIE = "__Host-gatehouse_device"


def login(s, email, password, ip, headers=None):
    h = {"X-Forwarded-For": ip}
    h.update(headers or {})
    return s.request("POST", "/auth/login", json_body={"email": email, "password": password}, headers=h)


def with_cookie(token):
    return {"Cookie": "%s=%s" % (DEVICE_COOKIE, token)}


def device_cookie_of(r):
    """The device token set as the HttpOnly cookie by the answer `r`."""
    found = [c for c in r.headers.get_all("Set-Cookie") if c.startswith(DEVICE_COOKIE + "=")]
    assert len(found) == 1, r.headers  # beside the refresh cookie
    assert "HttpOnly" in found[0], found
    return found[0].split(";")[0].split("=", 1)[1]


def attack(s, email, n=30):
    """n wrong passwords from n addresses; every answer is a refusal."""
    for i in range(n):
        r = login(s, email, "guess %d" % i, "198.51.100.%d" % (i + 1))
        assert r.status in (401, 429), r


class DeviceCookie(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server(ENV)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def test_the_owners_device_logs_in_while_attackers_keep_the_account_throttled(self):
        s, owner = self.s, unique_email()
        s.register(owner, password=PASSWORD)
        first = s.request("POST", "/auth/login", json_body={"email": owner, "password": PASSWORD, "use_cookie": True},
                          headers={"X-Forwarded-For": "192.0.2.10"})
        self.assertEqual(first.status, 200, first)
        device = device_cookie_of(first)
        # The HttpOnly cookie is the only copy: not in the body, where script could read it.
        self.assertNotIn("device_token", first.json())
        self.assertNotIn(device, first.body.decode())
        attack(s, owner)
        # An unknown client with the right password is held back: by the
        # account's bucket (429) or its back-off (a wrong-password answer).
        self.assertIn(login(s, owner, PASSWORD, "192.0.2.10").status, (401, 429))
        # The owner's browser (cookie) and API client (header) are not.
        self.assertEqual(login(s, owner, PASSWORD, "192.0.2.10", with_cookie(device)).status, 200)
        r = login(s, owner, PASSWORD, "192.0.2.11", {"X-Gatehouse-Device": device})
        self.assertEqual(r.status, 200, r)
        # Still throttled for everyone else, the attacker included.
        attack(s, owner, 5)
        self.assertIn(login(s, owner, PASSWORD, "192.0.2.12").status, (401, 429))

    def test_a_device_token_works_only_for_its_account_and_unforged(self):
        s, owner = self.s, unique_email()
        s.register(owner, password=PASSWORD)
        attacker = unique_email()
        own = s.register(attacker, password=PASSWORD)["device_token"]
        attack(s, owner)
        self.assertIn(login(s, owner, PASSWORD, "198.51.100.99", with_cookie(own)).status, (401, 429))
        mine = login(s, attacker, PASSWORD, "198.51.100.99").json()["device_token"]
        forged = mine[:-2] + ("AA" if not mine.endswith("AA") else "BB")
        self.assertIn(login(s, owner, PASSWORD, "198.51.100.99", {"X-Gatehouse-Device": forged}).status, (401, 429))

    def test_a_device_has_its_own_back_off(self):
        s, owner = self.s, unique_email()
        laptop = s.register(owner, password=PASSWORD)["device_token"]
        phone = login(s, owner, PASSWORD, "192.0.2.20").json()["device_token"]
        # A thief with the laptop's cookie guesses. Each count is stored after
        # its answer (group commit), so the last one or two may still be on
        # their way: with 8 guesses at least 6 are stored, an 8 s wait (with 6,
        # a stored 3 or 4 waited 1-2 s, which a second boundary could end).
        for i in range(8):
            self.assertEqual(login(s, owner, "guess %d" % i, "192.0.2.21", with_cookie(laptop)).status, 401)
        # The laptop now backs off: the right password answers like a wrong one.
        r = login(s, owner, PASSWORD, "192.0.2.21", with_cookie(laptop))
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_credentials"))
        # Neither the phone nor an unknown client paid for the laptop's failures.
        self.assertEqual(login(s, owner, PASSWORD, "192.0.2.20", with_cookie(phone)).status, 200)
        self.assertEqual(login(s, owner, PASSWORD, "192.0.2.22").status, 200)

    def test_the_password_grant_returns_and_honours_device_tokens(self):
        s, owner = self.s, unique_email()
        s.register(owner, password=PASSWORD)
        r = s.request("POST", "/auth/token", form={"grant_type": "password", "username": owner, "password": PASSWORD},
                      headers={"X-Forwarded-For": "192.0.2.30"})
        self.assertEqual(r.status, 200, r)
        device = r.json()["device_token"]
        attack(s, owner)
        r = s.request("POST", "/auth/token", form={"grant_type": "password", "username": owner, "password": PASSWORD},
                      headers={"X-Forwarded-For": "192.0.2.30", "X-Gatehouse-Device": device})
        self.assertEqual(r.status, 200, r)


def read_eml(path):
    with open(path, "rb") as f:
        return email.message_from_bytes(f.read(), policy=email.policy.default)


def links_in_outbox(s, to, path):
    """Tokens of the links mailed to `to` whose URL contains `path`, oldest first."""
    out = []
    for f in sorted(glob.glob(os.path.join(s.outbox, "*.eml")), key=os.path.getmtime):
        msg = read_eml(f)
        if msg["To"] != to:
            continue
        found = re.search(r"(http\S*%s\?\S*)" % re.escape(path), msg.get_body(("plain",)).get_content())
        if found:
            out.append(parse_qs(urlparse(found.group(1)).query)["token"][0])
    return out


class RecoveryStaysOpen(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server(dict(ENV, GATEHOUSE_RATE_LIMIT_LINK_ACCOUNT="2"))

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def forgot(self, email, ip):
        return self.s.request("POST", "/auth/password/forgot", json_body={"email": email},
                              headers={"X-Forwarded-For": ip})

    def test_the_owners_reset_link_keeps_working_while_others_request_links(self):
        s, owner = self.s, unique_email()
        device = s.register(owner, password=PASSWORD).get("device_token")
        self.assertEqual(self.forgot(owner, "192.0.2.40").status, 202)
        self.assertTrue(wait_until(lambda: links_in_outbox(s, owner, "/auth/password/reset")))
        mine = links_in_outbox(s, owner, "/auth/password/reset")[0]
        attack(s, owner)  # the login bucket is spent too: links do not share it
        for i in range(20):
            r = self.forgot(owner, "198.51.100.%d" % (i + 1))
            self.assertEqual(r.status, 202, r)  # never 429: nothing tells the owner's request apart
            r = s.request("POST", "/auth/magic-link", json_body={"email": owner},
                          headers={"X-Forwarded-For": "198.51.100.%d" % (i + 1)})
            self.assertEqual(r.status, 202, r)
        # At most auth.max_live_links (3) reset mails went out: no mail flood.
        self.assertTrue(wait_until(lambda: len(links_in_outbox(s, owner, "/auth/password/reset")) >= 2))
        sent = links_in_outbox(s, owner, "/auth/password/reset")
        self.assertLessEqual(len(sent), 3, sent)
        r = s.request("POST", "/auth/password/reset", json_body={"token": mine, "new_password": "a brand new password"})
        self.assertEqual(r.status, 200, r)
        # Using one retires the others.
        for other in sent[1:]:
            r = s.request("POST", "/auth/password/reset", json_body={"token": other, "new_password": "yet another one!"})
            self.assertEqual(r.status, 400, r)
        # The reset voided the device token issued before it: the owner's old
        # device is an unknown client now, held to the account's spent bucket.
        # (TokensAfterReset checks the new password and the new token.)
        self.assertIn(login(s, owner, "a brand new password", "192.0.2.41", with_cookie(device)).status, (401, 429))

    def test_a_magic_link_flood_does_not_block_the_reset(self):
        s, owner = self.s, unique_email()
        s.register(owner, password=PASSWORD)
        for i in range(10):
            s.request("POST", "/auth/magic-link", json_body={"email": owner}, headers={"X-Forwarded-For": "198.51.100.7"})
        self.assertEqual(self.forgot(owner, "192.0.2.50").status, 202)
        self.assertTrue(wait_until(lambda: links_in_outbox(s, owner, "/auth/password/reset")))


class TokensAfterReset(unittest.TestCase):
    def test_a_reset_voids_every_earlier_device_token(self):
        with Server(ENV) as s:
            owner = unique_email()
            mine = s.register(owner, password=PASSWORD)["device_token"]
            # An intruder who knew the password signed in once: a device token of its own.
            theirs = login(s, owner, PASSWORD, "198.51.100.200").json()["device_token"]
            r = s.request("POST", "/auth/password/forgot", json_body={"email": owner})
            self.assertEqual(r.status, 202, r)
            self.assertTrue(wait_until(lambda: links_in_outbox(s, owner, "/auth/password/reset")))
            reset = links_in_outbox(s, owner, "/auth/password/reset")[0]
            r = s.request("POST", "/auth/password/reset", json_body={"token": reset, "new_password": "after the reset"})
            self.assertEqual(r.status, 200, r)
            # The owner signs in with the new password before any attack: a new token.
            r = login(s, owner, "after the reset", "192.0.2.70", with_cookie(mine))
            self.assertEqual(r.status, 200, r)
            fresh = r.json()["device_token"]
            attack(s, owner)
            # The intruder's token gives no budget of its own any more: its login
            # is an unknown client's, held to the account's limits (on the old
            # code this answered 200: the device kept its own budget)...
            self.assertIn(login(s, owner, "after the reset", "198.51.100.200", with_cookie(theirs)).status, (401, 429))
            self.assertIn(login(s, owner, "after the reset", "198.51.100.200", {"X-Gatehouse-Device": theirs}).status,
                          (401, 429))
            # ...and so is the owner's pre-reset one; the token issued after the reset works.
            self.assertIn(login(s, owner, "after the reset", "192.0.2.70", with_cookie(mine)).status, (401, 429))
            self.assertEqual(login(s, owner, "after the reset", "192.0.2.70", with_cookie(fresh)).status, 200)


NEW = "a brand new password"


class PasswordChange(unittest.TestCase):
    """Runs with the test clock (GATEHOUSE_FOR_TEST_CLOCK_FILE), to grow a
    session's back-off to tens of seconds without sleeping."""

    def setUp(self):
        clock = tempfile.NamedTemporaryFile("w", delete=False)
        clock.close()
        self.addCleanup(os.unlink, clock.name)
        self.clock = clock.name
        self.shift(0)
        self.s = Server(dict(ENV, GATEHOUSE_FOR_TEST_CLOCK_FILE=self.clock))
        self.addCleanup(self.s.close)

    def shift(self, seconds):
        with open(self.clock, "w") as f:
            f.write(str(seconds))

    def change(self, session, current, new=NEW):
        return self.s.request("POST", "/auth/password/change", headers=bearer(session["access_token"]),
                              json_body={"current_password": current, "new_password": new})

    def guess_until_backing_off(self, session):
        """Wrong current passwords on one session, the clock moved past each
        wait (attempts made while waiting are not counted), until the session
        waits 32 s (backoff_after = 3: the 8th failure)."""
        for offset in (0, 0, 0, 2, 5, 10, 20, 40):
            self.shift(offset)
            r = self.change(session, "guess at %d" % offset)
            self.assertEqual((r.status, r.json()["error"]), (403, "forbidden"))

    def test_an_outside_attack_does_not_block_the_owners_change(self):
        s, owner = self.s, unique_email()
        a = s.register(owner, password=PASSWORD)
        attack(s, owner)  # the account backs off for every unknown client
        self.assertIn(login(s, owner, PASSWORD, "192.0.2.60").status, (401, 429))
        # The signed-in owner with the right current password is not held back
        # (403 on the old code: the change honoured the account's back-off).
        r = self.change(a, PASSWORD)
        self.assertEqual(r.status, 200, r)
        # The change voided the device token issued before it.
        self.assertIn(login(s, owner, NEW, "192.0.2.60", with_cookie(a["device_token"])).status, (401, 429))

    def test_wrong_current_passwords_count_on_the_account_and_back_off_that_session_only(self):
        s, owner = self.s, unique_email()
        a = s.register(owner, password=PASSWORD)
        b = login(s, owner, PASSWORD, "192.0.2.61").json()  # a second session of the owner
        self.guess_until_backing_off(a)
        # The account's count is stored after each answer (group commit), so the
        # last one or two may still be on their way: at offset 11 the account
        # backs off with 6, 7 or 8 failures stored (the 6th waits until 18).
        self.shift(11)
        # Counted like failed logins (item 12): an unknown client backs off...
        r = login(s, owner, PASSWORD, "192.0.2.60")
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_credentials"))
        # ...but the owner's device is not held back by the account's count.
        self.assertEqual(login(s, owner, PASSWORD, "192.0.2.60", with_cookie(a["device_token"])).status, 200)
        # The guessing session backs off: even the right password answers 403.
        r = self.change(a, PASSWORD)
        self.assertEqual((r.status, r.json()["error"]), (403, "forbidden"))
        # Another session of the same user does not (403 on the old code: the
        # account's back-off held every session).
        r = self.change(b, PASSWORD)
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main()
