"""Access tokens verified by an independent library (PyJWT + cryptography)
against the JWKS, and forged tokens refused by the server (the brief's SECURITY.md
18-22). Forgeries come in two kinds: signed with a key of our own (alg
confusion, foreign keys, broken encodings) and signed with the server's real
key, read from the store, so that a claim check (exp, nbf, aud, iss, typ,
kid, key-fetching headers) is the only thing that can refuse them."""
import base64
import hashlib
import hmac
import json
import os
import select
import socket
import subprocess
import time
import unittest
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness import POSTGRES, ApiAssertions, Server, ServerTest, bearer, wait_until

AUDIENCE = "gatehouse"  # tokens.audience in config/gatehouse.toml
CLIENT_ID = "gatehouse"  # tokens.client_id
ACCESS_TTL_S = 900      # tokens.access_ttl_s
LEEWAY_S = 30           # tokens.leeway_s


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def parts(token):
    h, p, s = token.split(".")
    return json.loads(unb64(h)), json.loads(unb64(p)), s


def sign(header, payload, key):
    """A compact JWS with the exact header and payload given, Ed25519-signed."""
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    return signing_input + "." + b64(key.sign(signing_input.encode()))


def flip_last(token):
    """Changes the last base64url character in a bit the decoder cannot ignore."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return token[:-1] + alphabet[(alphabet.index(token[-1]) + 16) % 64]


def unsigned(header, payload, signature=""):
    return b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode()) + "." + signature


def hs256(header, payload, secret):
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def signing_keys_from_store(server):
    """{kid: Ed25519PrivateKey} read from the store: with mdb_dump from the
    LMDB `keys` table, whose record is a version byte and a CBOR map holding
    "seed" as a 32-byte byte string (store/lmdb/records.cpp); or the rows of
    PostgreSQL's signing_keys."""
    if POSTGRES:
        return {kid: Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))
                for kid, seed in server.sql("SELECT kid, encode(seed, 'hex') FROM signing_keys")}
    out = subprocess.run(["mdb_dump", "-s", "keys", server.store], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = out.stdout.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0]
    rows = [bytes.fromhex(l.strip()) for l in data.splitlines() if l.strip()]
    keys = {}
    for k, v in zip(rows[0::2], rows[1::2]):
        marker = v.find(b"\x64seed\x58\x20")
        assert marker >= 0, "signing-key record format changed: %r" % v
        seed = v[marker + 7:marker + 39]
        keys[k.decode()] = Ed25519PrivateKey.from_private_bytes(seed)
    return keys


