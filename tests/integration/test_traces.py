"""Traces: W3C traceparent in and out, a server span per request with child
spans for the actor hops, OTLP/HTTP JSON export, /admin/traces, and trace
ids in the logs."""
import base64
import glob
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

from accounts import account
from harness import Server, bearer, unique_email, wait_until

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


class Receiver(http.server.BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.bodies.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


class Traces(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.collector = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=cls.collector.serve_forever, daemon=True).start()
        cls.s = Server({"GATEHOUSE_OTLP_ENDPOINT": "http://127.0.0.1:%d" % cls.collector.server_port,
                        "GATEHOUSE_TRACING_SAMPLE_RATIO": "1.0",
                        "GATEHOUSE_RATE_LIMIT_ENABLED": "true"})

    @classmethod
    def tearDownClass(cls):
        cls.s.close()
        cls.collector.shutdown()
        cls.collector.server_close()

    def exported_spans(self):
        return [sp for _, _, b in Receiver.bodies for rs in b["resourceSpans"] for ss in rs["scopeSpans"]
                for sp in ss["spans"]]

    def test_traceparent_is_continued_and_emitted(self):
        r = self.s.request("GET", "/health", headers={"traceparent": "00-%s-%s-01" % (PARENT_TRACE, PARENT_SPAN)})
        m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", r.header("traceparent"))
        self.assertTrue(m)
        self.assertEqual(m.group(1), PARENT_TRACE)
        self.assertNotEqual(m.group(2), PARENT_SPAN)
        for bad in ("00-%s-%s-01" % ("0" * 32, PARENT_SPAN), "ff-%s-%s-01" % (PARENT_TRACE, PARENT_SPAN),
                    "00-%s-%s-01" % (PARENT_TRACE.upper(), PARENT_SPAN), "garbage"):
            got = self.s.request("GET", "/health", headers={"traceparent": bad}).header("traceparent")
            self.assertNotIn(PARENT_TRACE, got)
            self.assertRegex(got, r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")

    def test_a_login_is_one_trace_across_the_actor_hops(self):
        e = unique_email()
        self.s.register(e)
        trace = "0af7651916cd43dd8448eb211c80319c"
        r = self.s.request("POST", "/auth/login", json_body={"email": e, "password": "correct horse battery"},
                           headers={"traceparent": "00-%s-b7ad6b7169203331-01" % trace, "User-Agent": "trace-test/1"})
        self.assertEqual(r.status, 200)
        names = {"POST /auth/login", "rate_limit.check", "hash.verify", "store.commit", "token.sign"}
        self.assertTrue(wait_until(lambda: names <= {s["name"] for s in self.exported_spans()
                                                     if s["traceId"] == trace}, 10))
        path, ctype, _ = Receiver.bodies[0]
        self.assertEqual((path, ctype), ("/v1/traces", "application/json"))
        spans = [s for s in self.exported_spans() if s["traceId"] == trace]
        server = [s for s in spans if s["name"] == "POST /auth/login"][0]
        self.assertEqual(server["kind"], 2)
        self.assertEqual(server["parentSpanId"], "b7ad6b7169203331")
        attrs = {a["key"]: a["value"] for a in server["attributes"]}
        self.assertEqual(attrs["http.response.status_code"], {"intValue": "200"})
        self.assertEqual(attrs["http.route"], {"stringValue": "/auth/login"})
        self.assertEqual(attrs["url.path"], {"stringValue": "/auth/login"})
        self.assertEqual(attrs["http.request.method"], {"stringValue": "POST"})
        self.assertEqual(attrs["user_agent.original"], {"stringValue": "trace-test/1"})
        for child in (s for s in spans if s is not server):
            self.assertEqual(child["parentSpanId"], server["spanId"], child["name"])
            self.assertRegex(child["spanId"], r"^[0-9a-f]{16}$")
            self.assertTrue(int(child["startTimeUnixNano"]) >= int(server["startTimeUnixNano"]))
            self.assertTrue(int(child["endTimeUnixNano"]) <= int(server["endTimeUnixNano"]))
        # The log line of the request carries the same ids.
        line = [json.loads(l) for l in self.s.lines if r.header("X-Request-Id") in l][0]
        self.assertEqual(line["trace_id"], trace)
        self.assertEqual(line["span_id"], server["spanId"])
        # And the built-in trace view shows it to an admin.
        admin = account(self.s, "admin")
        view = self.s.request("GET", "/admin/traces", headers=bearer(admin["token"])).json()["traces"]
        mine = [t for t in view if t["trace_id"] == trace][0]
        self.assertTrue(names <= {s["name"] for s in mine["spans"]})
        user = account(self.s, "user")
        self.assertEqual(self.s.request("GET", "/admin/traces", headers=bearer(user["token"])).status, 403)


class Sampling(unittest.TestCase):
    """[tracing] sample_ratio 0: new traces are not recorded (traceparent says
    -00), a caller's sampled flag is followed, and a sampled-out request's
    log line still carries its ids."""

    def test_parent_based_sampling(self):
        with Server({"GATEHOUSE_TRACING_SAMPLE_RATIO": "0"}) as s:
            admin = account(s, "admin")
            r = s.request("GET", "/health")
            m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-00", r.header("traceparent"))
            self.assertTrue(m, r.header("traceparent"))
            rid = r.header("X-Request-Id")
            self.assertTrue(wait_until(lambda: any(rid in l for l in s.lines), 5))  # the log is buffered
            line = [json.loads(l) for l in s.lines if rid in l][0]
            self.assertEqual((line["trace_id"], line["span_id"]), (m.group(1), m.group(2)))
            trace = "1af7651916cd43dd8448eb211c80319d"
            r = s.request("GET", "/health", headers={"traceparent": "00-%s-b7ad6b7169203331-01" % trace})
            self.assertRegex(r.header("traceparent"), r"^00-%s-[0-9a-f]{16}-01$" % trace)
            unsampled = "2af7651916cd43dd8448eb211c80319e"
            r = s.request("GET", "/health", headers={"traceparent": "00-%s-b7ad6b7169203331-00" % unsampled})
            self.assertRegex(r.header("traceparent"), r"^00-%s-[0-9a-f]{16}-00$" % unsampled)
            view = s.request("GET", "/admin/traces", headers=bearer(admin["token"])).json()["traces"]
            ids = {t["trace_id"] for t in view}
            self.assertIn(trace, ids)
            self.assertNotIn(unsampled, ids)
            self.assertNotIn(m.group(1), ids)


PROTOS = os.path.join(os.path.dirname(__file__), "../tools/node_modules/@opentelemetry/otlp-grpc-exporter-base/build/protos")


class OfficialProtos(unittest.TestCase):
    """The exported JSON parses as an ExportTraceServiceRequest of the official
    OpenTelemetry protos (installed by `make test-tools`), strictly: an
    unknown field or a wrong type fails."""

    def test_exported_json_matches_the_protos(self):
        self.assertTrue(os.path.isdir(PROTOS), "run `make test-tools`")
        out = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, out, True)
        protos = [os.path.relpath(p, PROTOS) for p in glob.glob(os.path.join(PROTOS, "opentelemetry/proto/**/*.proto"),
                                                                  recursive=True)]
        subprocess.run(["protoc", "-I", PROTOS, "--python_out", out, *protos], check=True)
        sys.path.insert(0, out)
        self.addCleanup(sys.path.remove, out)
        from google.protobuf import json_format
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        Receiver.bodies.clear()
        collector = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=collector.serve_forever, daemon=True).start()
        self.addCleanup(collector.server_close)
        self.addCleanup(collector.shutdown)
        with Server({"GATEHOUSE_OTLP_ENDPOINT": "http://127.0.0.1:%d" % collector.server_port,
                     "GATEHOUSE_TRACING_SAMPLE_RATIO": "1.0"}) as s:
            e = unique_email()
            s.register(e)
            s.login(e)
            self.assertTrue(wait_until(lambda: Receiver.bodies, 10))
        hex_to_b64 = lambda h: base64.b64encode(bytes.fromhex(h)).decode()
        for _, _, body in Receiver.bodies:
            for rs in body["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    for sp in ss["spans"]:
                        for k in ("traceId", "spanId", "parentSpanId"):
                            if k in sp:
                                sp[k] = hex_to_b64(sp[k])
            msg = json_format.ParseDict(body, trace_service_pb2.ExportTraceServiceRequest())
            spans = [sp for rs in msg.resource_spans for ss in rs.scope_spans for sp in ss.spans]
            self.assertTrue(spans)
            for sp in spans:
                self.assertEqual((len(sp.trace_id), len(sp.span_id)), (16, 8))
                self.assertGreater(sp.end_time_unix_nano, sp.start_time_unix_nano - 1)
                self.assertIn(sp.kind, (1, 2, 3))


if __name__ == "__main__":
    unittest.main()
