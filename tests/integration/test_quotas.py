"""Per-user quotas and the background prune (issue 12 item 6): one account
could create API tokens without bound and fill the store, and revoked or
expired records were never removed. Real requests to the real server; the
store is read read-only beside the running server (python3-lmdb, or SQL on
PostgreSQL) to count records, and the test clock hook (GATEHOUSE_FOR_TEST_CLOCK_FILE) moves time."""
import glob
import os
import re
import tempfile
import unittest

import lmdb

from accounts import account
from harness import POSTGRES, ApiAssertions, Server, bearer, lmdb_only, unique_email, wait_until

TABLES = ("sessions", "user_sessions", "refresh", "api_keys", "user_api_keys", "otp", "user_otp", "users")


# On PostgreSQL the LMDB engine's per-user index tables are indexes of the
# tables themselves (user_otp: the otp rows still `issued`).
PG_COUNTS = {"sessions": "sessions", "user_sessions": "sessions", "refresh": "refresh", "api_keys": "api_keys",
             "user_api_keys": "api_keys", "otp": "otp", "user_otp": "otp WHERE issued", "users": "users"}


def counts(server):
    """Entries per table of a server's store, read beside the running server."""
    if POSTGRES:
        row = server.sql("SELECT " + ", ".join("(SELECT count(*) FROM %s)" % PG_COUNTS[t] for t in TABLES))[0]
        return dict(zip(TABLES, map(int, row)))
    env = lmdb.open(server.store, readonly=True, create=False, max_dbs=16, lock=True)
    try:
        with env.begin() as txn:
            return {name: txn.stat(env.open_db(name.encode(), txn=txn, create=False))["entries"] for name in TABLES}
    finally:
        env.close()


class Clock:
    """The server's clock offset in seconds (GATEHOUSE_FOR_TEST_CLOCK_FILE)."""

    def __init__(self, test):
        f = tempfile.NamedTemporaryFile("w", delete=False)
        f.write("0")
        f.close()
        test.addCleanup(os.unlink, f.name)
        self.path = f.name

    def set(self, seconds):
        with open(self.path, "w") as f:
            f.write(str(seconds))


class ApiTokenCap(ApiAssertions, unittest.TestCase):
    def test_api_tokens_are_capped_per_user(self):
        clock = Clock(self)
        with Server({"GATEHOUSE_LIMITS_API_TOKENS_PER_USER": "3", "GATEHOUSE_FOR_TEST_CLOCK_FILE": clock.path}) as s:
            u = s.register()
            h = bearer(u["access_token"])
            create = lambda **b: s.request("POST", "/auth/api-tokens", headers=h, json_body=dict(name="t", **b))
            made = [create() for _ in range(2)] + [create(expires_in=60)]
            self.assertEqual([r.status for r in made], [201, 201, 201], made)
            # Today's code answered 201 here, without bound (1,445 tokens in 4.4 s).
            body = self.assert_error(create(), 409, "conflict")
            self.assertIn("revoke one", body["error_description"])
            self.assertEqual(len(s.request("GET", "/auth/api-tokens", headers=h).json()["api_tokens"]), 3)
            # Another user has a quota of their own.
            self.assertEqual(s.request("POST", "/auth/api-tokens", headers=bearer(s.register()["access_token"]),
                                       json_body={"name": "x"}).status, 201)
            # A revoked token frees its place, and so does an expired one.
            self.assertEqual(s.request("DELETE", "/auth/api-tokens/" + made[0].json()["id"], headers=h).status, 204)
            self.assertEqual(create().status, 201)
            self.assert_error(create(), 409, "conflict")
            clock.set(61)
            self.assertEqual(create().status, 201)
            self.assertTrue(s.healthy())


