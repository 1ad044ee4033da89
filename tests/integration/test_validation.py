"""Bad input (SECURITY.md cases 1-14, 16): each gets a clear error, nothing is
stored, and the server still serves the next request."""
import http.client
import socket
import unittest

from harness import Server, ServerTest, unique_email


class BadInput(ServerTest, unittest.TestCase):

    def tearDown(self):
        self.assertEqual(self.s.request("GET", "/health").status, 200)

    def raw_register(self, body, content_type="application/json"):
        return self.s.request("POST", "/auth/register", body=body, headers={"Content-Type": content_type})

    def assert_error(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json()["error"], code, r)

    def test_malformed_json_wrong_type_and_limits(self):
        self.assert_error(self.raw_register(b'{"email": "a@b.c", "password": '), 400, "invalid_request")
        self.assert_error(self.raw_register(b'{"email": "a@b.c"}', "text/plain"), 415, "unsupported_media_type")
        self.assert_error(self.raw_register(b'{"email":' + b"[" * 60000), 400, "invalid_request")
        big = b'{"email":"a@b.c","password":"' + b"x" * 100000 + b'"}'
        self.assertEqual(self.raw_register(big).status, 413)

    def test_duplicate_keys_bad_utf8_and_wrong_types(self):
        e = unique_email()
        for body in (b'{"email":"%s","email":"x@y.z","password":"long enough pw"}' % e.encode(),
                     b'{"email":"\xff@b.c","password":"long enough pw"}',
                     b'{"email":"\xc0\xaf@b.c","password":"long enough pw"}',
                     b'{"email":"\\ud800@b.c","password":"long enough pw"}',
                     b'{"email":["a@b.c"],"password":"long enough pw"}',
                     b'{"email":"a@b.c","password":null}',
                     b'{"email":"a@b.c","password":"long enough pw","data":1e999}'):
            self.assert_error(self.raw_register(body), 400, "invalid_request")
        self.assertEqual(self.s.login(e, "long enough pw", expect=401)["error"], "invalid_credentials")

    def test_control_characters_and_lengths_in_email(self):
        for email in ("a\u0000b@example.com", "a\r\nb@example.com", "x" * 65 + "@example.com",
                      "a@" + "b" * 250 + ".com", "not-an-email"):
            r = self.s.request("POST", "/auth/register", json_body={"email": email, "password": "long enough pw"})
            self.assert_error(r, 400, "invalid_request")

    def test_email_case_is_one_account(self):
        local = unique_email().split("@")[0]
        self.s.register("%s@Example.COM" % local.capitalize())
        r = self.s.request("POST", "/auth/register",
                           json_body={"email": "%s@example.com" % local, "password": "correct horse battery"})
        self.assert_error(r, 409, "conflict")
        self.s.login("%s@EXAMPLE.com" % local.upper())

    def test_embedded_nul_is_part_of_the_password(self):
        e = unique_email()
        self.s.register(e, password="pw\u0000xxxxxxxx")
        self.s.login(e, "pw", expect=401)
        self.s.login(e, "pw\u0000xxxxxxxy", expect=401)
        self.s.login(e, "pw\u0000xxxxxxxx")

    def test_password_policy(self):
        for pw, fragment in (("short", "at least"), ("password123", "common"), ("x" * 1025, "1024")):
            r = self.s.request("POST", "/auth/register", json_body={"email": unique_email(), "password": pw})
            self.assert_error(r, 422, "invalid_password")
            self.assertIn(fragment, r.json()["error_description"])
        emoji = ("\U0001F600 " * 32)[:64]
        e = unique_email()
        self.s.register(e, password=emoji)
        self.s.login(e, emoji)
        # Over the cap at login: refused like a wrong password, before any hashing.
        self.assertEqual(self.s.login(e, "y" * 5000, expect=401)["error"], "invalid_credentials")

    def test_privileged_fields_at_registration_are_refused_and_not_stored(self):
        for field, value in (("role", "admin"), ("id", "x"), ("email_verified", True)):
            e = unique_email()
            r = self.s.request("POST", "/auth/register",
                               json_body={"email": e, "password": "correct horse battery", field: value})
            self.assert_error(r, 400, "invalid_request")
            self.assertIn(field, r.json()["error_description"])
            self.s.login(e, expect=401)

    def test_oversized_headers_and_uri(self):
        r = self.s.request("GET", "/health", headers={"X-Big": "a" * 9000})
        self.assertIn(r.status, (400, 431))
        r = self.s.request("GET", "/health?" + "a" * 9000)
        self.assertIn(r.status, (400, 414))

    def test_a_client_that_disconnects_early_does_not_hurt(self):
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", self.s.port))
            sock.sendall(b'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                         b'Content-Length: 60\r\n\r\n{"email":"a@b.c","password":"correct horse battery"}')
            sock.close()

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=10)
        for _ in range(5):
            conn.request("GET", "/health")
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Connection").lower(), "keep-alive")
        conn.close()


if __name__ == "__main__":
    unittest.main()
