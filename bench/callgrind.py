#!/usr/bin/python3
"""Instructions per token check (`GET /auth/me` with a bearer token), counted
by callgrind: the server runs under `valgrind --tool=callgrind`, a client
sends N requests on one keep-alive connection, and the count of a 200-request
run is subtracted from a 2,000-request one (start-up and shutdown cancel out).

The store is seeded and the token obtained with the server running normally
(one Argon2id hash under valgrind would cost seconds); the valgrind runs reuse
that store, so the token's session is there. Same settings as bench/run.py.

  flock /tmp/gh-cpu.lock /usr/bin/python3 bench/callgrind.py --bin build/gatehouse [--keep DIR]

Prints {"per_request": ..., "long": ..., "short": ...}; with --keep, the two
callgrind.out files stay in DIR for callgrind_annotate.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: Gatehouse, wait_for, get)


def serve_under_callgrind(gh, out_file):
    gh.port = run.free_port()
    gh.logfile = open(gh.store + ".log", "a")
    gh.proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--dump-instr=no", f"--callgrind-out-file={out_file}",
                                gh.binary, "serve", "--config", gh.config, "--data", gh.store, "--listen",
                                f"127.0.0.1:{gh.port}"], env=gh.env, stdout=gh.logfile, stderr=subprocess.STDOUT)
    run.wait_for(lambda: run.get(gh.port, "/ready")[0] == 200, "gatehouse under callgrind", timeout=120)


def hello_under_callgrind(gh, out_file, tool):
    """The Pistache ceiling under callgrind, for the same requests as Gatehouse."""
    gh.port = run.free_port()
    gh.logfile = open(gh.store + ".log", "a")
    gh.proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--dump-instr=no", f"--callgrind-out-file={out_file}",
                                tool, "http-hello", str(gh.port), "2"], stdout=gh.logfile, stderr=subprocess.STDOUT)
    run.wait_for(lambda: run.get(gh.port, "/")[0] == 200, "http-hello under callgrind", timeout=120)


def token_checks(port, token, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": "Bearer " + token, "Connection": "keep-alive"}
    for _ in range(n):
        c.request("GET", "/auth/me", headers=headers)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"GET /auth/me answered {r.status}")
    c.close()


def total_ir(path):
    for line in open(path):
        m = re.match(r"(?:summary|totals): (\d+)", line)
        if m:
            return int(m.group(1))
    raise RuntimeError("no totals in " + path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--long", type=int, default=2000)
    ap.add_argument("--short", type=int, default=200)
    ap.add_argument("--keep", help="keep the callgrind.out files in this folder")
    ap.add_argument("--hello", action="store_true",
                    help="count bench_ceilings http-hello (Pistache answering 200 in its handler) on the same requests")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gatehouse-callgrind-")
    try:
        phc = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(a.bin)), "bench_ceilings"), "hash",
                              run.PASSWORD, str(run.OPS), str(run.MEM_KIB)], capture_output=True, text=True,
                             check=True).stdout
        phc = json.loads(phc)["phc"]
        gh = run.Gatehouse(os.path.abspath(a.bin), os.path.join(tmp, "store"))
        gh.seed(10, phc)
        gh.start()
        token = gh.login(0)["access_token"]
        gh.stop()
        out_dir = a.keep or tmp
        os.makedirs(out_dir, exist_ok=True)
        counts = {}
        for name, n in (("short", a.short), ("long", a.long)):
            out = os.path.join(out_dir, f"callgrind.out.{name}")
            if a.hello:
                hello_under_callgrind(gh, out, os.path.join(os.path.dirname(os.path.abspath(a.bin)), "bench_ceilings"))
            else:
                serve_under_callgrind(gh, out)
            token_checks(gh.port, token, n)
            gh.proc.send_signal(signal.SIGTERM)
            gh.proc.wait(120)
            gh.logfile.close()
            counts[name] = total_ir(out)
        per = (counts["long"] - counts["short"]) / (a.long - a.short)
        print(json.dumps({"per_request": round(per), "long": counts["long"], "short": counts["short"]}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