class SessionCap(ApiAssertions, unittest.TestCase):
    def test_a_login_beyond_the_cap_revokes_the_least_recently_used_session(self):
        clock = Clock(self)
        with Server({"GATEHOUSE_LIMITS_SESSIONS_PER_USER": "3", "GATEHOUSE_FOR_TEST_CLOCK_FILE": clock.path}) as s:
            admin = account(s, "admin")
            email = unique_email()
            first = s.register(email)                      # t=0
            clock.set(10)
            second = s.login(email)                        # t=10
            clock.set(20)
            third = s.login(email)                         # t=20
            clock.set(30)
            r = s.refresh(first["refresh_token"])          # the oldest is in use again at t=30
            self.assertEqual(r.status, 200, r)
            first = r.json()
            clock.set(40)
            fourth = s.login(email)                        # over the cap: a login is never refused
            sessions = s.request("GET", "/auth/sessions", headers=bearer(fourth["access_token"])).json()["sessions"]
            self.assertEqual(len(sessions), 3, sessions)
            # The least recently used one (the second, idle since t=10) went, not the oldest.
            self.assert_invalid_token(s.me(second["access_token"]))
            self.assert_error(s.refresh(second["refresh_token"]), 400, "invalid_grant")
            for live in (first, third, fourth):
                self.assertEqual(s.me(live["access_token"]).status, 200)
            self.assertEqual(s.refresh(third["refresh_token"]).status, 200)

            def audited():
                r = s.request("GET", "/admin/audit?type=session_revoked&user=" + fourth["user"]["id"],
                              headers=bearer(admin["token"]))
                return [e for e in r.json()["events"] if e["details"].get("reason") == "session_limit"]
            self.assertTrue(wait_until(audited))
            self.assertEqual(audited()[0]["details"]["sessions"], 1)

    def test_sessions_over_the_cap_are_deleted_not_kept_revoked(self):
        # Before the fix an evicted session was only marked revoked and kept
        # until its absolute expiry: one account piled up sessions without bound.
        clock = Clock(self)
        env = {"GATEHOUSE_LIMITS_SESSIONS_PER_USER": "3", "GATEHOUSE_FOR_TEST_CLOCK_FILE": clock.path,
               "GATEHOUSE_LIMITS_PRUNE_INTERVAL_S": "1", "GATEHOUSE_TOKENS_ROTATION_GRACE_S": "0"}
        with Server(env) as s:
            email = unique_email()
            first = s.register(email)                                   # t=0
            rotated = s.refresh(first["refresh_token"]).json()          # generation 1 of the same session
            logins = []
            for i in range(1, 13):                                      # 12 logins, cap 3
                clock.set(10 * i)
                logins.append(s.login(email))
            c = counts(s)
            self.assertEqual((c["sessions"], c["user_sessions"]), (3, 3), c)
            # Only the survivors' refresh tokens are left (the first session's
            # rotated-away token goes with the next prune pass).
            self.assertTrue(wait_until(lambda: counts(s)["refresh"] == 3), counts(s))
            for gone in (first, rotated, logins[0], logins[8]):
                self.assert_error(s.refresh(gone["refresh_token"]), 400, "invalid_grant")
            for live in logins[-3:]:
                self.assertEqual(s.me(live["access_token"]).status, 200)
            sessions = s.request("GET", "/auth/sessions", headers=bearer(logins[-1]["access_token"])).json()
            self.assertEqual(len(sessions["sessions"]), 3, sessions)
            self.assertEqual(s.refresh(logins[-1]["refresh_token"]).status, 200)


