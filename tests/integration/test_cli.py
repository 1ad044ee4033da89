"""The operator CLI: seed, user management, import of bcrypt users upgraded
to Argon2id at their first login."""
import crypt
import json
import os
import subprocess
import tempfile
import unittest

from accounts import cli
from harness import Server, unique_email


def user_records(server):
    """The printable dump of the users table (version byte + CBOR records)."""
    out = subprocess.run(["mdb_dump", "-p", "-s", "users", os.path.join(server.data, "store")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


class Cli(unittest.TestCase):
    def test_seed_creates_one_admin_and_only_once(self):
        with Server() as s:
            out = cli(s, "seed", env={"GATEHOUSE_ADMIN_EMAIL": "root@example.com"})
            self.assertEqual(out.returncode, 0, out.stderr)
            password = [l for l in out.stdout.splitlines() if l.startswith("password")][0].split(": ", 1)[1]
            t = s.login("root@example.com", password)
            self.assertEqual(t["user"]["role"], "admin")
            again = cli(s, "seed", env={"GATEHOUSE_ADMIN_EMAIL": "other@example.com"})
            self.assertEqual(again.returncode, 0)
            self.assertIn("already exists", again.stdout)
            s.login("other@example.com", password, expect=401)
            self.assertNotIn(password, s.log())

    def test_user_commands(self):
        with Server() as s:
            email = unique_email()
            out = cli(s, "user", "create", "--email", email, env={"GATEHOUSE_USER_PASSWORD": "cli password 1"})
            self.assertEqual(out.returncode, 0, out.stderr)
            t = s.login(email, "cli password 1")
            self.assertEqual(cli(s, "user", "set-role", "--email", email, "--role", "manager").returncode, 0)
            self.assertEqual(s.me(t["access_token"]).json()["role"], "manager")
            self.assertNotEqual(cli(s, "user", "set-role", "--email", email, "--role", "emperor").returncode, 0)
            rows = [json.loads(l) for l in cli(s, "user", "list").stdout.splitlines()]
            self.assertIn({"email": email, "role": "manager", "active": True, "id": t["user"]["id"]}, rows)
            self.assertEqual(cli(s, "user", "deactivate", "--email", email).returncode, 0)
            self.assertEqual(s.me(t["access_token"]).status, 401)
            s.login(email, "cli password 1", expect=401)
            self.assertIn("--email", cli(s, "user", "create", "--help").stdout)

    def test_import_bcrypt_users_upgraded_to_argon2id_on_login(self):
        with Server() as s, tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            email = unique_email("imported")
            bcrypt_hash = crypt.crypt("imported password", crypt.mksalt(crypt.METHOD_BLOWFISH))
            self.assertTrue(bcrypt_hash.startswith("$2b$"))
            f.write(json.dumps({"email": email, "password_hash": bcrypt_hash, "full_name": "Imp"}) + "\n")
            f.write("{not json\n")
            f.write(json.dumps({"email": unique_email(), "password_hash": "md5:abc"}) + "\n")
            f.close()
            out = cli(s, "import", f.name)
            os.unlink(f.name)
            self.assertEqual(out.returncode, 1)  # two bad lines
            self.assertIn(":2:", out.stderr)
            self.assertIn(":3:", out.stderr)
            self.assertIn("imported 1 users", out.stdout)
            self.assertIn(bcrypt_hash, user_records(s))
            s.login(email, "wrong password", expect=401)
            t = s.login(email, "imported password")
            self.assertEqual(t["user"]["full_name"], "Imp")
            # The upgrade is written after the login answer: wait for it.
            import time
            for _ in range(100):
                if bcrypt_hash not in user_records(s):
                    break
                time.sleep(0.05)
            records = user_records(s)
            self.assertNotIn(bcrypt_hash, records)
            self.assertIn("$argon2id$", records)
            s.login(email, "imported password")


if __name__ == "__main__":
    unittest.main()
