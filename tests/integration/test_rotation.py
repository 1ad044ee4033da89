"""Refresh-token rotation (docs/API.md "Rotation", the brief's SECURITY.md 24-27):
reuse detection revokes the family (RFC 9700), the grace window for racing
tabs, parallel refreshes, absolute expiry and the web cookie with its CSRF
defence."""
import concurrent.futures
import os
import tempfile
import threading
import time
import unittest

from harness import DEFAULT_PASSWORD, ApiAssertions, Server, ServerTest, bearer, unique_email

ISSUER_ORIGIN = "http://127.0.0.1:8000"  # tokens.issuer in config/gatehouse.toml


def parallel_refresh(s, token, n=50):
    """n refreshes of one token at once, each on its own connection."""
    barrier = threading.Barrier(n)

    def one(_):
        conn = s.connect()
        try:
            conn.connect()
            barrier.wait(10)
            return s.request("POST", "/auth/refresh", json_body={"refresh_token": token}, conn=conn)
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


class StrictRotation(ApiAssertions, ServerTest, unittest.TestCase):
    """rotation_grace_s = 0: any reuse revokes the family."""

    env = {"GATEHOUSE_TOKENS_ROTATION_GRACE_S": "0"}

    def test_each_refresh_returns_a_new_token_and_the_old_one_stops_working(self):
        s = self.s
        t0 = s.register()
        t1 = s.refresh(t0["refresh_token"])
        self.assertEqual(t1.status, 200, t1)
        self.assertNotEqual(t1.json()["refresh_token"], t0["refresh_token"])
        self.assertEqual(s.me(t1.json()["access_token"]).status, 200)

    def test_reusing_the_previous_token_revokes_its_replacement(self):
        s = self.s
        t0 = s.register()
        other = s.login(t0["user"]["email"])  # another session of the same user
        t1 = s.refresh(t0["refresh_token"]).json()
        self.assert_error(s.refresh(t0["refresh_token"]), 400, "invalid_grant")
        # The token that replaced it and the family's access tokens died with it.
        self.assert_error(s.refresh(t1["refresh_token"]), 400, "invalid_grant")
        self.assert_invalid_token(s.me(t1["access_token"]))
        self.assert_invalid_token(s.me(t0["access_token"]))
        # The other session is not touched.
        self.assertEqual(s.me(other["access_token"]).status, 200)
        self.assertEqual(s.refresh(other["refresh_token"]).status, 200)

    def test_reusing_an_older_token_revokes_the_whole_family(self):
        s = self.s
        t0 = s.register()
        t1 = s.refresh(t0["refresh_token"]).json()
        t2 = s.refresh(t1["refresh_token"]).json()
        self.assert_error(s.refresh(t0["refresh_token"]), 400, "invalid_grant")
        self.assert_error(s.refresh(t2["refresh_token"]), 400, "invalid_grant")
        self.assert_invalid_token(s.me(t2["access_token"]))
        self.assert_error(s.refresh(t1["refresh_token"]), 400, "invalid_grant")

    def test_fifty_parallel_refreshes_yield_at_most_one_token(self):
        s = self.s
        t0 = s.register()
        results = parallel_refresh(s, t0["refresh_token"])
        for r in results:
            self.assertIn(r.status, (200, 400), r)
            if r.status == 400:
                self.assertEqual(r.json()["error"], "invalid_grant")
        issued = [r.json()["refresh_token"] for r in results if r.status == 200]
        self.assertLessEqual(len(issued), 1, issued)
        # Never two live tokens: the losers were reuse, so whatever was issued is revoked.
        live = [t for t in set(issued) | {t0["refresh_token"]} if s.refresh(t).status == 200]
        self.assertEqual(live, [])