class Prune(ApiAssertions, unittest.TestCase):
    def test_dead_records_are_pruned_in_the_background_and_reuse_detection_survives(self):
        clock = Clock(self)
        env = {"GATEHOUSE_FOR_TEST_CLOCK_FILE": clock.path, "GATEHOUSE_LIMITS_PRUNE_INTERVAL_S": "1",
               "GATEHOUSE_LIMITS_PRUNE_BATCH": "2",  # many small steps: the cursor resumes across them
               "GATEHOUSE_LIMITS_EXPIRED_RETENTION_S": "600", "GATEHOUSE_TOKENS_REFRESH_TTL_S": "3600",
               "GATEHOUSE_TOKENS_ROTATION_GRACE_S": "0"}
        with Server(env) as s:
            # A family rotated twice then logged out (revoked: 3 refresh tokens).
            gone = s.register()
            t = s.refresh(gone["refresh_token"]).json()
            t = s.refresh(t["refresh_token"]).json()
            self.assertEqual(s.request("POST", "/auth/logout", headers=bearer(t["access_token"])).status, 204)
            # A live family, rotated once: its first token is reuse if presented.
            email = unique_email()
            live = s.register(email)
            rotated = s.refresh(live["refresh_token"]).json()
            # API tokens: one revoked, one expiring in 60 s, one for good.
            h = bearer(rotated["access_token"])
            keys = [s.request("POST", "/auth/api-tokens", headers=h, json_body=dict(name="k", **extra)).json()
                    for extra in ({}, {"expires_in": 60}, {})]
            self.assertEqual(s.request("DELETE", "/auth/api-tokens/" + keys[0]["id"], headers=h).status, 204)
            # One-time tokens: the first magic link is used, the second stays live.
            mails = lambda: glob.glob(os.path.join(s.outbox, "*.eml"))
            s.request("POST", "/auth/magic-link", json_body={"email": email})
            self.assertTrue(wait_until(lambda: len(mails()) == 1))
            with open(mails()[0], encoding="utf-8") as f:
                first = re.search(r"token=([A-Za-z0-9_-]+)", f.read()).group(1)
            self.assertEqual(s.request("POST", "/auth/magic-link/verify", json_body={"token": first}).status, 200)
            s.request("POST", "/auth/magic-link", json_body={"email": email})
            self.assertTrue(wait_until(lambda: len(mails()) == 2))

            # Passes at the same time: what is dead now goes (the revoked key,
            # the used link); sessions stay until their absolute expiry.
            self.assertTrue(wait_until(lambda: counts(s)["api_keys"] == 2 and counts(s)["otp"] == 1),
                            counts(s))
            c = counts(s)
            # (2 families above, 1 from the magic-link sign-in)
            self.assertEqual((c["sessions"], c["user_sessions"], c["refresh"]), (3, 3, 6), c)
            self.assertEqual(c["user_api_keys"], 2)
            # The live family's rotated-away token is still recognised as reuse.
            self.assert_error(s.refresh(live["refresh_token"]), 400, "invalid_grant")
            self.assert_error(s.refresh(rotated["refresh_token"]), 400, "invalid_grant")  # the family was revoked

            # The expired key goes after expiry + retention (60 + 600 s); the sessions not yet.
            clock.set(700)
            self.assertTrue(wait_until(lambda: counts(s)["api_keys"] == 1), counts(s))
            self.assertEqual(counts(s)["sessions"], 3)
            # Past the absolute expiry (3600 s) + retention, both families and
            # every refresh token of theirs, and the last link, are gone.
            clock.set(3600 + 600 + 5)
            # (one prune pass may take the refresh tokens before the link)
            self.assertTrue(wait_until(lambda: counts(s)["refresh"] == 0 and counts(s)["otp"] == 0),
                            counts(s))
            c = counts(s)
            self.assertEqual((c["sessions"], c["user_sessions"], c["otp"], c["user_otp"]), (0, 0, 0, 0), c)
            self.assertEqual((c["api_keys"], c["user_api_keys"], c["users"]), (1, 1, 2), c)
            # The API token made for good still works; the accounts too.
            self.assertEqual(s.request("GET", "/auth/me", headers={"X-API-Key": keys[2]["token"]}).status, 200)
            self.assertEqual(s.login(email)["user"]["email"], email)
            self.assertTrue(any(r.get("msg") == "pruned dead records" for r in s.log_records()))
            text = s.metrics()
            self.assertIn("gatehouse_store_used_bytes ", text)


@lmdb_only("the fill of LMDB's fixed-size map (store.map_size_mb); a PostgreSQL database has none")
class FillWarning(unittest.TestCase):
    def test_a_warning_is_logged_when_the_store_passes_the_fill_threshold(self):
        with Server({"GATEHOUSE_STORE_WARN_FILL_PERCENT": "1", "GATEHOUSE_STORE_MAP_SIZE_MB": "2",
                     "GATEHOUSE_LIMITS_PRUNE_INTERVAL_S": "1"}) as s:
            for _ in range(3):
                s.register()

            def warnings():
                return [r for r in s.log_records() if r.get("msg", "").startswith("store is filling up")]
            self.assertTrue(wait_until(warnings), s.log())
            w = warnings()[0]
            self.assertEqual((w["level"], w["map_bytes"]), ("warn", 2 << 20))
            self.assertGreaterEqual(w["percent"], 1)
            self.assertLessEqual(w["used_bytes"], w["map_bytes"])
            self.assertEqual(len(warnings()), 1)  # once per crossing, not at every pass


if __name__ == "__main__":
    unittest.main()