class NoFetchListener:
    """A local port that records any connection: a key URL pointed here must
    never be fetched."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = "http://127.0.0.1:%d/jwks.json" % self.sock.getsockname()[1]

    def contacted(self, wait=0.3):
        readable, _, _ = select.select([self.sock], [], [], wait)
        return bool(readable)

    def close(self):
        self.sock.close()


class JwtTest(ApiAssertions, ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tokens = cls.s.register()
        cls.jwks_response = cls.s.request("GET", "/.well-known/jwks.json")
        cls.jwks = cls.jwks_response.json()
        cls.disco_response = cls.s.request("GET", "/.well-known/openid-configuration")
        cls.disco = cls.disco_response.json()

    def assert_refused(self, token, why=""):
        r = self.s.me(token)
        self.assertEqual(r.status, 401, (why, token, r))
        self.assert_invalid_token(r)


class IndependentVerification(JwtTest, unittest.TestCase):

    def test_jwks_document(self):
        r = self.jwks_response
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        keys = self.jwks["keys"]
        self.assertTrue(1 <= len(keys) <= 2, keys)  # current (and previous)
        for k in keys:
            self.assertEqual((k["kty"], k["crv"], k["use"], k["alg"]), ("OKP", "Ed25519", "sig", "EdDSA"), k)
            self.assertTrue(k["kid"])
            self.assertEqual(len(unb64(k["x"])), 32)
            self.assertNotIn("=", k["x"])
            self.assertNotIn("d", k)  # never the private part
        self.assertEqual(len({k["kid"] for k in keys}), len(keys))

    def test_discovery_document(self):
        self.assertEqual(self.disco_response.status, 200)
        d = self.disco
        iss = d["issuer"]
        self.assertEqual(d["jwks_uri"], iss + "/.well-known/jwks.json")
        self.assertEqual(d["token_endpoint"], iss + "/auth/token")
        self.assertTrue({"password", "refresh_token"} <= set(d["grant_types_supported"]), d)
        algs = [v for k, v in d.items() if "alg" in k and isinstance(v, list)]
        self.assertTrue(any("EdDSA" in v for v in algs), d)
        self.assertEqual(parts(self.tokens["access_token"])[1]["iss"], iss)

    def test_pyjwt_verifies_the_access_token_against_the_jwks(self):
        token = self.tokens["access_token"]
        header = jwt.get_unverified_header(token)
        self.assertEqual(header["alg"], "EdDSA")
        self.assertEqual(header["typ"], "at+jwt")
        matching = [k for k in self.jwks["keys"] if k["kid"] == header["kid"]]
        self.assertEqual(len(matching), 1, (header, self.jwks))
        self.assertEqual(matching[0]["kid"], self.jwks["keys"][0]["kid"])  # signed with the current key
        key = jwt.PyJWK(matching[0]).key
        claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=self.disco["issuer"],
                            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]})
        for c in ("iss", "sub", "aud", "exp", "iat", "jti", "sid", "role", "client_id"):
            self.assertIn(c, claims)
        self.assertEqual(claims["exp"] - claims["iat"], ACCESS_TTL_S)
        self.assertLessEqual(abs(claims["iat"] - time.time()), 60)
        self.assertEqual(claims["sub"], self.tokens["user"]["id"])
        self.assertEqual(claims["role"], "user")
        self.assertEqual(claims["client_id"], CLIENT_ID)
        sessions = self.s.request("GET", "/auth/sessions", headers=bearer(token)).json()["sessions"]
        self.assertEqual([x["id"] for x in sessions if x["current"]], [claims["sid"]])
        # Any other key fails PyJWT, and so does another audience (the checks are real).
        with self.assertRaises(jwt.InvalidSignatureError):
            jwt.decode(token, Ed25519PrivateKey.generate().public_key(), algorithms=["EdDSA"], audience=AUDIENCE)
        with self.assertRaises(jwt.InvalidAudienceError):
            jwt.decode(token, key, algorithms=["EdDSA"], audience="someone-else")

    def test_every_token_has_its_own_jti_and_refreshed_tokens_verify_too(self):
        key = jwt.PyJWK(self.jwks["keys"][0]).key
        t = self.s.login(self.tokens["user"]["email"])
        r = self.s.refresh(t["refresh_token"]).json()
        jtis = set()
        for token in (self.tokens["access_token"], t["access_token"], r["access_token"]):
            claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=self.disco["issuer"])
            jtis.add(claims["jti"])
        self.assertEqual(len(jtis), 3)
        self.assertEqual(parts(t["access_token"])[1]["sid"], parts(r["access_token"])[1]["sid"])

    def test_refresh_token_is_opaque_not_a_jwt(self):
        rt = self.tokens["refresh_token"]
        self.assertNotIn(".", rt)
        self.assertGreaterEqual(len(rt), 43)  # 256 bits, base64url


class ForgedTokens(JwtTest, unittest.TestCase):
    """Forgeries that need no server secret."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.h, cls.p, cls.sig = parts(cls.tokens["access_token"])
        cls.pub_raw = unb64(cls.jwks["keys"][0]["x"])

    def test_the_genuine_token_is_accepted(self):
        self.assertEqual(self.s.me(self.tokens["access_token"]).status, 200)

    def test_alg_none(self):
        for alg in ("none", "None", "NONE", "nOnE"):
            self.assert_refused(unsigned(dict(self.h, alg=alg), self.p), alg)
            self.assert_refused(unsigned(dict(self.h, alg=alg), self.p, self.sig), alg + " with signature")
        h = dict(self.h)
        del h["alg"]
        self.assert_refused(unsigned(h, self.p, self.sig), "no alg")

    def test_hs256_signed_with_the_public_key(self):
        h = dict(self.h, alg="HS256")
        self.assert_refused(jwt.encode(self.p, self.pub_raw, algorithm="HS256",
                                       headers={"kid": self.h["kid"], "typ": "at+jwt"}), "HS256 raw key")
        for secret in (self.jwks["keys"][0]["x"].encode(), json.dumps(self.jwks["keys"][0]).encode(),
                       json.dumps(self.jwks).encode()):
            self.assert_refused(hs256(h, self.p, secret), "HS256 %r" % secret[:20])
        for alg in ("HS384", "HS512"):
            self.assert_refused(hs256(dict(self.h, alg=alg), self.p, self.pub_raw), alg)

    def test_alg_that_does_not_match_the_key(self):
        for alg in ("ES256", "RS256", "PS256", "Ed448", "ed25519", "EDDSA"):
            self.assert_refused(unsigned(dict(self.h, alg=alg), self.p, self.sig), alg)

    def test_tampered_payload_keeps_the_old_signature(self):
        for change in ({"role": "admin"}, {"sub": uuid.uuid4().hex}, {"exp": self.p["exp"] + 3600},
                       {"aud": "gatehouse "}):
            self.assert_refused(unsigned(self.h, dict(self.p, **change), self.sig), change)
        # Header changes break the signature as well.
        self.assert_refused(unsigned(dict(self.h, typ="at+jwt", x="1"), self.p, self.sig), "header field added")

    def test_stripped_garbage_and_truncated_signatures(self):
        good = self.tokens["access_token"]
        head = good.rsplit(".", 1)[0]
        for token in (head + ".", head, head + "." + b64(b"\x00" * 64), head + "." + b64(os.urandom(64)),
                      head + "." + b64(os.urandom(32)), head + "." + self.sig[:-4], flip_last(good),
                      good + good[-4:]):
            self.assert_refused(token)

    def test_bad_base64_and_bad_structure(self):
        good = self.tokens["access_token"]
        h, p, s = good.split(".")
        for token in ("not.a.jwt!!", "%%%.%%%.%%%", h + ".*" + p[1:] + "." + s, h + "." + p + "." + s + "!",
                      "." + p + "." + s, h + ".." + s, "...", "a.b.c.d", good + ".extra",
                      b64(b"not json") + "." + p + "." + s, b64(b"[1,2]") + "." + p + "." + s,
                      h + "." + b64(b"not json") + "." + s, h + "." + b64(b"\xff\xfe") + "." + s,
                      "x" * 3000, "\u00e9".encode().decode("latin-1") * 10):
            self.assert_refused(token, token[:40])
        # Odd Authorization headers.
        for value in ("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", good, "Token " + good):
            r = self.s.request("GET", "/auth/me", headers={"Authorization": value})
            self.assertEqual(r.status, 401, (value[:30], r))
            self.assertEqual(r.json()["error"], "invalid_token")

    def test_hostile_kid(self):
        key = Ed25519PrivateKey.generate()
        for kid in ("../../etc/passwd", "../../../../../../dev/zero", "' OR 1=1 --", "\u0000", "", "x" * 1000):
            self.assert_refused(sign(dict(self.h, kid=kid), self.p, key), repr(kid[:20]))
            self.assert_refused(unsigned(dict(self.h, kid=kid), self.p, self.sig), repr(kid[:20]))
        self.assert_refused(unsigned(dict(self.h, kid=123), self.p, self.sig), "numeric kid")

    def test_a_different_ed25519_key_with_our_kid(self):
        self.assert_refused(sign(self.h, self.p, Ed25519PrivateKey.generate()))
        token = jwt.encode(self.p, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": self.h["kid"], "typ": "at+jwt"})
        self.assert_refused(token, "PyJWT-made, foreign key")

    def test_key_carrying_headers_are_not_trusted_or_fetched(self):
        attacker = Ed25519PrivateKey.generate()
        pub = attacker.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        attacker_jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(pub), "kid": self.h["kid"], "use": "sig", "alg": "EdDSA"}
        listener = NoFetchListener()
        try:
            self.assert_refused(sign(dict(self.h, jku=listener.url), self.p, attacker), "jku")
            self.assert_refused(sign(dict(self.h, x5u=listener.url), self.p, attacker), "x5u")
            self.assert_refused(sign(dict(self.h, jwk=attacker_jwk), self.p, attacker), "embedded jwk")
            self.assert_refused(sign(dict(self.h, kid=listener.url), self.p, attacker), "kid as URL")
            self.assertFalse(listener.contacted(), "the server fetched a key URL from a token header")
        finally:
            listener.close()

    def test_a_refresh_token_is_not_an_access_token(self):
        self.assert_refused(self.tokens["refresh_token"])
        r = self.s.request("POST", "/auth/logout", headers=bearer(self.tokens["refresh_token"]))
        self.assert_invalid_token(r)

    def test_tokens_in_the_query_string_are_ignored(self):
        token = self.tokens["access_token"]
        for q in ("access_token=", "token=", "bearer="):
            self.assert_invalid_token(self.s.request("GET", "/auth/me?" + q + token))
        # Not even in a form body.
        r = self.s.request("GET", "/auth/me", body=("access_token=" + token).encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 401, r)
        self.assertEqual(self.s.me(token).status, 200)  # the token itself is good

    def test_missing_token(self):
        self.assert_invalid_token(self.s.request("GET", "/auth/me"))


