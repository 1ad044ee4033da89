"""The OAuth2 token endpoint (RFC 6749), POST /auth/token, form-encoded:
the password and refresh_token grants and the OAuth2 error codes."""
import unittest

from harness import DEFAULT_PASSWORD, ApiAssertions, ServerTest, bearer, unique_email

FORM = "application/x-www-form-urlencoded"
TOKEN_FIELDS = {"access_token", "token_type", "expires_in", "refresh_token"}


class TokenEndpoint(ApiAssertions, ServerTest, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.email = unique_email("oauth")
        cls.user = cls.s.register(cls.email)["user"]

    def token(self, form, **kw):
        return self.s.request("POST", "/auth/token", form=form, **kw)

    def raw(self, body, content_type=FORM):
        headers = {"Content-Type": content_type} if content_type else {}
        return self.s.request("POST", "/auth/token", body=body, headers=headers)

    def assert_tokens(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r.headers)
        body = r.json()
        # The password grant is a sign-in: it also returns a device token.
        self.assertEqual(set(body) - {"device_token"}, TOKEN_FIELDS, body)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 900)
        me = self.s.me(body["access_token"])
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.json()["id"], self.user["id"])
        return body

    def test_password_grant(self):
        body = self.assert_tokens(self.token({"grant_type": "password", "username": self.email,
                                              "password": DEFAULT_PASSWORD}))
        # It is a real session: listed, and its refresh token works on /auth/refresh too.
        sessions = self.s.request("GET", "/auth/sessions", headers=bearer(body["access_token"])).json()["sessions"]
        self.assertEqual(len([x for x in sessions if x["current"]]), 1)
        r = self.s.refresh(body["refresh_token"])
        self.assertEqual(r.status, 200, r)

    def test_password_grant_normalises_the_username_like_login(self):
        self.assert_tokens(self.token({"grant_type": "password", "username": "  " + self.email.upper() + " ",
                                       "password": DEFAULT_PASSWORD}))

    def test_form_decoding_of_reserved_characters(self):
        email = unique_email("form")
        password = "p+a ss&w=rd%20;?#/\u00e9"
        self.s.register(email, password)
        r = self.token({"grant_type": "password", "username": email, "password": password})
        self.assertEqual(r.status, 200, r)
        # '+' in a form is a space: a literal plus that was not percent-encoded does not match.
        email2 = unique_email("plus")
        self.s.register(email2, "pass+word 123")
        user = email2.replace("@", "%40")
        self.assert_error(self.raw(("grant_type=password&username=%s&password=pass+word+123" % user).encode()),
                          400, "invalid_grant")
        self.assertEqual(self.raw(("grant_type=password&username=%s&password=pass%%2Bword+123" % user).encode()).status,
                         200)

    def test_media_type_parameters_are_allowed(self):
        r = self.token({"grant_type": "password", "username": self.email, "password": DEFAULT_PASSWORD},
                       headers={"Content-Type": FORM + "; charset=UTF-8"})
        self.assert_tokens(r)

    def test_refresh_token_grant_rotates(self):
        first = self.assert_tokens(self.token({"grant_type": "password", "username": self.email,
                                               "password": DEFAULT_PASSWORD}))
        second = self.assert_tokens(self.token({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}))
        self.assertNotEqual(second["refresh_token"], first["refresh_token"])
        self.assertNotEqual(second["access_token"], first["access_token"])
        third = self.assert_tokens(self.token({"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}))
        # Two generations back is reuse: invalid_grant and the whole family is revoked.
        self.assert_error(self.token({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}),
                          400, "invalid_grant")
        self.assert_error(self.token({"grant_type": "refresh_token", "refresh_token": third["refresh_token"]}),
                          400, "invalid_grant")
        self.assert_invalid_token(self.s.me(third["access_token"]))

    def test_refresh_token_from_login_works_on_the_token_endpoint(self):
        t = self.s.login(self.email)
        self.assert_tokens(self.token({"grant_type": "refresh_token", "refresh_token": t["refresh_token"]}))

    def test_wrong_password_and_unknown_user_are_invalid_grant_alike(self):
        a = self.assert_error(self.token({"grant_type": "password", "username": self.email,
                                          "password": "wrong password!"}), 400, "invalid_grant")
        b = self.assert_error(self.token({"grant_type": "password", "username": unique_email(),
                                          "password": "wrong password!"}), 400, "invalid_grant")
        self.assertEqual(a["error_description"], b["error_description"])

    def test_bad_refresh_tokens_are_invalid_grant(self):
        for token in ("nope", "a" * 43, "../../etc/passwd"):
            self.assert_error(self.token({"grant_type": "refresh_token", "refresh_token": token}), 400, "invalid_grant")
        # An access token is not a refresh token.
        t = self.s.login(self.email)
        self.assert_error(self.token({"grant_type": "refresh_token", "refresh_token": t["access_token"]}),
                          400, "invalid_grant")

    def test_unsupported_grant_types(self):
        for grant in ("client_credentials", "authorization_code", "implicit", "PASSWORD",
                      "urn:ietf:params:oauth:grant-type:jwt-bearer"):
            self.assert_error(self.token({"grant_type": grant, "username": self.email,
                                          "password": DEFAULT_PASSWORD}), 400, "unsupported_grant_type")

    def test_missing_parameters_are_invalid_request(self):
        for form in ({"username": self.email, "password": DEFAULT_PASSWORD},
                     {},
                     {"grant_type": "password", "username": self.email},
                     {"grant_type": "password", "password": DEFAULT_PASSWORD},
                     {"grant_type": "refresh_token"},
                     # RFC 6749 3.1: a parameter without a value counts as omitted.
                     {"grant_type": "password", "username": self.email, "password": ""},
                     {"grant_type": "refresh_token", "refresh_token": ""},
                     {"grant_type": "", "username": self.email, "password": DEFAULT_PASSWORD}):
            self.assert_error(self.token(form), 400, "invalid_request")
        self.assert_error(self.raw(b""), 400, "invalid_request")

    def test_duplicate_parameters_are_invalid_request(self):
        pw = DEFAULT_PASSWORD.replace(" ", "+")
        user = self.email.replace("@", "%40")
        for body in ("grant_type=password&grant_type=refresh_token&username=%s&password=%s" % (user, pw),
                     "grant_type=password&grant_type=password&username=%s&password=%s" % (user, pw),
                     "grant_type=password&username=%s&password=%s&password=%s" % (user, pw, pw),
                     "grant_type=password&username=%s&username=%s&password=%s" % (user, user, pw)):
            self.assert_error(self.raw(body.encode()), 400, "invalid_request")

    def test_malformed_form_is_invalid_request(self):
        for body in (b"grant_type=password&username=%zz&password=x", b"grant_type=password&username=%",
                     b"grant_type=password&username=a%00b&password=correct+horse+battery",
                     b"grant_type=password&username=\xff\xfe&password=correct+horse+battery"):
            r = self.raw(body)
            self.assertEqual(r.status, 400, (body, r))
            self.assertIn(r.json()["error"], ("invalid_request", "invalid_grant"), (body, r))
        self.assert_error(self.raw(b"grant_type=password&username=%zz&password=x"), 400, "invalid_request")

    def test_a_json_body_is_415(self):
        r = self.s.request("POST", "/auth/token", json_body={"grant_type": "password", "username": self.email,
                                                              "password": DEFAULT_PASSWORD})
        self.assert_error(r, 415, "unsupported_media_type")
        body = ("grant_type=password&username=%s&password=x" % self.email).encode()
        for ctype in ("text/plain", "multipart/form-data; boundary=x", None):
            self.assert_error(self.raw(body, ctype), 415, "unsupported_media_type")

    def test_get_is_405(self):
        r = self.s.request("GET", "/auth/token?grant_type=password&username=%s&password=x" % self.email)
        self.assert_error(r, 405, "method_not_allowed")
        self.assertIn("POST", r.header("Allow"))

    def test_oversized_form_is_413(self):
        r = self.raw(b"grant_type=password&username=a&password=" + b"x" * (100 * 1024))
        self.assert_error(r, 413, "payload_too_large")
        self.assertEqual(self.s.request("GET", "/health").status, 200)


if __name__ == "__main__":
    unittest.main()
