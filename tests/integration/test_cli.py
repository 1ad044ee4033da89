"""The operator CLI: seed, user management, import of bcrypt users upgraded
to Argon2id at their first login; the password policy, the audit records of
every change, and read-only commands that never create a store."""
import crypt
import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import unittest
import uuid

from accounts import cli
from harness import BIN, CONFIG, POSTGRES, Server, lmdb_only, postgres_only, unique_email


def user_records(server):
    """The users as stored, as text: the printable dump of the LMDB users
    table (version byte + CBOR records), or every users row."""
    if POSTGRES:
        return "\n".join("\t".join(row) for row in server.sql("SELECT * FROM users"))
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

    def test_offline_changes_reach_a_token_check_already_cached(self):
        # The server keeps a token check's session and user while the store's
        # change stamp holds; a commit by another process (this CLI) must end
        # that at once, although the server did not write anything itself.
        with Server() as s:
            email = unique_email()
            t = s.register(email)
            for _ in range(3):
                self.assertEqual(s.me(t["access_token"]).json()["role"], "user")
            self.assertEqual(cli(s, "user", "set-role", "--email", email, "--role", "manager").returncode, 0)
            self.assertEqual(s.me(t["access_token"]).json()["role"], "manager")
            self.assertEqual(s.me(t["access_token"]).json()["role"], "manager")
            self.assertEqual(cli(s, "user", "deactivate", "--email", email).returncode, 0)
            self.assertEqual(s.me(t["access_token"]).status, 401)

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



def audit_records(server):
    out = cli(server, "audit", "export")
    assert out.returncode == 0, out.stdout + out.stderr
    return [json.loads(l) for l in out.stdout.splitlines()]


OPERATOR = "cli:" + pwd.getpwuid(os.getuid()).pw_name


class PasswordPolicy(unittest.TestCase):
    """Issue 12 item 7: the CLI applies the API's password policy."""

    def test_seed_refuses_a_password_the_api_would_refuse(self):
        with Server() as s:
            out = cli(s, "seed", env={"GATEHOUSE_ADMIN_EMAIL": "root@example.com", "GATEHOUSE_ADMIN_PASSWORD": "x"})
            self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
            self.assertIn("GATEHOUSE_ADMIN_PASSWORD refused", out.stderr)
            self.assertIn("at least 8", out.stderr)
            self.assertNotIn("root@example.com", cli(s, "user", "list").stdout)
            s.login("root@example.com", "x", expect=401)

    def test_user_create_refuses_short_blocklisted_and_oversized_passwords(self):
        with Server() as s:
            for password in ("short", "password", "Password1234", "a" * 1025):
                email = unique_email()
                out = cli(s, "user", "create", "--email", email, env={"GATEHOUSE_USER_PASSWORD": password})
                self.assertEqual(out.returncode, 2, (password[:20], out.stdout, out.stderr))
                self.assertIn("GATEHOUSE_USER_PASSWORD refused", out.stderr)
                self.assertNotIn(email, cli(s, "user", "list").stdout)
                # The API refuses the same passwords.
                r = s.request("POST", "/auth/register", json_body={"email": unique_email(), "password": password})
                self.assertEqual(r.status, 422, (password[:20], r))
            self.assertEqual(audit_records(s), [])


class Audited(unittest.TestCase):
    """Issue 12 item 7: every change made with the CLI is in the audit chain,
    with the operator as actor."""

    def test_one_record_per_command_with_the_operator_as_actor(self):
        with Server() as s, tempfile.TemporaryDirectory() as tmp:
            def run(expected_type, *args, env=None):
                before = len(audit_records(s))
                out = cli(s, *args, env=env)
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
                new = audit_records(s)[before:]
                self.assertEqual([r["type"] for r in new], [expected_type], new)
                self.assertEqual(new[0]["actor_user_id"], OPERATOR)
                self.assertEqual(new[0]["user_agent"], "gatehouse-cli")
                return new[0]

            r = run("user_created", "seed", env={"GATEHOUSE_ADMIN_EMAIL": "root@example.com",
                                                 "GATEHOUSE_ADMIN_PASSWORD": "admin password 1"})
            admin_id = s.login("root@example.com", "admin password 1")["user"]["id"]
            self.assertEqual((r["subject_user_id"], r["details"]), (admin_id, {"role": "admin", "via": "seed"}))
            email = unique_email()
            r = run("user_created", "user", "create", "--email", email, env={"GATEHOUSE_USER_PASSWORD": "cli password 1"})
            uid = s.login(email, "cli password 1")["user"]["id"]
            self.assertEqual((r["subject_user_id"], r["details"]), (uid, {"role": "user", "via": "user create"}))
            r = run("role_changed", "user", "set-role", "--email", email, "--role", "manager")
            self.assertEqual((r["subject_user_id"], r["details"]), (uid, {"from": "user", "to": "manager"}))
            r = run("user_deactivated", "user", "deactivate", "--email", email)
            self.assertEqual(r["subject_user_id"], uid)
            path = os.path.join(tmp, "users.jsonl")
            with open(path, "w") as f:
                f.write(json.dumps({"email": unique_email("imported"),
                                    "password_hash": crypt.crypt("imported password", crypt.mksalt(crypt.METHOD_BLOWFISH))}) + "\n")
            r = run("user_created", "import", path)
            self.assertEqual(r["details"], {"role": "user", "via": "import"})
            r = run("signing_key_rotated", "keys", "rotate")
            self.assertEqual(len(r["details"]["kid"]), 16)
            self.assertTrue(r["details"]["retired_kid"])
            out = cli(s, "audit", "verify")
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("chain intact", out.stdout)
            # The server's own records continue the same chain after the CLI's.
            s.login(email, "cli password 1", expect=401)
            s.restart()
            out = cli(s, "audit", "verify")
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertEqual([r["type"] for r in audit_records(s)][-1], "login_failed")


