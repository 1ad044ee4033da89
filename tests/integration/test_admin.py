"""Profiles, roles and role-scoped administration (the brief's SECURITY.md 13, 23, 33-35)."""
import struct
import unittest
import zlib

from accounts import account
from harness import Server, ServerTest, bearer, unique_email


class Profiles(ServerTest, unittest.TestCase):

    def test_patch_me_changes_profile_fields_only(self):
        s = self.s
        t = s.register(username="pat_" + unique_email()[5:13])
        r = s.request("PATCH", "/auth/me", headers=bearer(t["access_token"]),
                      json_body={"full_name": "Pat", "onboarding": "done", "data": {"theme": "dark"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["full_name"], r.json()["onboarding"], r.json()["data"]),
                         ("Pat", "done", {"theme": "dark"}))
        for field, value in (("role", "admin"), ("email", "x@y.z"), ("email_verified", True), ("id", "x"),
                             ("created_at", "2020-01-01T00:00:00Z"), ("avatar_url", "http://evil")):
            r = s.request("PATCH", "/auth/me", headers=bearer(t["access_token"]), json_body={field: value})
            self.assertEqual(r.status, 400, (field, r))
        me = s.me(t["access_token"]).json()
        self.assertEqual((me["role"], me["email_verified"]), ("user", False))
        self.assertEqual(me["email"], t["user"]["email"])

    def test_usernames_are_unique_ignoring_case(self):
        s = self.s
        name = "Sam" + unique_email()[5:12]
        s.register(username=name)
        r = s.request("POST", "/auth/register",
                      json_body={"email": unique_email(), "password": "correct horse battery", "username": name.upper()})
        self.assertEqual(r.status, 409)
        other = s.register()
        r = s.request("PATCH", "/auth/me", headers=bearer(other["access_token"]), json_body={"username": name.lower()})
        self.assertEqual(r.status, 409)
        r = s.request("PATCH", "/auth/me", headers=bearer(other["access_token"]), json_body={"username": "<script>"})
        self.assertEqual(r.status, 400)

    def test_public_profile_shows_only_public_fields(self):
        s = self.s
        name = "pub" + unique_email()[5:12]
        s.register(username=name, full_name="Public Person", data={"secret": 1})
        r = s.request("GET", "/users/" + name.upper())
        self.assertEqual(r.status, 200)
        self.assertEqual(set(r.json()), {"username", "full_name", "avatar_url"})
        self.assertEqual(s.request("GET", "/users/nobody-here").status, 404)

    def test_avatar_checked_by_magic_bytes(self):
        s = self.s
        t = s.register()
        chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                    + struct.pack(">I", zlib.crc32(kind + data)))
        png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
               + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))
        r = s.request("PUT", "/auth/me/avatar", body=png, headers=dict(bearer(t["access_token"]), **{"Content-Type": "image/png"}))
        self.assertEqual(r.status, 200, r)
        url = r.json()["avatar_url"]
        self.assertIn("/avatars/" + t["user"]["id"], url)
        got = s.request("GET", "/avatars/" + t["user"]["id"])
        self.assertEqual((got.status, got.body), (200, png))
        self.assertEqual(got.header("Content-Type"), "image/png")
        self.assertIn("max-age", got.header("Cache-Control"))
        html = b"<html><script>alert(1)</script></html>"
        r = s.request("PUT", "/auth/me/avatar", body=html, headers=dict(bearer(t["access_token"]), **{"Content-Type": "image/png"}))
        self.assertEqual(r.status, 415)
        r = s.request("PUT", "/auth/me/avatar", body=png + b"\x00" * (1 << 20),
                      headers=dict(bearer(t["access_token"]), **{"Content-Type": "image/png"}))
        self.assertEqual(r.status, 413)
        self.assertEqual(s.request("GET", "/avatars/" + t["user"]["id"]).body, png)  # unchanged
        self.assertEqual(s.request("GET", "/avatars/" + "0" * 32).status, 404)