class GraceWindow(ApiAssertions, ServerTest, unittest.TestCase):
    """Default grace (5 s): the immediately previous token returns the live one."""

    def test_previous_token_within_grace_returns_the_same_live_token(self):
        s = self.s
        t0 = s.register()
        t1 = s.refresh(t0["refresh_token"]).json()
        again = s.refresh(t0["refresh_token"])
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json()["refresh_token"], t1["refresh_token"])
        self.assertEqual(s.me(again.json()["access_token"]).status, 200)
        self.assertEqual(s.me(t1["access_token"]).status, 200)  # the family stays alive
        # It moves on from the live token.
        t2 = s.refresh(t1["refresh_token"])
        self.assertEqual(t2.status, 200, t2)
        t2 = t2.json()
        self.assertNotEqual(t2["refresh_token"], t1["refresh_token"])
        self.assertEqual(len(s.request("GET", "/auth/sessions", headers=bearer(t2["access_token"])).json()["sessions"]), 1)
        # Two generations back is reuse even inside the window: the family is revoked.
        self.assert_error(s.refresh(t0["refresh_token"]), 400, "invalid_grant")
        self.assert_error(s.refresh(t2["refresh_token"]), 400, "invalid_grant")
        self.assert_invalid_token(s.me(t2["access_token"]))

    def test_fifty_parallel_refreshes_yield_one_new_token(self):
        s = self.s
        t0 = s.register()
        results = parallel_refresh(s, t0["refresh_token"])
        self.assertTrue(all(r.status == 200 for r in results), [r for r in results if r.status != 200][:3])
        tokens = {r.json()["refresh_token"] for r in results}
        self.assertEqual(len(tokens), 1, tokens)
        (live,) = tokens
        self.assertNotEqual(live, t0["refresh_token"])
        for r in results[:5]:
            self.assertEqual(s.me(r.json()["access_token"]).status, 200)
        nxt = s.refresh(live)
        self.assertEqual(nxt.status, 200, nxt)
        nxt = nxt.json()
        self.assertNotEqual(nxt["refresh_token"], live)
        self.assertEqual(s.me(nxt["access_token"]).status, 200)
        sessions = s.request("GET", "/auth/sessions", headers=bearer(nxt["access_token"])).json()["sessions"]
        self.assertEqual(len(sessions), 1)  # one family, never two
        # The first token is now two generations back: reuse.
        self.assert_error(s.refresh(t0["refresh_token"]), 400, "invalid_grant")
        self.assert_error(s.refresh(nxt["refresh_token"]), 400, "invalid_grant")


class GraceWindowEnds(ApiAssertions, unittest.TestCase):
    def test_previous_token_after_the_window_revokes_the_family(self):
        with Server({"GATEHOUSE_TOKENS_ROTATION_GRACE_S": "1"}) as s:
            t0 = s.register()
            t1 = s.refresh(t0["refresh_token"]).json()
            time.sleep(2.2)
            self.assert_error(s.refresh(t0["refresh_token"]), 400, "invalid_grant")
            self.assert_error(s.refresh(t1["refresh_token"]), 400, "invalid_grant")
            self.assert_invalid_token(s.me(t1["access_token"]))


class AbsoluteExpiry(ApiAssertions, unittest.TestCase):
    def test_a_family_ends_at_its_absolute_expiry(self):
        clock = tempfile.NamedTemporaryFile("w", delete=False)
        clock.write("0")
        clock.close()
        self.addCleanup(os.unlink, clock.name)
        with Server({"GATEHOUSE_FOR_TEST_CLOCK_FILE": clock.name, "GATEHOUSE_TOKENS_REFRESH_TTL_S": "3600"}) as s:
            t = s.register()
            t = s.refresh(t["refresh_token"]).json()
            with open(clock.name, "w") as f:
                f.write("3601")
            self.assert_error(s.refresh(t["refresh_token"]), 400, "invalid_grant")