def tree_digest(path):
    """(relative name, mode, sha256) of every file under `path`."""
    out = []
    for root, dirs, files in os.walk(path):
        for name in sorted(files):
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                out.append((os.path.relpath(full, path), stat.S_IMODE(os.stat(full).st_mode),
                            hashlib.sha256(f.read()).hexdigest()))
    return sorted(out)


class ReadOnlyCommands(unittest.TestCase):
    """Issue 12 item 16: audit verify, audit export and user list open an
    existing store read-only and never create one."""

    def run_cli(self, data, *args, env=None, as_nobody=False):
        e = dict(os.environ)
        e.update(env or {})

        def drop():
            os.setgid(65534)
            os.setuid(65534)
        return subprocess.run([BIN, *args, "--config", CONFIG, "--data", data], capture_output=True, text=True,
                              env=e, preexec_fn=drop if as_nobody else None)

    @lmdb_only("a mistyped LMDB folder; PostgreSQL's twin is test_a_database_never_migrated_is_refused_and_left_alone")
    def test_a_missing_store_is_refused_and_not_created(self):
        with tempfile.TemporaryDirectory() as tmp:
            missing = os.path.join(tmp, "mistyped")
            for args in (("audit", "verify"), ("audit", "export"), ("user", "list")):
                out = self.run_cli(missing, *args)
                self.assertEqual(out.returncode, 2, (args, out.stdout, out.stderr))
                self.assertIn("no store at", out.stderr)
                self.assertNotIn("chain intact", out.stdout)
                self.assertFalse(os.path.exists(missing), args)
            self.assertEqual(os.listdir(tmp), [])

    @lmdb_only("a read-only copy of the LMDB folder; PostgreSQL's twin is test_read_only_commands_need_only_select")
    def test_read_only_commands_work_on_a_read_only_copy(self):
        with Server() as s, tempfile.TemporaryDirectory() as tmp:
            email = unique_email()
            self.assertEqual(cli(s, "user", "create", "--email", email,
                                 env={"GATEHOUSE_USER_PASSWORD": "cli password 1"}).returncode, 0)
            s.register()
            s.stop()
            os.chmod(tmp, 0o755)
            copy = os.path.join(tmp, "store")
            shutil.copytree(s.store, copy)
            if os.path.exists(s.store + ".audit-key"):
                shutil.copy(s.store + ".audit-key", copy + ".audit-key")
            os.remove(os.path.join(copy, "lock.mdb"))  # a backup copy has none
            # Read-only for everyone; as root (which ignores modes) the commands
            # run as nobody, who can read the copy but not write it.
            for root, dirs, files in os.walk(copy):
                for n in files:
                    os.chmod(os.path.join(root, n), 0o444)
            if os.path.exists(copy + ".audit-key"):
                os.chmod(copy + ".audit-key", 0o444)
            os.chmod(copy, 0o555)
            try:
                self.check_read_only_copy(tmp, copy, email)
            finally:
                os.chmod(copy, 0o755)  # so that the folder can be removed

    @postgres_only("LMDB's twin is test_a_missing_store_is_refused_and_not_created")
    def test_a_database_never_migrated_is_refused_and_left_alone(self):
        import pg
        url = pg.create_database()
        env = {"GATEHOUSE_STORE_BACKEND": "postgres", "GATEHOUSE_STORE_URL": url}
        with tempfile.TemporaryDirectory() as tmp:
            for args in (("audit", "verify"), ("audit", "export"), ("user", "list")):
                out = self.run_cli(os.path.join(tmp, "store"), *args, env=env)
                self.assertEqual(out.returncode, 2, (args, out.stdout, out.stderr))
                self.assertIn("run `gatehouse migrate`", out.stderr)
                self.assertNotIn("chain intact", out.stdout)
            self.assertEqual(os.listdir(tmp), [])
        self.assertEqual(pg.sql(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), [["0"]])

    @postgres_only("LMDB's twin is test_read_only_commands_work_on_a_read_only_copy")
    def test_read_only_commands_need_only_select(self):
        # A role that may read every table and write none: the commands run
        # in READ ONLY transactions and never create anything.
        with Server() as s:
            email = unique_email()
            self.assertEqual(cli(s, "user", "create", "--email", email,
                                 env={"GATEHOUSE_USER_PASSWORD": "cli password 1"}).returncode, 0)
            s.register()
            s.stop()
            role = "reader_" + uuid.uuid4().hex[:10]
            db = s.store_url.split("///", 1)[1].split("?", 1)[0]
            s.sql("CREATE ROLE %s LOGIN; GRANT CONNECT ON DATABASE %s TO %s; GRANT USAGE ON SCHEMA public TO %s; "
                  "GRANT SELECT ON ALL TABLES IN SCHEMA public TO %s" % (role, db, role, role, role))
            reader = s.store_url.replace("user=postgres", "user=" + role)
            env = dict(s.store_env(), GATEHOUSE_STORE_URL=reader)
            # (pg_dump's \restrict line holds a new random key every run)
            dump = lambda: [l for l in subprocess.run(["pg_dump", "-d", s.store_url], capture_output=True, text=True,
                                                      check=True).stdout.splitlines()
                            if not l.startswith(("\\restrict", "\\unrestrict"))]
            before = dump()
            out = self.run_cli(s.store, "audit", "verify", env=env)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("2 records, chain intact", out.stdout)
            out = self.run_cli(s.store, "user", "list", env=env)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn(email, out.stdout)
            out = self.run_cli(s.store, "audit", "export", env=env)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertEqual([json.loads(l)["type"] for l in out.stdout.splitlines()], ["user_created", "register"])
            self.assertEqual(dump(), before)
            # Control: the same role cannot write, so a writing command fails.
            out = self.run_cli(s.store, "user", "deactivate", "--email", email, env=env)
            self.assertNotEqual(out.returncode, 0, out.stdout + out.stderr)

    def check_read_only_copy(self, tmp, copy, email):
        before = tree_digest(tmp)
        nobody = os.getuid() == 0
        out = self.run_cli(copy, "audit", "verify", as_nobody=nobody)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("2 records, chain intact", out.stdout)
        out = self.run_cli(copy, "user", "list", as_nobody=nobody)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn(email, out.stdout)
        out = self.run_cli(copy, "audit", "export", as_nobody=nobody)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual([json.loads(l)["type"] for l in out.stdout.splitlines()], ["user_created", "register"])
        self.assertEqual(tree_digest(tmp), before)