class Administration(ServerTest, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = account(cls.s, "admin")
        cls.manager = account(cls.s, "manager")

    def req(self, who, method, path, body=None):
        return self.s.request(method, path, headers=bearer(who["token"]), json_body=body)

    def test_users_cannot_call_admin_routes_or_read_others(self):
        u = account(self.s, "user")
        other = account(self.s, "user")
        for method, path, body in (("GET", "/admin/users", None), ("GET", "/admin/users/" + other["id"], None),
                                   ("PATCH", "/admin/users/" + other["id"], {"full_name": "x"}),
                                   ("POST", "/admin/users/" + other["id"] + "/deactivate", None),
                                   ("POST", "/admin/users", {"email": unique_email(), "password": "long enough 1"})):
            r = self.req(u, method, path, body)
            self.assertEqual(r.status, 403, (path, r))
            self.assertEqual(r.json()["error"], "forbidden")
        self.assertEqual(self.s.me(other["token"]).json()["full_name"], None)

    def test_manager_manages_users_but_not_admins(self):
        m = self.manager
        u = account(self.s, "user")
        r = self.req(m, "PATCH", "/admin/users/" + u["id"], {"full_name": "Managed"})
        self.assertEqual((r.status, r.json()["full_name"]), (200, "Managed"))
        r = self.req(m, "PATCH", "/admin/users/" + u["id"], {"role": "admin"})
        self.assertEqual(r.status, 403)
        r = self.req(m, "PATCH", "/admin/users/" + self.admin["id"], {"full_name": "pwned"})
        self.assertEqual(r.status, 403)
        r = self.req(m, "POST", "/admin/users/" + self.admin["id"] + "/deactivate")
        self.assertEqual(r.status, 403)
        r = self.req(m, "POST", "/admin/users", {"email": unique_email(), "password": "long enough 1", "role": "admin"})
        self.assertEqual(r.status, 403)
        r = self.req(m, "POST", "/admin/users", {"email": unique_email(), "password": "long enough 1"})
        self.assertEqual((r.status, r.json()["role"]), (201, "user"))
        self.assertEqual(self.s.me(self.admin["token"]).json()["role"], "admin")

    def test_admin_changes_roles_and_it_applies_at_once(self):
        u = account(self.s, "user")
        self.assertEqual(self.s.request("GET", "/admin/users", headers=bearer(u["token"])).status, 403)
        r = self.req(self.admin, "PATCH", "/admin/users/" + u["id"], {"role": "manager"})
        self.assertEqual((r.status, r.json()["role"]), (200, "manager"))
        self.assertEqual(self.s.request("GET", "/admin/users", headers=bearer(u["token"])).status, 200)
        self.assertEqual(self.req(self.admin, "PATCH", "/admin/users/" + u["id"], {"role": "emperor"}).status, 400)

    def test_deactivation_ends_sessions_and_reactivation_allows_login(self):
        u = account(self.s, "user")
        r = self.req(self.admin, "POST", "/admin/users/" + u["id"] + "/deactivate")
        self.assertEqual((r.status, r.json()["active"]), (200, False))
        self.assertEqual(self.s.me(u["token"]).status, 401)
        self.assertEqual(self.s.refresh(u["refresh"]).status, 400)
        self.s.login(u["email"], "role password 123", expect=401)
        r = self.req(self.admin, "POST", "/admin/users/" + u["id"] + "/reactivate")
        self.assertEqual((r.status, r.json()["active"]), (200, True))
        self.s.login(u["email"], "role password 123")
        self.assertEqual(self.s.me(u["token"]).status, 401)  # old sessions stay revoked
        self.assertEqual(self.req(self.admin, "POST", "/admin/users/" + self.admin["id"] + "/deactivate").status, 403)

    def test_listing_pages_by_cursor_and_filters(self):
        prefix = "page-" + unique_email()[5:11]
        for i in range(5):
            self.s.register("%s-%d@example.com" % (prefix, i))
        seen, cursor = [], None
        while True:
            path = "/admin/users?limit=2&email_prefix=" + prefix + ("&cursor=" + cursor if cursor else "")
            r = self.req(self.admin, "GET", path)
            self.assertEqual(r.status, 200, r)
            seen += [u["email"] for u in r.json()["users"]]
            cursor = r.json()["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, sorted("%s-%d@example.com" % (prefix, i) for i in range(5)))
        managers = self.req(self.admin, "GET", "/admin/users?role=manager").json()["users"]
        self.assertTrue(managers and all(u["role"] == "manager" for u in managers))
        self.assertEqual(self.req(self.admin, "GET", "/admin/users?limit=0").status, 400)
        r = self.req(self.manager, "GET", "/admin/users/" + self.admin["id"])
        self.assertEqual((r.status, r.json()["email"]), (200, self.admin["email"]))


if __name__ == "__main__":
    unittest.main()
