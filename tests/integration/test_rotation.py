"""Refresh-token rotation: reuse detection revokes the family (RFC 9700),
the grace window for racing tabs, parallel refreshes, the web cookie."""
import concurrent.futures
import unittest

from harness import Server, ServerTest, bearer, unique_email


def parallel_refresh(s, token, n=50):
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: s.refresh(token), range(n)))


class StrictRotation(ServerTest, unittest.TestCase):
    """rotation_grace_s = 0: any reuse revokes the family."""

    env = {"GATEHOUSE_TOKENS_ROTATION_GRACE_S": "0"}

    def test_reusing_a_rotated_token_revokes_the_whole_family(self):
        s = self.s
        t0 = s.register()
        t1 = s.refresh(t0["refresh_token"]).json()
        t2 = s.refresh(t1["refresh_token"]).json()
        r = s.refresh(t0["refresh_token"])  # the oldest token again
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_grant")
        self.assertIn("reuse", r.json()["error_description"])
        # The live token and the family's access tokens died with it.
        self.assertEqual(s.refresh(t2["refresh_token"]).status, 400)
        self.assertEqual(s.me(t2["access_token"]).status, 401)

    def test_fifty_parallel_refreshes_yield_at_most_one_pair(self):
        s = self.s
        t0 = s.register()
        results = parallel_refresh(s, t0["refresh_token"])
        ok = [r.json()["refresh_token"] for r in results if r.status == 200]
        self.assertLessEqual(len(ok), 1)
        for r in results:
            self.assertIn(r.status, (200, 400))
        # The losers were reuse: the family is revoked, so no live token remains.
        for token in ok:
            self.assertEqual(s.refresh(token).status, 400)


class GraceWindow(ServerTest, unittest.TestCase):
    """Default grace (5 s): the previous token returns the live one."""

    def test_previous_token_within_grace_returns_the_same_live_token(self):
        s = self.s
        t0 = s.register()
        t1 = s.refresh(t0["refresh_token"]).json()
        again = s.refresh(t0["refresh_token"])
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json()["refresh_token"], t1["refresh_token"])
        # The family is alive and moves on from the live token.
        t2 = s.refresh(t1["refresh_token"])
        self.assertEqual(t2.status, 200)
        # Two generations back is reuse even inside the window.
        self.assertEqual(s.refresh(t0["refresh_token"]).status, 400)
        self.assertEqual(s.refresh(t2.json()["refresh_token"]).status, 400)

    def test_fifty_parallel_refreshes_yield_one_new_token(self):
        s = self.s
        t0 = s.register()
        results = parallel_refresh(s, t0["refresh_token"])
        self.assertTrue(all(r.status == 200 for r in results), [r for r in results if r.status != 200][:3])
        tokens = {r.json()["refresh_token"] for r in results}
        self.assertEqual(len(tokens), 1)
        (live,) = tokens
        nxt = s.refresh(live)
        self.assertEqual(nxt.status, 200)
        self.assertEqual(s.me(nxt.json()["access_token"]).status, 200)
        sessions = s.request("GET", "/auth/sessions", headers=bearer(nxt.json()["access_token"])).json()
        self.assertEqual(len(sessions["sessions"]), 1)  # one family, never two


class AbsoluteExpiry(unittest.TestCase):
    def test_a_family_ends_at_its_absolute_expiry(self):
        import os
        import tempfile
        clock = tempfile.NamedTemporaryFile("w", delete=False)
        clock.write("0")
        clock.close()
        self.addCleanup(os.unlink, clock.name)
        with Server({"GATEHOUSE_FOR_TEST_CLOCK_FILE": clock.name, "GATEHOUSE_TOKENS_REFRESH_TTL_S": "3600"}) as s:
            t = s.register()
            t = s.refresh(t["refresh_token"]).json()
            with open(clock.name, "w") as f:
                f.write("3601")
            r = s.refresh(t["refresh_token"])
            self.assertEqual((r.status, r.json()["error"]), (400, "invalid_grant"))


class Cookie(ServerTest, unittest.TestCase):

    def cookie_login(self):
        email = unique_email()
        self.s.register(email)
        r = self.s.request("POST", "/auth/login",
                           json_body={"email": email, "password": "correct horse battery", "use_cookie": True})
        self.assertEqual(r.status, 200)
        self.assertNotIn("refresh_token", r.json())
        cookie = r.header("Set-Cookie")
        for attr in ("__Host-gatehouse_refresh=", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"):
            self.assertIn(attr, cookie)
        return cookie.split(";")[0]

    def test_cookie_refresh_with_the_csrf_header_rotates(self):
        c = self.cookie_login()
        r = self.s.request("POST", "/auth/refresh", headers={"Cookie": c, "X-Gatehouse-CSRF": "1"})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("refresh_token", r.json())
        new = r.header("Set-Cookie").split(";")[0]
        self.assertNotEqual(new, c)
        self.assertEqual(self.s.me(r.json()["access_token"]).status, 200)

    def test_cookie_refresh_without_csrf_header_or_from_another_origin_is_forbidden(self):
        c = self.cookie_login()
        r = self.s.request("POST", "/auth/refresh", headers={"Cookie": c})
        self.assertEqual((r.status, r.json()["error"]), (403, "forbidden"))
        r = self.s.request("POST", "/auth/refresh",
                           headers={"Cookie": c, "X-Gatehouse-CSRF": "1", "Origin": "https://evil.example"})
        self.assertEqual((r.status, r.json()["error"]), (403, "forbidden"))
        # Neither attempt consumed the token.
        r = self.s.request("POST", "/auth/refresh", headers={"Cookie": c, "X-Gatehouse-CSRF": "1"})
        self.assertEqual(r.status, 200)

    def test_refresh_by_get_is_not_allowed(self):
        self.assertEqual(self.s.request("GET", "/auth/refresh").status, 405)


if __name__ == "__main__":
    unittest.main()