class RealKeyForgeries(JwtTest, unittest.TestCase):
    """Tokens signed with the server's own key (read from its store), so only
    the claim and header checks stand between them and acceptance."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.h, cls.p, _ = parts(cls.tokens["access_token"])
        keys = signing_keys_from_store(cls.s)
        cls.key = keys[cls.h["kid"]]

    def setUp(self):
        pub = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = [k for k in self.jwks["keys"] if k["kid"] == self.h["kid"]][0]
        self.assertEqual(b64(pub), jwk["x"], "the key read from the store is not the published one")

    def claims(self, **changes):
        now = int(time.time())
        p = dict(self.p, iat=now, exp=now + ACCESS_TTL_S, jti=uuid.uuid4().hex)
        if "nbf" in p:
            p["nbf"] = now
        for k, v in changes.items():
            if v is None:
                p.pop(k, None)
            else:
                p[k] = v
        return p

    def forge(self, header_changes=None, **claim_changes):
        h = dict(self.h)
        for k, v in (header_changes or {}).items():
            if v is None:
                h.pop(k, None)
            else:
                h[k] = v
        return sign(h, self.claims(**claim_changes), self.key)

    def test_control_a_well_formed_forgery_is_accepted(self):
        # Proves the forging works: every refusal below is due to the one change made.
        r = self.s.me(self.forge())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["id"], self.tokens["user"]["id"])

    def test_wrong_typ(self):
        for typ in ("JWT", "jwt", "JOSE", "refresh+jwt", None):
            self.assert_refused(self.forge({"typ": typ}), typ)

    def test_expired(self):
        now = int(time.time())
        self.assert_refused(self.forge(exp=now - LEEWAY_S - 60, iat=now - ACCESS_TTL_S - 120), "expired")
        self.assert_refused(self.forge(exp=1, iat=0), "expired long ago")
        self.assert_refused(self.forge(exp=None), "no exp")
        self.assert_refused(self.forge(exp=str(now + 600)), "exp as a string")

    def test_not_yet_valid(self):
        now = int(time.time())
        self.assert_refused(self.forge(nbf=now + 3600), "nbf in the future")

    def test_wrong_audience(self):
        for aud in ("other", "", "gatehouse2", "GATEHOUSE", ["other"]):
            self.assert_refused(self.forge(aud=aud), aud)
        self.assert_refused(self.forge(aud=None), "no aud")

    def test_wrong_issuer(self):
        iss = self.p["iss"]
        for bad in ("https://evil.example", iss + "/", iss.replace("127.0.0.1", "localhost"), ""):
            self.assert_refused(self.forge(iss=bad), bad)
        self.assert_refused(self.forge(iss=None), "no iss")

    def test_unknown_kid_even_with_a_good_signature(self):
        self.assert_refused(self.forge({"kid": "../../etc/passwd"}), "hostile kid")
        self.assert_refused(self.forge({"kid": uuid.uuid4().hex[:16]}), "unknown kid")

    def test_key_fetching_headers_are_refused(self):
        listener = NoFetchListener()
        try:
            self.assert_refused(self.forge({"jku": listener.url}), "jku")
            self.assert_refused(self.forge({"x5u": listener.url}), "x5u")
            self.assert_refused(self.forge({"jwk": [k for k in self.jwks["keys"] if k["kid"] == self.h["kid"]][0]}), "jwk")
            self.assertFalse(listener.contacted(), "the server fetched a key URL from a token header")
        finally:
            listener.close()

    def test_session_must_be_alive(self):
        self.assert_refused(self.forge(sid=uuid.uuid4().hex), "unknown sid")
        self.assert_refused(self.forge(sid=None), "no sid")
        t = self.s.login(self.tokens["user"]["email"])
        sid = parts(t["access_token"])[1]["sid"]
        self.assertEqual(self.s.me(self.forge(sid=sid)).status, 200)
        self.assertEqual(self.s.request("POST", "/auth/logout", headers=bearer(t["access_token"])).status, 204)
        self.assert_refused(self.forge(sid=sid), "logged-out sid")


class KeyRotation(unittest.TestCase):
    """`keys rotate` reaches running servers without a restart: the new key is
    in the JWKS within tokens.key_reload_s and signs from twice that after the
    command; a retired key verifies until every token it signed has expired.
    Each process's clock is moved with an offset file: the command's runs
    ahead, so its key waits on the server's clock until the test moves it."""

    def clock(self, offset):
        import tempfile
        f = tempfile.NamedTemporaryFile("w", suffix=".clock", delete=False)
        self.addCleanup(os.unlink, f.name)
        f.write(str(offset))
        f.close()
        return f.name

    @staticmethod
    def move(clock, offset):
        with open(clock, "w") as f:
            f.write(str(offset))

    @staticmethod
    def kid(token):
        return jwt.get_unverified_header(token)["kid"]

    def rotate(self, s, clock):
        out = s.cli("keys", "rotate", env={"GATEHOUSE_TOKENS_KEY_RELOAD_S": "1", "GATEHOUSE_FOR_TEST_CLOCK_FILE": clock})
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        line = [json.loads(l) for l in out.stdout.splitlines() if "signing key rotated" in l][0]
        return line["kid"], line["signs_from"]

    def test_a_rotation_reaches_the_running_server_without_a_restart(self):
        server_clock = self.clock(0)
        env = {"GATEHOUSE_TOKENS_KEY_RELOAD_S": "1", "GATEHOUSE_FOR_TEST_CLOCK_FILE": server_clock}
        with Server(env) as s:
            t = s.register()
            email, old_kid = t["user"]["email"], self.kid(t["access_token"])
            new_kid, signs_from = self.rotate(s, self.clock(100))
            self.assertGreaterEqual(signs_from - time.time(), 100 + 2 - 5)  # 2 x key_reload_s after the command
            jwks = lambda: s.request("GET", "/.well-known/jwks.json").json()["keys"]
            # Published within key_reload_s, while the old key still signs.
            self.assertTrue(wait_until(lambda: new_kid in [k["kid"] for k in jwks()], timeout=5))
            self.assertEqual(self.kid(s.login(email)["access_token"]), old_kid)
            # From its time on the running server signs with it.
            self.move(server_clock, 100 + 2 + 1)
            self.assertTrue(wait_until(lambda: self.kid(s.login(email)["access_token"]) == new_kid, timeout=5))
            keys = {k["kid"]: jwt.PyJWK(k).key for k in jwks()}
            self.assertEqual(set(keys), {old_kid, new_kid})
            new = s.refresh(t["refresh_token"]).json()["access_token"]
            self.assertEqual(self.kid(new), new_kid)
            opts = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}  # the moved clock is ahead
            jwt.decode(new, keys[new_kid], algorithms=["EdDSA"], audience=AUDIENCE, options=opts)
            jwt.decode(t["access_token"], keys[old_kid], algorithms=["EdDSA"], audience=AUDIENCE, options=opts)
            self.assertEqual(s.me(t["access_token"]).status, 200)  # the old key still verifies

    def test_two_rotations_keep_a_key_until_every_token_it_signed_has_expired(self):
        """Issue 12 item 8: a second rotation dropped the key that had signed
        live tokens (401 after the restart)."""
        server_clock = self.clock(0)
        env = {"GATEHOUSE_TOKENS_KEY_RELOAD_S": "1", "GATEHOUSE_FOR_TEST_CLOCK_FILE": server_clock}
        with Server(env) as s:
            t = s.register()
            old_kid = self.kid(t["access_token"])
            cli_clock = self.clock(0)
            newest = [self.rotate(s, cli_clock)[0] for _ in range(2)][-1]  # while the server runs
            self.move(server_clock, 2 + 1)
            self.assertTrue(wait_until(lambda: self.kid(s.login(t["user"]["email"])["access_token"]) == newest,
                                       timeout=5))
            s.restart()
            self.assertEqual(s.me(t["access_token"]).status, 200)
            kids = [k["kid"] for k in s.request("GET", "/.well-known/jwks.json").json()["keys"]]
            self.assertEqual(len(kids), 3, kids)
            self.assertEqual(kids[0], newest)
            self.assertIn(old_kid, kids)
            # Past access_ttl_s + leeway_s (900 + 30) after the retirement: both retired keys go.
            self.move(server_clock, 2 + 900 + 30 + 60)
            s.restart()
            after = [k["kid"] for k in s.request("GET", "/.well-known/jwks.json").json()["keys"]]
            self.assertEqual(after, [newest])
            self.assertEqual(s.me(t["access_token"]).status, 401)


if __name__ == "__main__":
    unittest.main()
