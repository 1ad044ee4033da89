"""The core flow over HTTP: register, login, me, refresh, logout, sessions,
the OAuth2 token endpoint, response conventions and restarts."""
import json
import unittest

from harness import Server, ServerTest, bearer, unique_email


class CoreFlow(ServerTest, unittest.TestCase):

    def assert_error(self, r, status, code):
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertEqual(body["error"], code, body)
        self.assertTrue(body["error_description"])
        self.assertEqual(body["request_id"], r.header("X-Request-Id"))

    def test_register_login_me_refresh_logout(self):
        s = self.s
        email = unique_email()
        reg = s.register(email, full_name="Alice")
        self.assertEqual(reg["token_type"], "Bearer")
        self.assertEqual(reg["expires_in"], 900)
        self.assertEqual(reg["user"]["email"], email)
        self.assertEqual(reg["user"]["role"], "user")
        self.assertNotIn("password_hash", json.dumps(reg))

        tokens = s.login(email)
        me = s.me(tokens["access_token"])
        self.assertEqual(me.status, 200)
        self.assertEqual(me.json()["id"], reg["user"]["id"])
        self.assertEqual(me.json()["full_name"], "Alice")

        r = s.refresh(tokens["refresh_token"])
        self.assertEqual(r.status, 200, r)
        rotated = r.json()
        self.assertNotEqual(rotated["refresh_token"], tokens["refresh_token"])
        self.assertEqual(s.me(rotated["access_token"]).status, 200)

        r = s.request("POST", "/auth/logout", headers=bearer(rotated["access_token"]))
        self.assertEqual(r.status, 204)
        r = s.me(rotated["access_token"])
        self.assert_error(r, 401, "invalid_token")
        self.assertIn('error="invalid_token"', r.header("WWW-Authenticate"))
        self.assert_error(s.refresh(rotated["refresh_token"]), 400, "invalid_grant")
        # The other session (from registration) is still alive.
        self.assertEqual(s.me(reg["access_token"]).status, 200)

    def test_logout_all_revokes_every_session(self):
        s = self.s
        email = unique_email()
        a = s.register(email)
        b = s.login(email)
        r = s.request("POST", "/auth/logout", headers=bearer(b["access_token"]), json_body={"all": True})
        self.assertEqual(r.status, 204)
        for t in (a, b):
            self.assertEqual(s.me(t["access_token"]).status, 401)
            self.assertEqual(s.refresh(t["refresh_token"]).status, 400)

    def test_sessions_are_listed_and_revocable_but_only_ones_own(self):
        s = self.s
        email = unique_email()
        first = s.register(email)
        second = s.login(email)
        r = s.request("GET", "/auth/sessions", headers=bearer(second["access_token"]))
        self.assertEqual(r.status, 200)
        sessions = r.json()["sessions"]
        self.assertEqual(len(sessions), 2)
        current = [x for x in sessions if x["current"]]
        self.assertEqual(len(current), 1)
        other = [x for x in sessions if not x["current"]][0]
        self.assertTrue({"id", "created_at", "last_used_at", "ip", "user_agent"} <= set(other))

        mallory = s.register()
        r = s.request("DELETE", "/auth/sessions/" + other["id"], headers=bearer(mallory["access_token"]))
        self.assert_error(r, 404, "not_found")
        self.assertEqual(s.me(first["access_token"]).status, 200)

        r = s.request("DELETE", "/auth/sessions/" + other["id"], headers=bearer(second["access_token"]))
        self.assertEqual(r.status, 204)
        self.assertEqual(s.me(first["access_token"]).status, 401)
        self.assertEqual(s.refresh(first["refresh_token"]).status, 400)
        self.assertEqual(s.me(second["access_token"]).status, 200)

    def test_wrong_password_and_unknown_email_get_the_same_answer(self):
        s = self.s
        email = unique_email()
        s.register(email)
        a = s.login(email, "wrong password here", expect=401)
        b = s.login(unique_email(), "wrong password here", expect=401)
        self.assertEqual(a["error"], "invalid_credentials")
        self.assertEqual(a["error_description"], b["error_description"])

    def test_duplicate_registration_conflicts(self):
        email = unique_email()
        self.s.register(email)
        r = self.s.request("POST", "/auth/register", json_body={"email": email.upper(), "password": "another password"})
        self.assert_error(r, 409, "conflict")

    def test_token_endpoint_password_and_refresh_grants(self):
        s = self.s
        email = unique_email()
        s.register(email)
        r = s.request("POST", "/auth/token", form={"grant_type": "password", "username": email,
                                                    "password": "correct horse battery"})
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(set(body), {"access_token", "token_type", "expires_in", "refresh_token"})
        self.assertEqual(r.header("Cache-Control"), "no-store")
        r = s.request("POST", "/auth/token", form={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(s.me(r.json()["access_token"]).status, 200)

    def test_token_endpoint_speaks_oauth2_errors(self):
        s = self.s
        email = unique_email()
        s.register(email)
        cases = [
            ({"grant_type": "password", "username": email, "password": "wrong one!"}, 400, "invalid_grant"),
            ({"grant_type": "password", "username": unique_email(), "password": "wrong one!"}, 400, "invalid_grant"),
            ({"grant_type": "refresh_token", "refresh_token": "nope"}, 400, "invalid_grant"),
            ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
            ({"username": email}, 400, "invalid_request"),
            ({"grant_type": "password", "username": email}, 400, "invalid_request"),
        ]
        for form, status, code in cases:
            self.assert_error(s.request("POST", "/auth/token", form=form), status, code)
        r = s.request("POST", "/auth/token", body=b"grant_type=password&grant_type=refresh_token",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assert_error(r, 400, "invalid_request")
        r = s.request("POST", "/auth/token", json_body={"grant_type": "password"})
        self.assert_error(r, 415, "unsupported_media_type")

    def test_response_conventions(self):
        s = self.s
        r = s.request("GET", "/health")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        self.assertEqual(s.request("GET", "/ready").json(), {"status": "ready"})
        r = s.request("GET", "/health", headers={"X-Request-Id": "client-id_1.2"})
        self.assertEqual(r.header("X-Request-Id"), "client-id_1.2")
        for bad in ("x" * 65, "has space", "semi;colon"):
            r = s.request("GET", "/health", headers={"X-Request-Id": bad})
            self.assertNotEqual(r.header("X-Request-Id"), bad)
            self.assertRegex(r.header("X-Request-Id"), r"^[0-9a-f]{32}$")
        self.assert_error(s.request("GET", "/nope"), 404, "not_found")
        for path in ("/auth/login", "/auth/refresh", "/auth/register"):
            r = s.request("GET", path)
            self.assert_error(r, 405, "method_not_allowed")
            self.assertEqual(r.header("Allow"), "POST")
        r = s.request("POST", "/auth/login", json_body={"email": unique_email(), "password": "x" * 10})
        self.assertEqual(r.header("Cache-Control"), "no-store")

    def test_tokens_in_the_query_string_are_ignored(self):
        t = self.s.register()
        r = self.s.request("GET", "/auth/me?access_token=" + t["access_token"])
        self.assert_error(r, 401, "invalid_token")

    def test_discovery_document(self):
        d = self.s.request("GET", "/.well-known/openid-configuration").json()
        self.assertEqual(d["jwks_uri"], d["issuer"] + "/.well-known/jwks.json")
        self.assertEqual(d["token_endpoint"], d["issuer"] + "/auth/token")
        self.assertEqual(set(d["grant_types_supported"]), {"password", "refresh_token"})


class Overload(unittest.TestCase):
    def test_a_full_hashing_queue_answers_503_with_retry_after(self):
        import concurrent.futures
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
                self.assertEqual(r.json()["error"], "overloaded")
                self.assertEqual(r.header("Retry-After"), "1")
            self.assertEqual(s.request("GET", "/health").status, 200)
            s.login(email)


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
            s.stop()
            log = s.log()
            for secret in ("a very secret pass", "another secret pw", t["access_token"], t["refresh_token"],
                           r["access_token"], r["refresh_token"], "$argon2id$"):
                self.assertNotIn(secret, log)
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
            kid = s.request("GET", "/.well-known/jwks.json").json()["keys"][0]["kid"]
            s.restart()
            self.assertEqual(s.request("GET", "/.well-known/jwks.json").json()["keys"][0]["kid"], kid)
            self.assertEqual(s.me(t["access_token"]).status, 200)
            self.assertEqual(s.refresh(t["refresh_token"]).status, 200)
            s.login(email)


if __name__ == "__main__":
    unittest.main()
