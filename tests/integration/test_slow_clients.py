"""Slow clients (the brief's SECURITY.md 15): slowloris headers and slow bodies are cut
off at their timeouts while other clients are served; a flood of idle and
abandoned connections neither stops the server nor grows its memory."""
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

    def rss_kib(self):
        with open(f"/proc/{self.s.proc.pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

    def test_a_connection_flood_is_survived_with_bounded_memory(self):
        before = self.rss_kib()
        for round_ in range(3):
            flood = []
            for i in range(300):
                sock = socket.create_connection(("127.0.0.1", self.s.port))
                if i % 3 == 1:  # half a request, then silence
                    sock.sendall(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
                elif i % 3 == 2:  # a whole request, then gone before the answer
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sock.close()
                    continue
                flood.append(sock)
            t0 = time.time()
            self.assertEqual(self.s.request("GET", "/health").status, 200)
            self.assertLess(time.time() - t0, 1.0)
            for sock in flood:
                sock.close()
        time.sleep(1.5)  # the header and body timeouts (1 s) end what is left
        self.assertTrue(self.s.alive())
        self.assertEqual(self.s.request("GET", "/health").status, 200)
        self.assertLess(self.rss_kib() - before, 32 * 1024, "memory grew by more than 32 MiB")


if __name__ == "__main__":
    unittest.main()