class MigrateSchema2(unittest.TestCase):
    """Schema 2 re-keys emails stored before the Unicode-aware normal form
    (issue 12 item 13): an account an older build stored as `Älice@…` is found
    again after `gatehouse migrate`; one whose new form belongs to another
    account is left alone and named."""

    def old_store(self, s, alice, moved, other):
        """The store as an older build left it: schema 1, `Älice` kept as
        typed, and a second old key (`Öther`) whose new form is another
        account: an entry of the LMDB emails index, or on PostgreSQL (no
        separate index) a second account stored under it."""
        typed, stray = moved.replace("\u00e4", "\u00c4"), other.replace("\u00f6", "\u00d6")
        if POSTGRES:
            cols = ("password_hash, role, username, username_key, full_name, avatar_url, onboarding, data, "
                    "email_verified, active, created_at, updated_at, failed_logins, last_failed_at, device_epoch")
            s.sql("UPDATE users SET email = '%s' WHERE id = '%s'; "
                  "INSERT INTO users (id, email, %s) SELECT '%s', '%s', %s FROM users WHERE id = '%s'; "
                  "UPDATE meta SET value = '1'::bytea WHERE name = 'schema_version'"
                  % (typed, alice, cols, uuid.uuid4().hex, stray, cols, alice))
            return
        import lmdb
        env = lmdb.open(s.store, max_dbs=32)
        meta, emails = env.open_db(b"meta"), env.open_db(b"emails")
        with env.begin(write=True) as t:
            t.delete(moved.encode(), db=emails)
            t.put(typed.encode(), alice.encode(), db=emails)
            t.put(stray.encode(), alice.encode(), db=emails)
            t.put(b"schema_version", b"1", db=meta)
        env.close()

    def test_migrate_rekeys_emails_stored_before_the_unicode_normal_form(self):
        tag = uuid.uuid4().hex[:10]
        moved, other = "\u00e4lice-%s@example.com" % tag, "\u00f6ther-%s@example.com" % tag
        with Server() as s:
            alice = s.register(moved)["user"]["id"]
            s.register(other)
            s.stop()
            self.old_store(s, alice, moved, other)
            with self.assertRaises(RuntimeError) as refused:
                s.start()
            self.assertIn("gatehouse migrate", str(refused.exception))
            out = cli(s, "migrate")
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            log = out.stdout + out.stderr
            self.assertIn("re-keyed " + moved.replace("\u00e4", "\u00c4") + " as " + moved, log)
            self.assertIn("kept " + other.replace("\u00f6", "\u00d6"), log)
            s.start()
            t = s.login(moved.upper())  # ÄLICE-…@EXAMPLE.COM
            self.assertEqual(t["user"]["id"], alice)
            self.assertEqual(t["user"]["email"], moved)
            self.assertNotEqual(s.login(other)["user"]["id"], alice)


if __name__ == "__main__":
    unittest.main()
