"""Account back-off (the brief's SECURITY.md 30-31): a brute force on one account from
many addresses is slowed, the throttled answer is a wrong-password answer in
the same time, the owner gets in once the back-off passes, and the counters
survive a restart."""
import os
import statistics
import tempfile
import time
import unittest

from harness import Server, unique_email

ENV = {"GATEHOUSE_RATE_LIMIT_ENABLED": "true", "GATEHOUSE_SERVER_TRUSTED_PROXIES": "127.0.0.1/32",
       "GATEHOUSE_RATE_LIMIT_LOGIN_IP": "100000", "GATEHOUSE_RATE_LIMIT_LOGIN_ACCOUNT": "100000",
       "GATEHOUSE_RATE_LIMIT_LOGIN_IP_ACCOUNT": "100000",
       "GATEHOUSE_RATE_LIMIT_BACKOFF_AFTER": "3", "GATEHOUSE_RATE_LIMIT_BACKOFF_MAX_S": "2"}


def attempt(s, email, password, ip):
    return s.request("POST", "/auth/login", json_body={"email": email, "password": password},
                     headers={"X-Forwarded-For": ip})


class BruteForce(unittest.TestCase):
    def test_brute_force_from_fifty_addresses_then_the_owner_logs_in(self):
        clock = tempfile.NamedTemporaryFile("w", delete=False)
        clock.close()
        self.addCleanup(os.unlink, clock.name)

        def shift(seconds):  # the server's clock offset (test hook)
            with open(clock.name, "w") as f:
                f.write(str(seconds))

        shift(0)
        env = dict(ENV, GATEHOUSE_FOR_TEST_CLOCK_FILE=clock.name, GATEHOUSE_RATE_LIMIT_BACKOFF_MAX_S="60")
        with Server(env) as s:
            owner = unique_email()
            s.register(owner, password="the owner's password")
            answers = {(r.status, r.body.replace(r.json()["request_id"].encode(), b""))
                       for r in (attempt(s, owner, "guess %d" % i, "198.51.100.%d" % (i % 50 + 1)) for i in range(200))}
            self.assertEqual(len(answers), 1, answers)  # all 401, one body
            (status, _), = answers
            self.assertEqual(status, 401)
            # Hold time just before the last failure, so the account is surely still backing off:
            # even the right password is refused, like a wrong one.
            shift(-30)
            r = attempt(s, owner, "the owner's password", "192.0.2.10")
            self.assertEqual((r.status, r.json()["error"]), (401, "invalid_credentials"))
            # Another account is not affected.
            other = unique_email()
            s.register(other)
            s.login(other)
            # The counters survive a restart.
            s.restart()
            r = attempt(s, owner, "the owner's password", "192.0.2.10")
            self.assertEqual(r.status, 401)
            shift(120)  # the back-off (at most 60 s here) has passed
            r = attempt(s, owner, "the owner's password", "192.0.2.10")
            self.assertEqual(r.status, 200, r)
            # A success clears the count: one more mistake does not throttle.
            self.assertEqual(attempt(s, owner, "oops", "192.0.2.10").status, 401)
            self.assertEqual(attempt(s, owner, "the owner's password", "192.0.2.10").status, 200)


class Timing(unittest.TestCase):
    def test_unknown_wrong_and_throttled_logins_take_the_same_time(self):
        env = dict(ENV)
        # The real default cost, so the hash dominates as in production.
        env.update({"GATEHOUSE_HASHING_OPS_LIMIT": "2", "GATEHOUSE_HASHING_MEM_LIMIT_KIB": "19456",
                    "GATEHOUSE_RATE_LIMIT_BACKOFF_MAX_S": "900"})
        with Server(env) as s:
            known, throttled = unique_email(), unique_email()
            s.register(known)
            s.register(throttled)
            for i in range(4):
                attempt(s, throttled, "wrong %d" % i, "192.0.2.1")
            samples = {"unknown": [], "wrong": [], "throttled": []}
            for i in range(40):  # interleaved, so machine noise hits all three alike
                for kind, email in (("unknown", unique_email()), ("wrong", known), ("throttled", throttled)):
                    t0 = time.perf_counter()
                    r = attempt(s, email, "not the password", "192.0.2.%d" % (i + 2))
                    samples[kind].append(time.perf_counter() - t0)
                    self.assertEqual(r.status, 401)
            med = {k: statistics.median(v) for k, v in samples.items()}
            base = med["wrong"]
            self.assertGreater(base, 0.005, med)  # a real hash ran
            for kind in ("unknown", "throttled"):
                self.assertLess(abs(med[kind] - base), 0.25 * base + 0.003, med)

    def test_registering_new_and_existing_emails_takes_the_same_time(self):
        env = dict(ENV)
        env.update({"GATEHOUSE_HASHING_OPS_LIMIT": "2", "GATEHOUSE_HASHING_MEM_LIMIT_KIB": "19456",
                    "GATEHOUSE_AUTH_EXISTING_EMAIL": "notify", "GATEHOUSE_RATE_LIMIT_REGISTER_IP": "100000"})
        with Server(env) as s:
            existing = unique_email()
            s.request("POST", "/auth/register", json_body={"email": existing, "password": "correct horse battery"})
            samples = {"new": [], "existing": []}
            for _ in range(25):
                for kind in ("new", "existing"):
                    e = unique_email() if kind == "new" else existing
                    t0 = time.perf_counter()
                    r = s.request("POST", "/auth/register", json_body={"email": e, "password": "correct horse battery"})
                    samples[kind].append(time.perf_counter() - t0)
                    self.assertEqual(r.status, 202)
            med = {k: statistics.median(v) for k, v in samples.items()}
            self.assertLess(abs(med["new"] - med["existing"]), 0.25 * med["existing"] + 0.005, med)


if __name__ == "__main__":
    unittest.main()
