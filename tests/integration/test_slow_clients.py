"""Slow clients (SECURITY.md 15): slowloris headers and slow bodies are cut
off at their timeouts while other clients are served."""
import socket
import time
import unittest

from harness import Server, ServerTest


class SlowClients(ServerTest, unittest.TestCase):
    env = {"GATEHOUSE_SERVER_HEADER_TIMEOUT_MS": "1000", "GATEHOUSE_SERVER_BODY_TIMEOUT_MS": "1000"}

    def wait_closed(self, sock, seconds):
        """True when the server closes (or answers 408 on) the connection in time."""
        sock.settimeout(seconds)
        try:
            data = sock.recv(4096)
        except socket.timeout:
            return False
        return data == b"" or data.startswith(b"HTTP/1.1 408")

    def test_slowloris_headers_are_cut_off_and_others_are_served(self):
        slow = [socket.create_connection(("127.0.0.1", self.s.port)) for _ in range(20)]
        for sock in slow:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1")  # never finishes
        t0 = time.time()
        self.assertEqual(self.s.request("GET", "/health").status, 200)
        self.assertLess(time.time() - t0, 0.5)
        for sock in slow:
            self.assertTrue(self.wait_closed(sock, 5))
            sock.close()

    def test_a_slow_body_is_cut_off(self):
        sock = socket.create_connection(("127.0.0.1", self.s.port))
        sock.sendall(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"email\":")
        self.assertEqual(self.s.request("GET", "/health").status, 200)
        self.assertTrue(self.wait_closed(sock, 5))
        sock.close()


if __name__ == "__main__":
    unittest.main()
