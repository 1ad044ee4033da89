"""Access tokens verified by an independent library (PyJWT + cryptography)
against the JWKS, and forged tokens refused by the server."""
import base64
import json
import time
import unittest

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness import Server, ServerTest, bearer


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token):
    h, p, s = token.split(".")
    pad = lambda x: x + "=" * (-len(x) % 4)
    return json.loads(base64.urlsafe_b64decode(pad(h))), json.loads(base64.urlsafe_b64decode(pad(p))), s


class IndependentVerification(ServerTest, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tokens = cls.s.register()
        cls.jwks = cls.s.request("GET", "/.well-known/jwks.json").json()
        cls.disco = cls.s.request("GET", "/.well-known/openid-configuration").json()

    def test_pyjwt_verifies_the_access_token_against_the_jwks(self):
        token = self.tokens["access_token"]
        header = jwt.get_unverified_header(token)
        self.assertEqual(header["alg"], "EdDSA")
        self.assertEqual(header["typ"], "at+jwt")
        jwk = [k for k in self.jwks["keys"] if k["kid"] == header["kid"]][0]
        self.assertEqual((jwk["kty"], jwk["crv"]), ("OKP", "Ed25519"))
        self.assertNotIn("d", jwk)
        key = jwt.PyJWK(jwk).key
        claims = jwt.decode(token, key, algorithms=["EdDSA"], audience="gatehouse",
                            issuer=self.disco["issuer"])
        for c in ("iss", "sub", "aud", "exp", "iat", "jti", "sid", "role", "client_id"):
            self.assertIn(c, claims)
        self.assertEqual(claims["exp"] - claims["iat"], 900)
        self.assertEqual(claims["sub"], self.tokens["user"]["id"])
        self.assertEqual(claims["role"], "user")

    def forge(self, header, payload, key=None, signature=None):
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
        if signature is None:
            signature = b64((key or Ed25519PrivateKey.generate()).sign(signing_input.encode()))
        return signing_input + "." + signature

    def assert_refused(self, token):
        r = self.s.me(token)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"], "invalid_token")
        self.assertIn('error="invalid_token"', r.header("WWW-Authenticate"))

    def test_forged_and_altered_tokens_are_refused(self):
        good = self.tokens["access_token"]
        h, p, sig = parts(good)
        pub = base64.urlsafe_b64decode(self.jwks["keys"][0]["x"] + "==")
        now = int(time.time())
        # alg none, HS256 signed with the public key, mismatched alg
        self.assert_refused(self.forge(dict(h, alg="none"), p, signature=""))
        self.assert_refused(jwt.encode(p, pub, algorithm="HS256", headers={"kid": h["kid"], "typ": "at+jwt"}))
        self.assert_refused(self.forge(dict(h, alg="ES256"), p))
        # tampered payload with the original signature; garbage and stripped signatures
        self.assert_refused(self.forge(h, dict(p, role="admin"), signature=sig))
        self.assert_refused(good.rsplit(".", 1)[0] + ".")
        self.assert_refused(good.rsplit(".", 1)[0] + "." + b64(b"x" * 64))
        self.assert_refused("not.a.jwt!!")
        self.assert_refused(good[:-10])
        # hostile kid, key-fetching headers, a foreign key with our kid
        self.assert_refused(self.forge(dict(h, kid="../../etc/passwd"), p))
        self.assert_refused(self.forge(dict(h, jku="http://127.0.0.1:1/jwks"), p))
        self.assert_refused(self.forge(dict(h, jwk=self.jwks["keys"][0]), p))
        self.assert_refused(self.forge(h, p))
        # claims: expired, wrong aud, wrong iss, wrong typ, missing exp (all with a foreign key,
        # which fails first anyway; the unit tests check each claim with the real key)
        self.assert_refused(self.forge(h, dict(p, exp=now - 3600)))
        self.assert_refused(self.forge(h, dict(p, aud="other")))
        self.assert_refused(self.forge(dict(h, typ="JWT"), p, signature=sig))

    def test_a_refresh_token_is_not_an_access_token(self):
        self.assert_refused(self.tokens["refresh_token"])
        r = self.s.request("GET", "/auth/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        self.assertEqual(r.status, 401)
        r = self.s.request("GET", "/auth/me")
        self.assertEqual(r.status, 401)


class KeyRotation(unittest.TestCase):
    def test_keys_rotate_keeps_the_previous_key_in_the_jwks(self):
        import os
        import subprocess
        from harness import BIN, CONFIG
        with Server() as s:
            t = s.register()
            old_kid = jwt.get_unverified_header(t["access_token"])["kid"]
            s.stop()
            out = subprocess.run([BIN, "keys", "rotate", "--config", CONFIG, "--data",
                                  os.path.join(s.data, "store")], capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            s.start()
            kids = [k["kid"] for k in s.request("GET", "/.well-known/jwks.json").json()["keys"]]
            self.assertEqual(len(kids), 2)
            self.assertEqual(kids[1], old_kid)
            self.assertEqual(s.me(t["access_token"]).status, 200)  # old key still verifies
            new = s.refresh(t["refresh_token"]).json()["access_token"]
            self.assertEqual(jwt.get_unverified_header(new)["kid"], kids[0])


if __name__ == "__main__":
    unittest.main()
