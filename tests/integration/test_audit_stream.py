"""GET /admin/audit/stream: Server-Sent Events of audit records, resumable
with Last-Event-ID across the reconnects Pistache's answer timeout forces."""
import http.client
import json
import threading
import time
import unittest

from accounts import account
from harness import Server, bearer, unique_email, wait_until


def read_events(port, token, last_id=None, seconds=3.0):
    """Reads the stream until it closes or `seconds` pass; returns [(id, data)]."""
    headers = dict(bearer(token))
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=seconds)
    conn.request("GET", "/admin/audit/stream", headers=headers)
    r = conn.getresponse()
    assert r.status == 200, r.status
    assert r.getheader("Content-Type").startswith("text/event-stream")
    events, current, deadline = [], {}, time.time() + seconds
    try:
        while time.time() < deadline:
            line = r.fp.readline()
            if not line:
                break
            line = line.decode().rstrip("\r\n")
            if line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and "data" in current:
                events.append((current["id"], current["data"]))
                current = {}
    except (TimeoutError, OSError):
        pass
    conn.close()
    return events


class AuditStream(unittest.TestCase):
    def test_events_stream_live_and_resume_after_the_last_id(self):
        with Server({"GATEHOUSE_SERVER_HEADER_TIMEOUT_MS": "1500"}) as s:
            admin = account(s, "admin")
            got = []
            reader = threading.Thread(target=lambda: got.extend(read_events(s.port, admin["token"], 0, 5)))
            reader.start()
            time.sleep(0.3)
            e = unique_email()
            s.register(e)
            s.login(e, "wrong password!", expect=401)
            reader.join()
            types = [d["type"] for _, d in got]
            self.assertIn("register", types)
            self.assertIn("login_failed", types)
            ids = [i for i, _ in got]
            self.assertEqual(ids, sorted(set(ids)))
            self.assertTrue(all(d["seq"] == i and len(d["hash"]) == 64 for i, d in got))
            # A new login while nobody listens, then a reconnect with Last-Event-ID: nothing is missed.
            s.login(e, "wrong again!!!", expect=401)
            more = read_events(s.port, admin["token"], ids[-1], 2)
            self.assertTrue(more)
            self.assertEqual(more[0][0], ids[-1] + 1)
            self.assertEqual(more[-1][1]["type"], "login_failed")
            user = account(s, "user")
            r = s.request("GET", "/admin/audit/stream", headers=bearer(user["token"]))
            self.assertEqual(r.status, 403)
            self.assertEqual(s.request("GET", "/health").status, 200)


if __name__ == "__main__":
    unittest.main()
