"""Crash consistency (issue 8): a short run of tests/crash/crash_test.py —
20 SIGKILLs of the real server under concurrent writes, the store checked
against the ledger of acknowledged writes after each — plus two self-tests
showing that the tool does catch lost acknowledged writes and a broken audit
chain. The long run is `make soak` (500 kills)."""
import os
import random
import re
import subprocess
import sys
import unittest

from harness import BIN, CONFIG, lmdb_only

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.normpath(os.path.join(HERE, "..", "crash", "crash_test.py"))


def run_tool(*args, timeout=240):
    cmd = [sys.executable, TOOL, "--bin", BIN, "--config", CONFIG, *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return out.returncode, out.stdout + out.stderr


@lmdb_only("tests/crash/crash_test.py runs its own servers on LMDB folders and checks their files")
class CrashConsistency(unittest.TestCase):
    def test_twenty_kills_lose_no_acknowledged_write(self):
        seed = random.randrange(1_000_000)
        code, out = run_tool("--kills", "20", "--seed", str(seed))
        print(out[-1500:])
        self.assertEqual(code, 0, "crash_test.py --kills 20 --seed %d failed:\n%s" % (seed, out[-6000:]))
        self.assertIn("violations: 0", out)
        self.assertRegex(out, r"kills: 20 SIGKILLs under load")
        acked = int(re.search(r"acknowledged writes: (\d+)", out).group(1))
        self.assertGreater(acked, 200, out)  # the load really ran between the kills
        self.assertRegex(out, r"`gatehouse audit verify` OK 20 times on the stopped store")

    def test_the_tool_catches_lost_acknowledged_writes(self):
        # Rolling the store back after a kill is what a server that answered
        # before its commit was durable would look like.
        code, out = run_tool("--kills", "3", "--seed", "7", "--inject", "rollback")
        self.assertEqual(code, 1, out[-3000:])
        self.assertIn("injected: store rolled back", out)
        self.assertRegex(out, r"VIOLATION \[kill 2\] .*(acknowledged|missing)")

    def test_the_tool_catches_a_broken_audit_chain(self):
        code, out = run_tool("--kills", "2", "--seed", "7", "--inject", "break-audit")
        self.assertEqual(code, 1, out[-3000:])
        self.assertIn("audit record 1: hash does not match its content", out)
        self.assertIn("`gatehouse audit verify` failed (exit 1): audit log BROKEN", out)


if __name__ == "__main__":
    unittest.main()
