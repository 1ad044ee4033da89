"""Unicode in emails and passwords (issue 12 item 13): invisible code points
in an email are refused, non-ASCII letters are lowercased into one account,
and passwords are compared in NFKC (NIST SP 800-63B §5.1.1.2) on every path:
register, login, the token endpoint, change, reset and the CLI, with old
raw-byte hashes upgraded at the next login."""
import crypt
import json
import os
import re
import tempfile
import unicodedata
import unittest
from urllib.parse import parse_qs, urlparse

from accounts import cli
from harness import ServerTest, bearer, unique_email, wait_until

NFC = unicodedata.normalize("NFC", "Ünïcödé pässwörd 42")
NFD = unicodedata.normalize("NFD", NFC)
assert NFC != NFD


def tag():
    return unique_email().split("@")[0]


class Emails(ServerTest, unittest.TestCase):
    def register(self, email, password="correct horse battery"):
        return self.s.request("POST", "/auth/register", json_body={"email": email, "password": password})

    def test_invisible_code_points_are_refused(self):
        t = tag()
        for cp in ("\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u00a0", "\ufe0f"):
            r = self.register("%s%s@example.com" % (t, cp))
            self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"), repr(cp))
            r = self.s.request("POST", "/auth/login", json_body={"email": "%s%s@example.com" % (t, cp),
                                                               "password": "correct horse battery"})
            self.assertEqual(r.status, 400, repr(cp))
        self.assertEqual(self.register("%s@example.com" % t).status, 201)
        # The look-alike with a zero-width space is not a second account.
        self.assertEqual(self.register("%s\u200b@example.com" % t).status, 400)

    def test_non_ascii_letters_are_one_account_in_any_case_or_form(self):
        local = "älice" + tag()
        first = self.register(local.upper() + "@EXAMPLE.COM")
        self.assertEqual(first.status, 201, first)
        self.assertEqual(first.json()["user"]["email"], local + "@example.com")
        again = self.register(local + "@example.com")
        self.assertEqual((again.status, again.json()["error"]), (409, "conflict"))
        decomposed = unicodedata.normalize("NFD", local) + "@example.com"
        self.assertEqual(self.register(decomposed).status, 409)
        t = self.s.login(decomposed)
        self.assertEqual(t["user"]["id"], first.json()["user"]["id"])
        r = self.s.request("POST", "/auth/token", form={"grant_type": "password", "username": local.upper() + "@example.com",
                                                       "password": "correct horse battery"})
        self.assertEqual(r.status, 200, r)

    def test_compatibility_forms_are_refused(self):
        r = self.register("ａｌｉｃｅ%s@example.com" % tag())  # fullwidth letters
        self.assertEqual(r.status, 400, r)


class Passwords(ServerTest, unittest.TestCase):
    def test_register_in_nfc_log_in_with_nfd(self):
        e = unique_email()
        self.s.register(e, NFC)
        t = self.s.login(e, NFD)
        self.assertTrue(t["access_token"])
        r = self.s.request("POST", "/auth/token", form={"grant_type": "password", "username": e, "password": NFD})
        self.assertEqual(r.status, 200, r)
        self.s.login(e, "ünïcödé pässwörd 42", expect=401)  # case still matters

    def test_change_reset_and_cli_normalise_too(self):
        e = unique_email()
        t = self.s.register(e)
        r = self.s.request("POST", "/auth/password/change", headers=bearer(t["access_token"]),
                           json_body={"current_password": "correct horse battery", "new_password": NFD})
        self.assertEqual(r.status, 200, r)
        self.s.login(e, NFC)
        # Reset, with the token from the file outbox.
        self.s.request("POST", "/auth/password/forgot", json_body={"email": e})
        link = {}

        def find():
            for name in os.listdir(self.s.outbox):
                if not name.endswith(".eml"):  # a .tmp is being written (then renamed)
                    continue
                with open(os.path.join(self.s.outbox, name), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
                if ("To: " + e) in text and "/auth/password/reset?token=" in text:
                    link["url"] = re.search(r"(http\S+/auth/password/reset\?token=[A-Za-z0-9_-]+)", text).group(1)
                    return True
            return False
        self.assertTrue(wait_until(find))
        token = parse_qs(urlparse(link["url"]).query)["token"][0]
        fullwidth = "ｆｕｌｌｗｉｄｔｈ ｐａｓｓ"
        r = self.s.request("POST", "/auth/password/reset", json_body={"token": token, "new_password": fullwidth})
        self.assertEqual(r.status, 200, r)
        self.s.login(e, "fullwidth pass")  # NFKC maps fullwidth letters to ASCII
        # CLI: user create hashes the NFKC form as well.
        c = unique_email("cli")
        out = cli(self.s, "user", "create", "--email", c, env={"GATEHOUSE_USER_PASSWORD": NFD})
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.s.login(c, NFC)

    def test_a_raw_byte_hash_from_before_verifies_and_is_upgraded(self):
        e = unique_email("legacy")
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.write(json.dumps({"email": e, "password_hash": crypt.crypt(NFD, crypt.mksalt(crypt.METHOD_BLOWFISH))}) + "\n")
        out = cli(self.s, "import", f.name)
        os.unlink(f.name)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.s.login(e, NFD)  # the raw bytes the old hash was made of
        # The new hash (of the NFKC form) is written after the answer.
        ok = lambda: self.s.request("POST", "/auth/login", json_body={"email": e, "password": NFC}).status == 200
        self.assertTrue(wait_until(ok))
        self.s.login(e, NFD)


if __name__ == "__main__":
    unittest.main()
