"""GET /admin/audit/stream: audit records as Server-Sent Events. Each answer
carries the records after Last-Event-ID (waiting up to a few seconds for the
next batch) and ends; the client reconnects with the last id it saw."""
import json
import threading
import time
import unittest

from accounts import account
from harness import Server, bearer, unique_email, wait_until


def parse(body):
    """[(id, data)] of an event-stream body."""
    events, current = [], {}
    for line in body.decode().split("\n"):
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "data" in current:
            events.append((current["id"], current["data"]))
            current = {}
    return events


class AuditStream(unittest.TestCase):
    def get(self, s, token, last_id):
        r = s.request("GET", "/admin/audit/stream", headers=dict(bearer(token), **{"Last-Event-ID": str(last_id)}))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("text/event-stream"))
        self.assertIn(b"retry: ", r.body)
        return parse(r.body)

    def test_records_arrive_live_and_resume_after_the_last_id(self):
        with Server() as s:
            admin = account(s, "admin")
            # What is already there: the admin's login, whose record is
            # published once its session is committed, just after the answer.
            backlog = []

            def login_recorded():
                backlog[:] = self.get(s, admin["token"], 0)
                return any(d["type"] == "login_succeeded" for _, d in backlog)

            self.assertTrue(wait_until(login_recorded))
            last = backlog[-1][0]
            # A waiting request is answered by the next committed batch.
            got = []
            waiter = threading.Thread(target=lambda: got.extend(self.get(s, admin["token"], last)))
            waiter.start()
            time.sleep(0.5)
            e = unique_email()
            t0 = time.time()
            s.register(e)
            waiter.join(10)
            self.assertLess(time.time() - t0, 3)
            self.assertEqual(got[0][1]["type"], "register")
            self.assertEqual(got[0][0], last + 1)
            self.assertTrue(all(d["seq"] == i and len(d["hash"]) == 64 for i, d in got))
            last = got[-1][0]
            # Records made while nobody listens are there on the next request.
            s.login(e, "wrong password!", expect=401)
            s.login(e, "wrong again!!!", expect=401)
            committed = lambda: len(s.request("GET", "/admin/audit?type=login_failed",
                                              headers=bearer(admin["token"])).json()["events"]) >= 2
            self.assertTrue(wait_until(committed))  # audit records are written just after the answers
            more = self.get(s, admin["token"], last)
            self.assertEqual([i for i, _ in more], list(range(last + 1, last + 1 + len(more))))
            self.assertEqual([d["type"] for _, d in more][-2:], ["login_failed", "login_failed"])
            # Nothing new: the answer comes after the wait, empty, and the server is fine.
            t0 = time.time()
            self.assertEqual(self.get(s, admin["token"], more[-1][0]), [])
            self.assertGreater(time.time() - t0, 3)
            user = account(s, "user")
            self.assertEqual(s.request("GET", "/admin/audit/stream", headers=bearer(user["token"])).status, 403)
            self.assertEqual(s.request("GET", "/health").status, 200)

    def test_a_client_that_leaves_while_waiting_does_not_hurt(self):
        import socket
        with Server() as s:
            admin = account(s, "admin")
            for _ in range(10):
                sock = socket.create_connection(("127.0.0.1", s.port))
                sock.sendall(("GET /admin/audit/stream HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 999999\r\n"
                              "Authorization: Bearer %s\r\n\r\n" % admin["token"]).encode())
                sock.close()
            s.register()
            time.sleep(6)  # every waiter is answered (or skipped) after at most the wait
            self.assertEqual(s.request("GET", "/health").status, 200)


if __name__ == "__main__":
    unittest.main()
