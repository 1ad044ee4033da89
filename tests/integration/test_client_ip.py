"""The client address behind trusted proxies (issue 12 items 4 and 10): every
field line of the configured header counts, walked from the right through the
trusted proxies, so a client's own forged line in front of the one its proxy
appends changes nothing; IPv6 clients are limited per /64."""
import http.client
import json
import unittest

from accounts import account
from harness import HTTP_TIMEOUT_S, Server, bearer, unique_email

PROXY = {"GATEHOUSE_SERVER_TRUSTED_PROXIES": "127.0.0.1/32"}


def send(s, method, path, header_lines, json_body=None):
    """One request with `header_lines` as given: a list of (name, value), so a
    header may come more than once (as from a proxy that appends its own line)."""
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=HTTP_TIMEOUT_S)
    try:
        c.putrequest(method, path)
        body = json.dumps(json_body).encode() if json_body is not None else b""
        for name, value in header_lines:
            c.putheader(name, value)
        if json_body is not None:
            c.putheader("Content-Type", "application/json")
        c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def session_ip(s, header_lines):
    """The address a login through these header lines is recorded with."""
    email = unique_email()
    s.register(email)
    status, body = send(s, "POST", "/auth/login", header_lines,
                        {"email": email, "password": "correct horse battery"})
    assert status == 200, body
    t = json.loads(body)["access_token"]
    sessions = s.request("GET", "/auth/sessions", headers=bearer(t)).json()["sessions"]
    return [x["ip"] for x in sessions if x["current"]][0]


class ForwardedFor(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server(PROXY)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def test_a_forged_line_before_the_proxys_line_does_not_pass_an_api_token_allowlist(self):
        u = account(self.s, "user")
        r = self.s.request("POST", "/auth/api-tokens", headers=bearer(u["token"]),
                           json_body={"name": "office", "allowed_ips": ["198.51.100.7/32"]})
        self.assertEqual(r.status, 201, r)
        key = ("X-API-Key", r.json()["token"])
        # The client forges the allowed address; its proxy appends the real one.
        forged = [key, ("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", "203.0.113.9")]
        self.assertEqual(send(self.s, "GET", "/auth/me", forged)[0], 403)
        # The same in one line, the way a proxy that appends to the value sends it.
        self.assertEqual(send(self.s, "GET", "/auth/me", [key, ("X-Forwarded-For", "198.51.100.7, 203.0.113.9")])[0],
                         403)
        # The allowed client itself, through the proxy.
        self.assertEqual(send(self.s, "GET", "/auth/me", [key, ("X-Forwarded-For", "198.51.100.7")])[0], 200)
        self.assertEqual(send(self.s, "GET", "/auth/me",
                              [key, ("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "198.51.100.7")])[0], 200)

    def test_sessions_and_logs_record_the_address_the_proxy_appended(self):
        lines = [("X-Forwarded-For", "10.6.6.6, 192.0.2.1"), ("X-Forwarded-For", "203.0.113.77")]
        self.assertEqual(session_ip(self.s, lines), "203.0.113.77")
        # Not an address where the walk reaches it: the proxy that wrote it is the client.
        self.assertEqual(session_ip(self.s, [("X-Forwarded-For", "unknown")]), "127.0.0.1")
        self.assertEqual(session_ip(self.s, [("X-Forwarded-For", "203.0.113.5:4711")]), "203.0.113.5")

    def test_the_forwarded_header_is_ignored_unless_configured(self):
        self.assertEqual(session_ip(self.s, [("Forwarded", "for=203.0.113.8")]), "127.0.0.1")


class PerIpLimit(unittest.TestCase):
    def test_the_per_ip_limit_keys_on_the_real_client_not_the_forged_lines(self):
        env = dict(PROXY, GATEHOUSE_RATE_LIMIT_ENABLED="true", GATEHOUSE_RATE_LIMIT_LOGIN_IP="3",
                   GATEHOUSE_RATE_LIMIT_LOGIN_ACCOUNT="1000", GATEHOUSE_RATE_LIMIT_LOGIN_IP_ACCOUNT="1000")
        with Server(env) as s:
            statuses = [send(s, "POST", "/auth/login",
                             [("X-Forwarded-For", "198.51.100.%d" % i), ("X-Forwarded-For", "203.0.113.50")],
                             {"email": unique_email(), "password": "wrong password"})[0] for i in range(1, 7)]
            self.assertEqual(statuses, [401] * 3 + [429] * 3)
            # Another real client has its own bucket.
            self.assertEqual(send(s, "POST", "/auth/login", [("X-Forwarded-For", "203.0.113.51")],
                                  {"email": unique_email(), "password": "wrong password"})[0], 401)

    def test_ipv6_addresses_of_one_64_share_a_bucket(self):
        env = dict(PROXY, GATEHOUSE_RATE_LIMIT_ENABLED="true", GATEHOUSE_RATE_LIMIT_LOGIN_IP="3",
                   GATEHOUSE_RATE_LIMIT_LOGIN_ACCOUNT="1000", GATEHOUSE_RATE_LIMIT_LOGIN_IP_ACCOUNT="1000")

        def login_from(s, ip):
            return send(s, "POST", "/auth/login", [("X-Forwarded-For", ip)],
                        {"email": unique_email(), "password": "wrong password"})[0]

        with Server(env) as s:
            statuses = [login_from(s, "2001:db8:1:2:%x::%x" % (i * 4099, i)) for i in range(1, 7)]
            self.assertEqual(statuses, [401] * 3 + [429] * 3)
            self.assertEqual(login_from(s, "2001:db8:1:3::1"), 401)  # the next /64
            self.assertEqual(login_from(s, "198.51.100.1"), 401)
        with Server(dict(env, GATEHOUSE_RATE_LIMIT_IPV6_PREFIX="128")) as s:  # per address, if configured
            self.assertEqual([login_from(s, "2001:db8:1:2::%x" % i) for i in range(1, 7)], [401] * 6)


class ForwardedHeader(unittest.TestCase):
    def test_rfc7239_forwarded_when_configured(self):
        with Server(dict(PROXY, GATEHOUSE_SERVER_CLIENT_IP_HEADER="forwarded")) as s:
            lines = [("Forwarded", "for=198.51.100.7;proto=https"),
                     ("Forwarded", 'for="[2001:db8:cafe::17]:4711";proto=https;by=127.0.0.1')]
            self.assertEqual(session_ip(s, lines), "2001:db8:cafe::17")
            self.assertEqual(session_ip(s, [("Forwarded", 'For="198.51.100.9:80", for=127.0.0.1')]), "198.51.100.9")
            self.assertEqual(session_ip(s, [("Forwarded", "for=_hidden, for=203.0.113.3")]), "203.0.113.3")
            # X-Forwarded-For is now what the client wrote: ignored.
            self.assertEqual(session_ip(s, [("X-Forwarded-For", "203.0.113.8")]), "127.0.0.1")


if __name__ == "__main__":
    unittest.main()
