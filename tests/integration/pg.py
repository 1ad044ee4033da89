"""A throwaway PostgreSQL 15 cluster for the integration tests, one per test
process, the Python twin of tests/support/pg_cluster.cpp.

The cluster starts at the first call that needs it (`new_database`, `url`,
`sql`): `initdb` in a temporary folder, then `postgres` listening only on a
Unix socket in that folder (no TCP port). Both refuse to run as root, so
under root they run as the `postgres` user. The server is stopped (SIGINT, a
fast shutdown) and its folder removed when this process exits, and it gets
SIGINT from the kernel if this process dies first (PR_SET_PDEATHSIG): no
cluster outlives its test.

  new_database()  an empty database migrated by `gatehouse migrate`; its
                  libpq URL (over the socket)
  sql(url, q)     runs `q` with psql; the rows as lists of strings
  terminate_backends(url)  ends every connection to that database but ours
  Cluster()       a cluster of a test's own (start, pause, resume, stop)
"""
import atexit
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

PG_BIN = "/usr/lib/postgresql/15/bin/"
PR_SET_PDEATHSIG = 1

_lock = threading.Lock()
_cluster = None


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _as_postgres(die_with_parent):
    """A preexec_fn: become `postgres` when root; then, as the uid change
    clears it, ask for SIGINT when the thread that started us ends."""
    parent = os.getpid()  # this process: the child's parent

    def demote():
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.initgroups("postgres", pw.pw_gid)
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            os.environ["HOME"] = pw.pw_dir
        if die_with_parent:
            _libc().prctl(PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl
                os._exit(1)
        os.setsid()  # out of the test's process group (a ^C goes to the test)
    return demote


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def sweep():
    """Removes the folders of clusters whose test process was killed (its
    server died with it, but nothing removed the folder)."""
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        path = os.path.join(tmp, name)
        if not name.startswith("gh-pg-py-"):
            continue
        try:
            with open(os.path.join(path, "owner")) as f:
                owner = int(f.read())
        except (OSError, ValueError):
            continue  # not ours
        if _alive(owner):
            continue
        try:
            with open(os.path.join(path, "data", "postmaster.pid")) as f:
                if _alive(int(f.readline())):
                    continue  # still shutting down
        except (OSError, ValueError):
            pass  # it stopped (and removed its pid file)
        shutil.rmtree(path, ignore_errors=True)


class Cluster:
    def __init__(self, durable=False):
        """`durable`: commits synced to disk (PostgreSQL's defaults), as the
        benchmark needs; the tests run without (no fsync, async commits)."""
        self.durable = durable
        self.dir = None
        self.proc = None
        self.log = None
        self._exited = threading.Event()
        self._started = threading.Event()
        self._error = None

    def start(self):
        sweep()
        self.dir = tempfile.mkdtemp(prefix="gh-pg-py-")
        with open(os.path.join(self.dir, "owner"), "w") as f:
            f.write(str(os.getpid()))
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no postgres user (install postgresql-15)")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data, self.log = os.path.join(self.dir, "data"), os.path.join(self.dir, "log")
        with open(self.log, "ab") as log:
            out = subprocess.run([PG_BIN + "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                                  "--locale=C", "--no-sync"], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 preexec_fn=_as_postgres(False))
        if out.returncode != 0:
            raise RuntimeError("initdb failed (exit %d): %s" % (out.returncode, self.read_log()))
        self.resume()

    def resume(self):
        """Starts the server on the cluster's folder (again, after pause())."""
        cmd = [PG_BIN + "postgres", "-D", os.path.join(self.dir, "data"), "-c", "listen_addresses=",
               "-c", "unix_socket_directories=" + self.dir, "-c", "max_connections=300"]
        if self.durable:
            cmd += ["-c", "shared_buffers=256MB"]
        else:
            cmd += ["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
                    "-c", "shared_buffers=32MB"]
        self._started.clear()
        self._exited.clear()
        self._error = None
        # PR_SET_PDEATHSIG fires when the *thread* that forked the server
        # ends, so the server is started by a thread of its own that lives
        # as long as this process (it waits on the server).
        threading.Thread(target=self._run, args=(cmd,), name="pg-cluster", daemon=True).start()
        self._started.wait()
        if self._error:
            raise self._error
        deadline = time.time() + 30
        while time.time() < deadline:
            if self._exited.is_set():
                raise RuntimeError("postgres exited: " + self.read_log())
            ready = subprocess.run([PG_BIN + "pg_isready", "-q", "-h", self.dir, "-d", "postgres", "-U", "postgres"])
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("postgres did not answer within 30 s: " + self.read_log())

    def _run(self, cmd):
        try:
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             preexec_fn=_as_postgres(True))
        except BaseException as e:  # noqa: B902 - reported to start()
            self._error = e
            self._started.set()
            return
        self._started.set()
        self.proc.wait()
        self._exited.set()

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def pause(self):
        """Stops the server (a fast shutdown: its sessions end), keeping the
        folder for resume()."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            if not self._exited.wait(30):
                self.proc.kill()
                self._exited.wait(10)

    def stop(self):
        self.pause()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def url(self, db):
        return "postgresql:///%s?host=%s&user=postgres" % (db, self.dir)


def cluster():
    """The process's cluster, started at the first call."""
    global _cluster
    with _lock:
        if _cluster is None:
            c = Cluster()
            try:
                c.start()
            except BaseException:
                c.stop()
                raise
            _cluster = c
            atexit.register(c.stop)
        return _cluster


def url(db="postgres"):
    return cluster().url(db)


def sql(database_url, query):
    """Runs `query` (one or more statements) with psql on `database_url`;
    returns the rows of the last one as lists of strings (bytea as \\x hex).
    Raises on any error."""
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
                          "-d", database_url, "-c", query], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PGCLIENTENCODING="UTF8"))
    if out.returncode != 0:
        raise RuntimeError("psql failed (%d) on %r: %s" % (out.returncode, query[:200], out.stderr))
    return [line.split("\x1f") for line in out.stdout.splitlines()]


def database_name(database_url):
    return database_url.split("///", 1)[1].split("?", 1)[0]


def create_database(prefix="gh", on=None):
    """An empty database (of this process's cluster, or of Cluster `on`); its URL."""
    c = on or cluster()
    name = "%s_%d_%s" % (prefix, os.getpid(), uuid.uuid4().hex[:10])
    sql(c.url("postgres"), "CREATE DATABASE " + name)
    return c.url(name)


def new_database(prefix="gh", on=None, gatehouse_bin=None, config=None):
    """An empty database with the schema, made by `gatehouse migrate`; its URL."""
    from harness import BIN, CONFIG
    u = create_database(prefix, on)
    env = dict(os.environ, GATEHOUSE_STORE_BACKEND="postgres", GATEHOUSE_STORE_URL=u)
    out = subprocess.run([gatehouse_bin or BIN, "migrate", "--config", config or CONFIG], env=env,
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("gatehouse migrate failed (%d): %s" % (out.returncode, out.stdout + out.stderr))
    return u


def terminate_backends(database_url):
    """pg_terminate_backend on every connection to that database except ours;
    how many were ended."""
    name = database_name(database_url)
    rows = sql(url(), "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                      "WHERE pid <> pg_backend_pid() AND datname = '%s'" % name)
    return int(rows[0][0])
