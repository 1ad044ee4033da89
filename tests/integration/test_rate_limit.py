"""Rate limits (token buckets per IP, per account, per IP + account) and
trusted proxies (the brief's SECURITY.md 31-32)."""
import unittest

from harness import Server, unique_email


def login(s, email, ip=None, password="wrong password!"):
    headers = {"X-Forwarded-For": ip} if ip else {}
    return s.request("POST", "/auth/login", json_body={"email": email, "password": password}, headers=headers)


class Limits(unittest.TestCase):
    def test_excess_gets_429_with_standard_headers_and_other_routes_still_serve(self):
        env = {"GATEHOUSE_RATE_LIMIT_ENABLED": "true", "GATEHOUSE_RATE_LIMIT_LOGIN_IP": "5",
               "GATEHOUSE_RATE_LIMIT_LOGIN_ACCOUNT": "100", "GATEHOUSE_RATE_LIMIT_LOGIN_IP_ACCOUNT": "100"}
        with Server(env) as s:
            statuses = [login(s, unique_email()).status for _ in range(8)]
            self.assertEqual(statuses[:5], [401] * 5)
            self.assertEqual(statuses[5:], [429] * 3)
            r = login(s, unique_email())
            self.assertEqual(r.json()["error"], "rate_limited")
            self.assertGreaterEqual(int(r.header("Retry-After")), 1)
            self.assertEqual(r.header("RateLimit-Limit"), "5")
            self.assertEqual(r.header("RateLimit-Remaining"), "0")
            self.assertGreaterEqual(int(r.header("RateLimit-Reset")), 1)
            self.assertEqual(s.request("GET", "/health").status, 200)  # another class of route

    def test_one_account_is_limited_across_addresses(self):
        env = {"GATEHOUSE_RATE_LIMIT_ENABLED": "true", "GATEHOUSE_RATE_LIMIT_LOGIN_ACCOUNT": "4",
               "GATEHOUSE_SERVER_TRUSTED_PROXIES": "127.0.0.1/32"}
        with Server(env) as s:
            victim = unique_email()
            s.register(victim)
            statuses = [login(s, victim, ip="203.0.113.%d" % i).status for i in range(1, 8)]
            self.assertEqual(statuses[:4], [401] * 4)
            self.assertTrue(all(x == 429 for x in statuses[4:]), statuses)
            other = unique_email()
            s.register(other)
            self.assertEqual(login(s, other, password="correct horse battery").status, 200)

    def test_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(self):
        env = {"GATEHOUSE_RATE_LIMIT_ENABLED": "true", "GATEHOUSE_RATE_LIMIT_LOGIN_IP": "3",
               "GATEHOUSE_RATE_LIMIT_LOGIN_ACCOUNT": "100", "GATEHOUSE_RATE_LIMIT_LOGIN_IP_ACCOUNT": "100"}
        with Server(env) as s:  # no trusted proxies: the peer is the client
            statuses = [login(s, unique_email(), ip="198.51.100.%d" % i).status for i in range(1, 7)]
            self.assertEqual(statuses, [401] * 3 + [429] * 3)

    def test_a_trusted_proxy_names_the_client(self):
        env = {"GATEHOUSE_RATE_LIMIT_ENABLED": "true", "GATEHOUSE_RATE_LIMIT_LOGIN_IP": "2",
               "GATEHOUSE_RATE_LIMIT_LOGIN_ACCOUNT": "100", "GATEHOUSE_RATE_LIMIT_LOGIN_IP_ACCOUNT": "100",
               "GATEHOUSE_SERVER_TRUSTED_PROXIES": "127.0.0.0/8,10.0.0.0/8"}
        with Server(env) as s:
            # Each client address gets its own bucket; the proxy chain's trusted hops are skipped.
            for i in range(1, 6):
                for _ in range(2):
                    r = login(s, unique_email(), ip="192.0.2.%d, 10.1.2.3" % i)
                    self.assertEqual(r.status, 401, r)
            self.assertEqual(login(s, unique_email(), ip="192.0.2.1").status, 429)
            r = s.request("POST", "/auth/login", json_body={"email": unique_email(), "password": "x" * 10},
                          headers={"Forwarded": 'for="[2001:db8::7]:4711"'})
            self.assertEqual(r.status, 401)
            t = s.register()
            sessions = s.request("GET", "/auth/sessions", headers={"Authorization": "Bearer " + t["access_token"],
                                                                   "X-Forwarded-For": "192.0.2.99"})
            self.assertEqual(sessions.status, 200)


if __name__ == "__main__":
    unittest.main()
