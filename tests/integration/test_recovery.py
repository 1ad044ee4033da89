"""Account recovery revokes what an intruder may have minted (issue 12 item 3):
a password reset revokes every session and every personal API token; a
password change and logout-all revoke the API tokens when asked
(`revoke_api_tokens`); the security mail says how many sessions and API
tokens were revoked."""
import email
import email.policy
import glob
import os
import re
import unittest
from urllib.parse import parse_qs, urlparse

from harness import ServerTest, bearer, unique_email, wait_until


def read_eml_file(path):
    with open(path, "rb") as f:
        return email.message_from_bytes(f.read(), policy=email.policy.default)


def mails(server, to, subject):
    out = []
    for path in glob.glob(os.path.join(server.outbox, "*.eml")):
        m = read_eml_file(path)
        if m["To"] == to and m["Subject"] == subject:
            out.append(m)
    return out


class Recovery(ServerTest, unittest.TestCase):
    def api_token(self, access):
        r = self.s.request("POST", "/auth/api-tokens", headers=bearer(access), json_body={"name": "intruder"})
        self.assertEqual(r.status, 201, r)
        return r.json()["token"]

    def key_works(self, key):
        return self.s.request("GET", "/auth/me", headers={"X-API-Key": key}).status == 200

    def alert(self, e, count=1):
        self.assertTrue(wait_until(lambda: len(mails(self.s, e, "Your password was changed")) >= count),
                        os.listdir(self.s.outbox))
        return mails(self.s, e, "Your password was changed")

    def test_a_reset_revokes_every_api_token_and_the_mail_counts_them(self):
        e = unique_email()
        owner = self.s.register(e)
        intruder = self.s.login(e)
        keys = [self.api_token(intruder["access_token"]), self.api_token(owner["access_token"])]
        self.assertTrue(all(self.key_works(k) for k in keys))
        self.s.request("POST", "/auth/password/forgot", json_body={"email": e})
        self.assertTrue(wait_until(lambda: mails(self.s, e, "Reset your password")))
        body = mails(self.s, e, "Reset your password")[0].get_body(("plain",)).get_content()
        token = parse_qs(urlparse(re.search(r"(http\S+)", body).group(1)).query)["token"][0]
        r = self.s.request("POST", "/auth/password/reset", json_body={"token": token, "new_password": "owner is back 2024"})
        self.assertEqual(r.status, 200, r)
        for k in keys:
            r = self.s.request("GET", "/auth/me", headers={"X-API-Key": k})
            self.assertEqual(r.status, 401, r)
        self.assertEqual(self.s.me(intruder["access_token"]).status, 401)
        text = self.alert(e)[0].get_body(("plain",)).get_content()
        self.assertIn("2 session(s) and 2 API token(s)", text)
        r = self.s.request("GET", "/auth/api-tokens", headers=bearer(self.s.login(e, "owner is back 2024")["access_token"]))
        self.assertEqual(r.json()["api_tokens"], [])

    def test_a_change_revokes_api_tokens_only_when_asked(self):
        e = unique_email()
        me = self.s.register(e)
        key = self.api_token(me["access_token"])
        r = self.s.request("POST", "/auth/password/change", headers=bearer(me["access_token"]),
                           json_body={"current_password": "correct horse battery", "new_password": "second password 1"})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(self.key_works(key))
        text = self.alert(e)[0].get_body(("plain",)).get_content()
        self.assertIn("0 session(s) and 0 API token(s)", text)
        other = self.s.login(e, "second password 1")
        r = self.s.request("POST", "/auth/password/change", headers=bearer(me["access_token"]),
                           json_body={"current_password": "second password 1", "new_password": "third password 1",
                                      "revoke_other_sessions": True, "revoke_api_tokens": True})
        self.assertEqual(r.status, 200, r)
        self.assertFalse(self.key_works(key))
        self.assertEqual(self.s.me(other["access_token"]).status, 401)
        self.assertEqual(self.s.me(me["access_token"]).status, 200)
        texts = [m.get_body(("plain",)).get_content() for m in self.alert(e, 2)]
        self.assertTrue(any("1 session(s) and 1 API token(s)" in t for t in texts), texts)
        r = self.s.request("POST", "/auth/password/change", headers=bearer(me["access_token"]),
                           json_body={"current_password": "third password 1", "new_password": "fourth password 1",
                                      "revoke_api_tokens": "yes"})
        self.assertEqual(r.status, 400, r)

    def test_logout_all_revokes_api_tokens_only_when_asked(self):
        e = unique_email()
        a = self.s.register(e)
        key = self.api_token(a["access_token"])
        r = self.s.request("POST", "/auth/logout", headers=bearer(a["access_token"]), json_body={"all": True})
        self.assertEqual(r.status, 204, r)
        self.assertTrue(self.key_works(key))
        b = self.s.login(e)
        r = self.s.request("POST", "/auth/logout", headers=bearer(b["access_token"]),
                           json_body={"all": True, "revoke_api_tokens": True})
        self.assertEqual(r.status, 204, r)
        self.assertFalse(self.key_works(key))
        self.assertEqual(self.s.me(b["access_token"]).status, 401)


if __name__ == "__main__":
    unittest.main()
