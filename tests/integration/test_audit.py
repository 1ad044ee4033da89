"""The audit trail: auth events recorded in order by the actors that caused
them, a hash chain that `gatehouse audit verify` checks, and tamper detection."""
import json
import os
import unittest

import lmdb

from accounts import account, cli
from harness import Server, bearer, unique_email, wait_until


def events(s, admin, **query):
    q = "&".join("%s=%s" % kv for kv in query.items())
    r = s.request("GET", "/admin/audit?limit=1000&" + q, headers=bearer(admin["token"]))
    assert r.status == 200, r
    return r.json()["events"]


class AuditTrail(unittest.TestCase):
    def test_a_flow_is_recorded_in_order_and_the_chain_verifies(self):
        with Server({"GATEHOUSE_TOKENS_ROTATION_GRACE_S": "0"}) as s:
            admin = account(s, "admin")
            email = unique_email()
            reg = s.request("POST", "/auth/register", json_body={"email": email, "password": "correct horse battery"})
            uid = reg.json()["user"]["id"]
            s.login(email, "wrong password!", expect=401)
            t = s.login(email)
            t2 = s.refresh(t["refresh_token"]).json()
            s.refresh(t["refresh_token"])  # reuse: the family is revoked
            t3 = s.login(email)
            s.request("POST", "/auth/logout", headers=bearer(t3["access_token"]))
            s.request("POST", "/admin/users/%s/deactivate" % uid, headers=bearer(admin["token"]))
            expected = ["register", "login_failed", "login_succeeded", "refresh", "refresh_reuse_detected",
                        "login_succeeded", "logout", "user_deactivated"]
            self.assertTrue(wait_until(lambda: len(events(s, admin, user=uid)) >= len(expected)))
            got = events(s, admin, user=uid)
            self.assertEqual([e["type"] for e in got], expected)
            self.assertEqual(got[0]["request_id"], reg.header("X-Request-Id"))
            self.assertEqual(got[0]["trace_id"], reg.header("traceparent").split("-")[1])
            self.assertEqual(got[1]["details"]["reason"], "wrong_password")
            self.assertEqual(got[-1]["actor_user_id"], admin["id"])
            seqs = [e["seq"] for e in got]
            self.assertEqual(seqs, sorted(seqs))
            self.assertTrue(all(e["ip"] == "127.0.0.1" for e in got if e["type"] != "logout"))
            unknown = events(s, admin, type="login_failed")
            self.assertTrue(any(e["details"]["reason"] == "wrong_password" for e in unknown))
            # No secret ever reaches the audit log.
            everything = json.dumps(events(s, admin))
            for secret in ("correct horse battery", t["refresh_token"], t2["access_token"]):
                self.assertNotIn(secret, everything)
            out = cli(s, "audit", "verify")
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("chain intact", out.stdout)
            lines = [json.loads(l) for l in cli(s, "audit", "export").stdout.splitlines()]
            self.assertEqual([l["seq"] for l in lines], list(range(1, len(lines) + 1)))
            self.assertTrue(all(len(l["hash"]) == 64 for l in lines))

    def test_users_cannot_read_the_audit_log(self):
        with Server() as s:
            u = account(s, "user")
            r = s.request("GET", "/admin/audit", headers=bearer(u["token"]))
            self.assertEqual(r.status, 403)


class Sinks(unittest.TestCase):
    def test_records_also_go_to_a_jsonl_file_and_a_signed_webhook(self):
        import hashlib
        import hmac
        from receivers import start_receiver
        base, got = start_receiver(self)
        import shutil
        import tempfile
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "audit.jsonl")
        env = {"GATEHOUSE_AUDIT_FILE": path, "GATEHOUSE_AUDIT_WEBHOOK_URL": base + "/audit",
               "GATEHOUSE_AUDIT_WEBHOOK_SECRET": "audit-secret"}
        with Server(env) as s:
            e = unique_email()
            s.register(e)
            s.login(e, "wrong password!", expect=401)
            self.assertTrue(wait_until(lambda: os.path.exists(path) and len(open(path).read().splitlines()) >= 2))
            self.assertTrue(wait_until(lambda: sum(len(json.loads(b)) for _, _, b in got) >= 2))
        lines = [json.loads(l) for l in open(path).read().splitlines()]
        self.assertEqual([l["type"] for l in lines], ["register", "login_failed"])
        self.assertEqual([l["seq"] for l in lines], [1, 2])
        self.assertTrue(all(len(l["hash"]) == 64 for l in lines))
        for _, headers, body in got:
            expected = "sha256=" + hmac.new(b"audit-secret", body, hashlib.sha256).hexdigest()
            self.assertTrue(hmac.compare_digest(headers["X-Gatehouse-Signature"], expected))
        self.assertEqual([r["seq"] for _, _, b in got for r in json.loads(b)], [1, 2])


class Tamper(unittest.TestCase):
    def setUp(self):
        self.s = Server()
        self.addCleanup(self.s.close)
        for _ in range(3):
            self.s.register()
        self.s.login(unique_email(), expect=401)
        self.assertTrue(wait_until(lambda: "4 records" in cli(self.s, "audit", "verify").stdout))
        self.s.stop()
        self.path = os.path.join(self.s.data, "store")

    def edit(self, fn):
        env = lmdb.open(self.path, max_dbs=32)
        db = env.open_db(b"audit")
        with env.begin(write=True, db=db) as txn:
            fn(txn)
        env.close()

    def verify(self):
        return cli(self.s, "audit", "verify")

    def test_an_altered_record_is_detected(self):
        def alter(txn):
            key = (2).to_bytes(8, "big")
            value = txn.get(key)
            self.assertIn(b"register", value)
            txn.put(key, value.replace(b"register", b"regist3r", 1))
        self.edit(alter)
        out = self.verify()
        self.assertEqual(out.returncode, 1)
        self.assertIn("record 2 was altered", out.stdout)

    def test_a_deleted_record_is_detected(self):
        self.edit(lambda txn: txn.delete((3).to_bytes(8, "big")))
        out = self.verify()
        self.assertEqual(out.returncode, 1)
        self.assertIn("record 3 is missing", out.stdout)

    def test_records_removed_from_the_end_are_detected(self):
        self.edit(lambda txn: txn.delete((4).to_bytes(8, "big")))
        out = self.verify()
        self.assertEqual(out.returncode, 1)
        self.assertIn("removed from the end", out.stdout)


if __name__ == "__main__":
    unittest.main()
