"""Personal API tokens: shown once, hashed at rest, IP allowlists, scopes,
revocation, and never more than the owner's role."""
import subprocess
import unittest

from accounts import account
from harness import POSTGRES, Server, ServerTest, bearer


def store_dump(server):
    """Everything the store holds, as text: `mdb_dump -a -p` of the LMDB
    folder (printable bytes as they are), or `pg_dump` of the database
    (bytea in hex, hence the hex forms the test also looks for)."""
    if POSTGRES:
        cmd = ["pg_dump", "--data-only", "-d", server.store_url]
    else:
        cmd = ["mdb_dump", "-a", "-p", server.store]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) > 1000, out.stdout  # the dump did dump the store
    return out.stdout


class ApiTokens(ServerTest, unittest.TestCase):

    def create(self, who, **body):
        body.setdefault("name", "ci")
        r = self.s.request("POST", "/auth/api-tokens", headers=bearer(who["token"]), json_body=body)
        return r

    def key(self, k):
        return {"X-API-Key": k}

    def test_token_is_shown_once_works_and_is_stored_only_hashed(self):
        u = account(self.s, "user")
        r = self.create(u, name="laptop")
        self.assertEqual(r.status, 201, r)
        secret = r.json()["token"]
        self.assertTrue(secret.startswith("gh_"))
        me = self.s.request("GET", "/auth/me", headers=self.key(secret))
        self.assertEqual((me.status, me.json()["id"]), (200, u["id"]))
        listed = self.s.request("GET", "/auth/api-tokens", headers=bearer(u["token"])).json()["api_tokens"]
        self.assertEqual([t["name"] for t in listed], ["laptop"])
        self.assertNotIn("token", listed[0])
        dump = store_dump(self.s)
        for form in (secret, secret[3:], secret.encode().hex(), secret[3:].encode().hex()):
            self.assertNotIn(form, dump)

    def test_revoked_token_and_other_users_tokens(self):
        u, other = account(self.s, "user"), account(self.s, "user")
        r = self.create(u).json()
        r2 = self.s.request("DELETE", "/auth/api-tokens/" + r["id"], headers=bearer(other["token"]))
        self.assertEqual(r2.status, 404)
        self.assertEqual(self.s.request("GET", "/auth/me", headers=self.key(r["token"])).status, 200)
        r2 = self.s.request("DELETE", "/auth/api-tokens/" + r["id"], headers=bearer(u["token"]))
        self.assertEqual(r2.status, 204)
        self.assertEqual(self.s.request("GET", "/auth/me", headers=self.key(r["token"])).status, 401)
        self.assertEqual(self.s.request("GET", "/auth/me", headers=self.key("gh_forged")).status, 401)
        # An API token is not a bearer access token.
        u2 = account(self.s, "user")
        k2 = self.create(u2).json()["token"]
        self.assertEqual(self.s.request("GET", "/auth/me", headers=bearer(k2)).status, 401)

    def test_ip_allowlist(self):
        u = account(self.s, "user")
        far = self.create(u, allowed_ips=["10.0.0.0/8"]).json()["token"]
        near = self.create(u, allowed_ips=["10.0.0.0/8", "127.0.0.0/8"]).json()["token"]
        r = self.s.request("GET", "/auth/me", headers=self.key(far))
        self.assertEqual((r.status, r.json()["error"]), (403, "forbidden"))
        self.assertEqual(self.s.request("GET", "/auth/me", headers=self.key(near)).status, 200)
        self.assertEqual(self.create(u, allowed_ips=["not-an-ip"]).status, 400)

    def test_tokens_never_exceed_the_owners_role(self):
        u = account(self.s, "user")
        k = self.create(u).json()["token"]
        self.assertEqual(self.s.request("GET", "/admin/users", headers=self.key(k)).status, 403)
        self.assertEqual(self.create(u, scopes=["users:read"]).status, 400)
        admin = account(self.s, "admin")
        ro = self.create(admin, scopes=["users:read"]).json()["token"]
        self.assertEqual(self.s.request("GET", "/admin/users", headers=self.key(ro)).status, 200)
        r = self.s.request("POST", "/admin/users/" + u["id"] + "/deactivate", headers=self.key(ro))
        self.assertEqual(r.status, 403)
        # A key cannot mint keys or act on sessions.
        r = self.s.request("POST", "/auth/api-tokens", headers=self.key(ro), json_body={"name": "x"})
        self.assertEqual(r.status, 401)

    def test_deactivation_revokes_tokens(self):
        u = account(self.s, "user")
        admin = account(self.s, "admin")
        k = self.create(u).json()["token"]
        r = self.s.request("POST", "/admin/users/" + u["id"] + "/deactivate", headers=bearer(admin["token"]))
        self.assertEqual(r.status, 200)
        self.s.request("POST", "/admin/users/" + u["id"] + "/reactivate", headers=bearer(admin["token"]))
        self.assertEqual(self.s.request("GET", "/auth/me", headers=self.key(k)).status, 401)


if __name__ == "__main__":
    unittest.main()
