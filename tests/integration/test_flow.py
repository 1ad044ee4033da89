"""The core flow over HTTP (docs/API.md): register, login, me, refresh,
logout, sessions, response conventions (errors, X-Request-Id, no-store, 404,
405), health and readiness, overload, log secrecy and restarts."""
import concurrent.futures
import os
import json
import unittest
import uuid

from harness import ApiAssertions, Server, ServerTest, bearer, unique_email

RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
USER_FIELDS = {"id", "email", "email_verified", "role", "username", "full_name", "avatar_url",
               "onboarding", "active", "data", "created_at", "updated_at"}
TOKEN_FIELDS = {"access_token", "token_type", "expires_in", "refresh_token"}


def allow_set(r):
    return {m.strip().upper() for m in (r.header("Allow") or "").split(",") if m.strip()}


class CoreFlow(ApiAssertions, ServerTest, unittest.TestCase):

    def assert_token_response(self, r, status=200, with_user=True):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r.headers)
        body = r.json()
        # A sign-in (with the user) also gets a device token; a refresh does not.
        self.assertEqual(set(body), TOKEN_FIELDS | ({"user", "device_token"} if with_user else set()), body)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 900)
        self.assertTrue(body["access_token"] and body["refresh_token"])
        return body

    def test_register_login_me_refresh_logout(self):
        s = self.s
        email = unique_email()
        r = s.request("POST", "/auth/register",
                      json_body={"email": email, "password": "correct horse battery", "full_name": "Alice"})
        reg = self.assert_token_response(r, 201)
        user = reg["user"]
        self.assertEqual(set(user), USER_FIELDS)
        self.assertEqual(user["email"], email)
        self.assertEqual(user["role"], "user")
        self.assertEqual(user["full_name"], "Alice")
        self.assertIsNone(user["username"])
        self.assertIsNone(user["avatar_url"])
        self.assertIs(user["active"], True)
        self.assertIs(user["email_verified"], False)
        self.assertRegex(user["created_at"], RFC3339_UTC)
        self.assertRegex(user["updated_at"], RFC3339_UTC)
        self.assertNotIn("argon2", r.body.decode())
        self.assertNotIn("correct horse battery", r.body.decode())

        r = s.request("POST", "/auth/login", json_body={"email": email, "password": "correct horse battery"})
        tokens = self.assert_token_response(r, 200)
        self.assertEqual(tokens["user"]["id"], user["id"])
        self.assertNotEqual(tokens["access_token"], reg["access_token"])
        self.assertNotEqual(tokens["refresh_token"], reg["refresh_token"])

        me = s.me(tokens["access_token"])
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.header("Cache-Control"), "no-store")
        self.assertEqual(set(me.json()), USER_FIELDS)
        self.assertEqual(me.json()["id"], user["id"])
        self.assertEqual(me.json()["email"], email)

        r = s.refresh(tokens["refresh_token"])
        rotated = self.assert_token_response(r, 200, with_user=False)
        self.assertNotEqual(rotated["refresh_token"], tokens["refresh_token"])
        self.assertEqual(s.me(rotated["access_token"]).json()["id"], user["id"])

        r = s.request("POST", "/auth/logout", headers=bearer(rotated["access_token"]))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assert_invalid_token(s.me(rotated["access_token"]))
        self.assert_invalid_token(s.me(tokens["access_token"]))  # same session, older access token
        self.assert_error(s.refresh(rotated["refresh_token"]), 400, "invalid_grant")
        # A second logout with the dead token is refused too.
        self.assert_invalid_token(s.request("POST", "/auth/logout", headers=bearer(rotated["access_token"])))
        # The other session (from registration) is still alive.
        self.assertEqual(s.me(reg["access_token"]).status, 200)
        self.assertEqual(s.refresh(reg["refresh_token"]).status, 200)

    def test_a_cached_token_check_never_outlives_a_change(self):
        # Token checks keep the session and user while the store's change
        # stamp holds (http/auth_check.hpp): each change below comes after
        # the same token was checked, and the very next check sees it.
        s = self.s
        email = unique_email()
        first = s.register(email, "correct horse battery")
        other = s.login(email, "correct horse battery")
        for _ in range(3):
            self.assertIsNone(s.me(first["access_token"]).json()["full_name"])
            self.assertEqual(s.me(other["access_token"]).status, 200)
        r = s.request("PATCH", "/auth/me", headers=bearer(first["access_token"]), json_body={"full_name": "Bea"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(s.me(first["access_token"]).json()["full_name"], "Bea")
        self.assertEqual(s.me(other["access_token"]).json()["full_name"], "Bea")
        # A password change ends every other session of the account.
        r = s.request("POST", "/auth/password/change", headers=bearer(first["access_token"]),
                      json_body={"current_password": "correct horse battery", "new_password": "a brand new secret",
                                 "revoke_other_sessions": True})
        self.assertEqual(r.status, 200, r)
        self.assert_invalid_token(s.me(other["access_token"]))
        self.assertEqual(s.me(first["access_token"]).status, 200)

    def test_logout_all_revokes_every_session(self):
        s = self.s
        email = unique_email()
        a = s.register(email)
        b = s.login(email)
        c = s.login(email)
        bystander = s.register()
        r = s.request("POST", "/auth/logout", headers=bearer(b["access_token"]), json_body={"all": True})
        self.assertEqual(r.status, 204, r)
        for t in (a, b, c):
            self.assert_invalid_token(s.me(t["access_token"]))
            self.assert_error(s.refresh(t["refresh_token"]), 400, "invalid_grant")
        s.login(email)  # the account itself is fine
        self.assertEqual(s.me(bystander["access_token"]).status, 200)

    def test_sessions_are_listed_with_the_current_flag(self):
        s = self.s
        email = unique_email()
        first = s.register(email)
        second = s.login(email)

        def listing(t):
            r = s.request("GET", "/auth/sessions", headers=bearer(t["access_token"]))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Cache-Control"), "no-store")
            return r.json()["sessions"]

        by_second, by_first = listing(second), listing(first)
        self.assertEqual(len(by_second), 2)
        for x in by_second:
            self.assertTrue({"id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "current"} <= set(x), x)
            self.assertRegex(x["created_at"], RFC3339_UTC)
            self.assertRegex(x["expires_at"], RFC3339_UTC)
            self.assertEqual(x["ip"], "127.0.0.1")
        self.assertEqual({x["id"] for x in by_second}, {x["id"] for x in by_first})
        cur_second = [x["id"] for x in by_second if x["current"] is True]
        cur_first = [x["id"] for x in by_first if x["current"] is True]
        self.assertEqual(len(cur_second), 1, by_second)
        self.assertEqual(len(cur_first), 1, by_first)
        self.assertNotEqual(cur_second, cur_first)
        # Another user's listing does not show them.
        self.assertEqual(len(listing(s.register())), 1)

    def test_a_session_can_be_revoked_by_its_owner_only(self):
        s = self.s
        email = unique_email()
        first = s.register(email)
        second = s.login(email)
        sessions = s.request("GET", "/auth/sessions", headers=bearer(second["access_token"])).json()["sessions"]
        other = [x for x in sessions if not x["current"]][0]

        mallory = s.register()
        r = s.request("DELETE", "/auth/sessions/" + other["id"], headers=bearer(mallory["access_token"]))
        self.assert_error(r, 404, "not_found")
        self.assertEqual(s.me(first["access_token"]).status, 200)  # untouched
        r = s.request("DELETE", "/auth/sessions/" + uuid.uuid4().hex, headers=bearer(second["access_token"]))
        self.assert_error(r, 404, "not_found")
        self.assert_invalid_token(s.request("DELETE", "/auth/sessions/" + other["id"]))

        r = s.request("DELETE", "/auth/sessions/" + other["id"], headers=bearer(second["access_token"]))
        self.assertEqual(r.status, 204, r)
        self.assert_invalid_token(s.me(first["access_token"]))
        self.assert_error(s.refresh(first["refresh_token"]), 400, "invalid_grant")
        self.assertEqual(s.me(second["access_token"]).status, 200)
        left = s.request("GET", "/auth/sessions", headers=bearer(second["access_token"])).json()["sessions"]
        self.assertEqual([x["id"] for x in left], [x["id"] for x in sessions if x["current"]])

    def test_wrong_password_and_unknown_email_get_the_same_answer(self):
        s = self.s
        email = unique_email()
        s.register(email)
        a = s.request("POST", "/auth/login", json_body={"email": email, "password": "wrong password here"})
        b = s.request("POST", "/auth/login", json_body={"email": unique_email(), "password": "wrong password here"})
        ea = self.assert_error(a, 401, "invalid_credentials")
        eb = self.assert_error(b, 401, "invalid_credentials")
        self.assertEqual(ea["error_description"], eb["error_description"])

    def test_duplicate_registration_conflicts(self):
        email = unique_email()
        self.s.register(email)
        r = self.s.request("POST", "/auth/register", json_body={"email": email, "password": "another password"})
        self.assert_error(r, 409, "conflict")
        self.s.login(email)  # the first password still holds
        self.s.login(email, "another password", expect=401)

    # -- conventions ---------------------------------------------------------
    def test_health_and_ready(self):
        r = self.s.request("GET", "/health")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertEqual(r.header("Cache-Control"), "no-store")
        r = self.s.request("GET", "/ready")
        self.assertEqual((r.status, r.json()), (200, {"status": "ready"}))

    def test_request_id_is_echoed_when_sane_and_replaced_otherwise(self):
        s = self.s
        for sane in ("client-id_1.2", "A" * 64, "x"):
            r = s.request("GET", "/health", headers={"X-Request-Id": sane})
            self.assertEqual(r.header("X-Request-Id"), sane)
        r = s.request("GET", "/nope", headers={"X-Request-Id": "trace-me.1"})
        self.assertEqual(r.header("X-Request-Id"), "trace-me.1")
        self.assertEqual(r.json()["request_id"], "trace-me.1")
        seen = set()
        for bad in ("x" * 65, "y" * 100, "has space", "semi;colon", "slash/no", "\u00e9t\u00e9".encode().decode("latin-1")):
            r = s.request("GET", "/health", headers={"X-Request-Id": bad})
            self.assertEqual(r.status, 200)
            self.assertRegex(r.header("X-Request-Id"), r"^[0-9a-f]{32}$", bad)
            seen.add(r.header("X-Request-Id"))
        self.assertEqual(len(seen), 6)  # a new id each time
        r = s.request("GET", "/health")
        self.assertRegex(r.header("X-Request-Id"), r"^[0-9a-f]{32}$")
        r = s.request("GET", "/nope", headers={"X-Request-Id": "bad id"})
        self.assertEqual(r.json()["request_id"], r.header("X-Request-Id"))
        self.assertRegex(r.header("X-Request-Id"), r"^[0-9a-f]{32}$")

    def test_unknown_route_is_404_with_the_error_shape(self):
        for method, path in (("GET", "/nope"), ("POST", "/auth/nope"), ("GET", "/auth/me/extra/x")):
            self.assert_error(self.s.request(method, path), 404, "not_found")

    def test_known_route_other_method_is_405_with_allow(self):
        s = self.s
        for method, path, allowed in (("GET", "/auth/login", {"POST"}), ("GET", "/auth/refresh", {"POST"}),
                                      ("GET", "/auth/register", {"POST"}), ("PUT", "/auth/login", {"POST"}),
                                      ("GET", "/auth/logout", {"POST"}), ("POST", "/health", {"GET"}),
                                      ("DELETE", "/auth/me", {"GET", "PATCH"}),
                                      ("POST", "/auth/sessions", {"GET"})):
            r = s.request(method, path)
            self.assert_error(r, 405, "method_not_allowed")
            got = allow_set(r)
            self.assertTrue(allowed <= got, (method, path, r.header("Allow")))
            self.assertNotIn(method, got, (method, path, r.header("Allow")))

    def test_error_bodies_always_have_the_shape(self):
        s = self.s
        email = unique_email()
        s.register(email)
        cases = [
            (s.request("POST", "/auth/login", body=b"{", headers={"Content-Type": "application/json"}), 400, "invalid_request"),
            (s.request("POST", "/auth/login", body=b"{}", headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type"),
            (s.request("POST", "/auth/login", json_body={"email": email, "password": "nope nope nope"}), 401, "invalid_credentials"),
            (s.request("GET", "/auth/me"), 401, "invalid_token"),
            (s.request("POST", "/auth/register", json_body={"email": email, "password": "whatever pw 1"}), 409, "conflict"),
            (s.request("POST", "/auth/register", json_body={"email": unique_email(), "password": "short"}), 422, "invalid_password"),
            (s.refresh("not-a-token"), 400, "invalid_grant"),
            (s.request("GET", "/nowhere"), 404, "not_found"),
            (s.request("GET", "/auth/login"), 405, "method_not_allowed"),
        ]
        for r, status, code in cases:
            body = self.assert_error(r, status, code)
            self.assertEqual(set(body), {"error", "error_description", "request_id"}, body)
            self.assertRegex(body["request_id"], r"^[0-9a-f]{32}$")
            self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")

    def test_keep_alive_connection_serves_several_requests(self):
        conn = self.s.connect()
        try:
            t = self.s.register()
            for _ in range(3):
                self.assertEqual(self.s.request("GET", "/health", conn=conn).status, 200)
                self.assertEqual(self.s.request("GET", "/auth/me", headers=bearer(t["access_token"]), conn=conn).status, 200)
                self.assertEqual(self.s.request("GET", "/nope", conn=conn).status, 404)
        finally:
            conn.close()


class Overload(ApiAssertions, unittest.TestCase):
    def test_a_full_hashing_queue_answers_503_with_retry_after(self):
        env = {"GATEHOUSE_HASHING_WORKERS": "1", "GATEHOUSE_HASHING_QUEUE_PER_WORKER": "1",
               "GATEHOUSE_HASHING_OPS_LIMIT": "3", "GATEHOUSE_HASHING_MEM_LIMIT_KIB": "65536"}
        with Server(env) as s:
            email = unique_email()
            s.register(email)
            with concurrent.futures.ThreadPoolExecutor(12) as pool:
                results = list(pool.map(lambda _: s.request("POST", "/auth/login", json_body={
                    "email": email, "password": "correct horse battery"}), range(12)))
            statuses = sorted(r.status for r in results)
            self.assertIn(200, statuses)
            busy = [r for r in results if r.status == 503]
            self.assertTrue(busy, statuses)
            self.assertTrue(set(statuses) <= {200, 503}, statuses)
            for r in busy:
                self.assert_error(r, 503, "overloaded")
                self.assertEqual(r.header("Retry-After"), "1")
            self.assertEqual(s.request("GET", "/health").status, 200)
            s.login(email)

    def test_logins_that_waited_too_long_are_shed_with_503(self):
        # One slow worker, a long queue, and a short max wait: the jobs behind
        # the first are answered 503 + Retry-After once they have waited
        # 300 ms, not hashed seconds later.
        env = {"GATEHOUSE_HASHING_WORKERS": "1", "GATEHOUSE_HASHING_QUEUE_PER_WORKER": "100",
               "GATEHOUSE_HASHING_MAX_WAIT_MS": "300",
               "GATEHOUSE_HASHING_OPS_LIMIT": "4", "GATEHOUSE_HASHING_MEM_LIMIT_KIB": "65536"}
        with Server(env) as s:
            email = unique_email()
            s.register(email)
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                results = list(pool.map(lambda _: s.request("POST", "/auth/login", json_body={
                    "email": email, "password": "correct horse battery"}), range(8)))
            statuses = sorted(r.status for r in results)
            self.assertTrue(set(statuses) <= {200, 503}, statuses)
            self.assertIn(200, statuses)
            shed = [r for r in results if r.status == 503]
            self.assertTrue(shed, statuses)
            for r in shed:
                self.assert_error(r, 503, "overloaded")
                self.assertEqual(r.header("Retry-After"), "1")
            s.login(email)

    def test_hashing_threads_run_at_the_configured_niceness(self):
        # The threads that hashed (they used CPU) are the hashing workers; at
        # niceness 7 they yield the CPU to the HTTP threads during a storm.
        with Server({"GATEHOUSE_HASHING_WORKERS": "2", "GATEHOUSE_HASHING_NICE": "7"}) as s:
            email = unique_email()
            s.register(email)
            for _ in range(4):
                s.login(email)

            def threads():
                out = []
                for tid in os.listdir(f"/proc/{s.proc.pid}/task"):
                    with open(f"/proc/{s.proc.pid}/task/{tid}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    out.append((int(fields[16]), int(fields[11]) + int(fields[12])))  # nice, utime + stime
                return out

            niced = [t for t in threads() if t[0] == 7]
            self.assertEqual(len(niced), 2, threads())
            self.assertTrue(all(n == 0 for n, _ in threads() if n != 7))


class Secrets(unittest.TestCase):
    def test_logs_carry_request_ids_but_no_password_or_token(self):
        with Server() as s:
            email = unique_email()
            t = s.register(email, password="a very secret pass")
            s.login(email, "a very secret pass")
            r = s.refresh(t["refresh_token"]).json()
            s.me(r["access_token"])
            s.request("POST", "/auth/token", form={"grant_type": "password", "username": email,
                                                     "password": "another secret pw"})
            s.request("GET", "/auth/me?access_token=" + r["access_token"])
            s.stop()
            log = s.log()
            for secret in ("a very secret pass", "another secret pw", t["access_token"], t["refresh_token"],
                           r["access_token"], r["refresh_token"], "$argon2id$"):
                self.assertNotIn(secret, log)
            # Not even the signature part of a token.
            self.assertNotIn(r["access_token"].rsplit(".", 1)[1], log)
            lines = [json.loads(l) for l in log.splitlines()]
            requests = [l for l in lines if l["msg"] == "request"]
            self.assertTrue(requests)
            for l in requests:
                self.assertTrue({"ts", "level", "request_id", "route", "status", "duration_ms", "ip"} <= set(l), l)
            self.assertTrue(any(l.get("user_id") == t["user"]["id"] for l in requests))


class Restart(unittest.TestCase):
    def test_restart_keeps_users_sessions_and_keys(self):
        with Server() as s:
            email = unique_email()
            t = s.register(email)
            other = s.login(email)
            kids = [k["kid"] for k in s.request("GET", "/.well-known/jwks.json").json()["keys"]]
            s.restart()
            self.assertTrue(s.alive())
            self.assertEqual(s.request("GET", "/health").status, 200)
            self.assertEqual([k["kid"] for k in s.request("GET", "/.well-known/jwks.json").json()["keys"]], kids)
            # An access token issued before the restart still works.
            me = s.me(t["access_token"])
            self.assertEqual(me.status, 200, me)
            self.assertEqual(me.json()["email"], email)
            sessions = s.request("GET", "/auth/sessions", headers=bearer(t["access_token"])).json()["sessions"]
            self.assertEqual(len(sessions), 2)
            # The refresh token too, and the password.
            r = s.refresh(other["refresh_token"])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(s.me(r.json()["access_token"]).status, 200)
            s.login(email)
            s.login(email, "wrong password 1", expect=401)
            # A second restart after more writes.
            u2 = unique_email()
            s.register(u2)
            s.restart()
            s.login(u2)
            s.login(email)


if __name__ == "__main__":
    unittest.main()
