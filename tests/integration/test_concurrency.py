"""Many clients at once (issue 8): token checks, refresh rotations, profile
writes and clients that leave before their answer, from 8 threads against
one server. The rest of the suite mostly sends one request at a time; this
module is where the HTTP threads, the actors and the writer really overlap,
which is what `make test-tsan` needs to see.

Asserts every answer (no 5xx, no lost rotation, no mixed-up profile), that
each answer is the one to its own request (its X-Request-Id), the final
stored state, and that the server exits cleanly (under a sanitizer build the
harness fails the test on any report).

Pistache 0.0.5 queues writes by fd number: an answer still queued when its
client left went to the next connection that got the same number, i.e. to
another client. This module caught it (http/response.hpp, WriteGate).
"""
import socket
import threading
import unittest
import uuid

from harness import DEFAULT_PASSWORD, ApiAssertions, Server, bearer, unique_email

THREADS = 8
ROUNDS = 40


class ManyClients(ApiAssertions, unittest.TestCase):
    def test_overlapping_reads_rotations_writes_and_vanishing_clients(self):
        s = Server()
        self.addCleanup(s.close)
        users = []
        for i in range(THREADS):
            b = s.register(unique_email("conc%d" % i), full_name="User %d" % i)
            users.append({"email": b["user"]["email"], "access": b["access_token"],
                          "refresh": b["refresh_token"], "name": None})
        failures = []

        def ask(method, path, u, conn=None, **kw):
            """A request with its own X-Request-Id; an answer carrying another
            one was meant for someone else."""
            rid = uuid.uuid4().hex
            r = s.request(method, path, headers=dict(bearer(u["access"]), **{"X-Request-Id": rid}), conn=conn, **kw)
            if r.header("X-Request-Id") != rid:
                failures.append(("someone else's answer", method, path, r.status, r.body[:200]))
            return r

        def client(u, n):
            try:
                conn = s.connect()  # keep-alive for half the token checks
                for i in range(ROUNDS):
                    # Every other one on a fresh connection: fd numbers get reused.
                    r = ask("GET", "/auth/me", u, conn=conn if i % 2 else None)
                    if r.status != 200 or r.json()["email"] != u["email"]:
                        failures.append(("me", r.status, r.body[:200]))
                    if i % 8 == 3:
                        r = s.refresh(u["refresh"])
                        if r.status != 200:
                            failures.append(("refresh", r.status, r.body[:200]))
                        else:
                            u["refresh"], u["access"] = r.json()["refresh_token"], r.json()["access_token"]
                    if i % 10 == 5:
                        name = "User %d round %d" % (n, i)
                        r = ask("PATCH", "/auth/me", u, json_body={"full_name": name})
                        if r.status != 200 or r.json()["full_name"] != name:
                            failures.append(("patch", r.status, r.body[:200]))
                        else:
                            u["name"] = name
                    if i % 6 == 0:
                        # Sends a whole request and closes before the answer.
                        c = socket.create_connection(("127.0.0.1", s.port))
                        c.sendall(b"GET /auth/me HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
                                  + u["access"].encode() + b"\r\n\r\n")
                        c.close()
                conn.close()
            except Exception as e:  # noqa: BLE001 - reported below with the others
                failures.append(("exception", repr(e)))

        threads = [threading.Thread(target=client, args=(u, n)) for n, u in enumerate(users)]
        for t in threads:
            t.start()
        # Logins (the hashing pool) overlap the rest from this thread.
        for u in users[:3]:
            s.login(u["email"], DEFAULT_PASSWORD)
        for t in threads:
            t.join()
        self.assertEqual(failures, [])

        # Every rotation was kept: the latest refresh token of each user works
        # and the profile holds the last name written.
        for u in users:
            r = s.me(u["access"])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["full_name"], u["name"])
            r = s.refresh(u["refresh"])
            self.assertEqual(r.status, 200, r)
        self.assertTrue(s.alive())
        s.stop()  # exit 0, and no sanitizer report


if __name__ == "__main__":
    unittest.main()