class Cookie(ApiAssertions, ServerTest, unittest.TestCase):

    def assert_refresh_cookie(self, r):
        cookie = r.header("Set-Cookie")
        self.assertIsNotNone(cookie, r.headers)
        attrs = [a.strip() for a in cookie.split(";")]
        name, _, value = attrs[0].partition("=")
        self.assertEqual(name, "__Host-gatehouse_refresh")
        self.assertTrue(value)
        lower = {a.lower() for a in attrs[1:]}
        for attr in ("path=/", "secure", "httponly", "samesite=strict"):
            self.assertIn(attr, lower, cookie)
        self.assertFalse(any(a.startswith("domain=") for a in lower), cookie)
        return attrs[0]

    def cookie_login(self):
        email = unique_email()
        self.s.register(email)
        r = self.s.request("POST", "/auth/login",
                           json_body={"email": email, "password": DEFAULT_PASSWORD, "use_cookie": True})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("refresh_token", r.json())
        self.assertIn("access_token", r.json())
        return self.assert_refresh_cookie(r)

    def cookie_refresh(self, cookie, **headers):
        h = {"Cookie": cookie}
        h.update(headers)
        return self.s.request("POST", "/auth/refresh", headers=h)

    def test_register_with_use_cookie_sets_the_cookie(self):
        r = self.s.request("POST", "/auth/register", json_body={"email": unique_email(), "password": DEFAULT_PASSWORD,
                                                                "use_cookie": True})
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("refresh_token", r.json())
        self.assert_refresh_cookie(r)

    def test_a_login_without_use_cookie_sets_no_cookie(self):
        email = unique_email()
        self.s.register(email)
        r = self.s.request("POST", "/auth/login", json_body={"email": email, "password": DEFAULT_PASSWORD})
        self.assertIsNone(r.header("Set-Cookie"))
        self.assertIn("refresh_token", r.json())

    def test_cookie_refresh_with_the_csrf_header_rotates(self):
        c = self.cookie_login()
        r = self.cookie_refresh(c, **{"X-Gatehouse-CSRF": "1"})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("refresh_token", r.json())
        self.assertEqual(r.header("Cache-Control"), "no-store")
        new = self.assert_refresh_cookie(r)
        self.assertNotEqual(new, c)
        self.assertEqual(self.s.me(r.json()["access_token"]).status, 200)
        r = self.cookie_refresh(new, **{"X-Gatehouse-CSRF": "1"})
        self.assertEqual(r.status, 200, r)

    def test_cookie_refresh_from_the_issuer_origin_is_allowed(self):
        c = self.cookie_login()
        r = self.cookie_refresh(c, **{"X-Gatehouse-CSRF": "1", "Origin": ISSUER_ORIGIN})
        self.assertEqual(r.status, 200, r)

    def test_cookie_refresh_without_csrf_header_or_from_another_origin_is_forbidden(self):
        c = self.cookie_login()
        self.assert_error(self.cookie_refresh(c), 403, "forbidden")
        self.assert_error(self.cookie_refresh(c, Origin=ISSUER_ORIGIN), 403, "forbidden")
        for origin in ("https://evil.example", "null", "http://127.0.0.1:8000.evil.example", "http://127.0.0.1:8001"):
            r = self.cookie_refresh(c, **{"X-Gatehouse-CSRF": "1", "Origin": origin})
            self.assert_error(r, 403, "forbidden")
            self.assertIsNone(r.header("Set-Cookie"))
        # None of the attempts consumed the token.
        r = self.cookie_refresh(c, **{"X-Gatehouse-CSRF": "1"})
        self.assertEqual(r.status, 200, r)

    def test_logout_clears_the_cookie(self):
        email = unique_email()
        self.s.register(email)
        r = self.s.request("POST", "/auth/login",
                           json_body={"email": email, "password": DEFAULT_PASSWORD, "use_cookie": True})
        c = self.assert_refresh_cookie(r)
        r = self.s.request("POST", "/auth/logout", headers=dict(bearer(r.json()["access_token"]), Cookie=c))
        self.assertEqual(r.status, 204, r)
        cleared = r.header("Set-Cookie")
        self.assertIsNotNone(cleared)
        attrs = [a.strip().lower() for a in cleared.split(";")]
        self.assertTrue(attrs[0].startswith("__host-gatehouse_refresh="), cleared)
        self.assertTrue("max-age=0" in attrs or any(a.startswith("expires=") for a in attrs), cleared)
        self.assert_error(self.cookie_refresh(c, **{"X-Gatehouse-CSRF": "1"}), 400, "invalid_grant")

    def test_refresh_by_get_is_not_allowed(self):
        c = self.cookie_login()
        r = self.s.request("GET", "/auth/refresh", headers={"Cookie": c, "X-Gatehouse-CSRF": "1"})
        self.assert_error(r, 405, "method_not_allowed")
        self.assertIn("POST", r.header("Allow"))


if __name__ == "__main__":
    unittest.main()
