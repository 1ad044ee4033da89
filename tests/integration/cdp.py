"""A small Chrome DevTools Protocol driver for headless Chromium, standard
library only: the browser is started with --remote-debugging-pipe and spoken
to over file descriptors 3 (commands in) and 4 (answers and events out),
one JSON message per NUL-terminated chunk.

    with Browser() as browser:
        page = browser.new_page()
        page.navigate("http://127.0.0.1:8000/auth/magic-link?token=...")
        page.evaluate("document.querySelector('button').click()")
        page.wait_for_url(lambda url: url.startswith("http://127.0.0.1:5000/"))
        page.requested_urls()      # every URL the page asked for
        page.csp_violations()      # Content-Security-Policy reports, if any

Each Browser has a fresh profile folder, removed on close; only the process
started here is ever signalled. Waits raise TimeoutError with what was seen.
"""
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# The flags every browser test here uses: no background connections (this
# machine has no network), no first-run UI, a fresh profile.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Injected before any page script (CDP scripts are not subject to the page's
# CSP): records every securitypolicyviolation event of the document.
_CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || ''));
});
"""


class CdpError(RuntimeError):
    """The browser answered a command with an error."""


class Browser:
    def __init__(self, timeout=30.0, extra_flags=()):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="gatehouse-chromium-")
        cmd_r, cmd_w = os.pipe()  # we write commands; the browser reads fd 3
        out_r, out_w = os.pipe()  # the browser writes fd 4; we read
        # Move the browser's ends above 10 so the redirections below cannot clobber them.
        child_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(out_w, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (cmd_r, out_w):
            os.close(fd)
        args = [CHROMIUM, *FLAGS, "--user-data-dir=" + self.profile, "--remote-debugging-pipe",
                *extra_flags, "about:blank"]
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", 'exec "$@" 3<&%d 4>&%d %d<&- %d>&-' % (child_r, child_w, child_r, child_w),
             "bash", *args],
            pass_fds=(child_r, child_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        os.close(child_r)
        os.close(child_w)
        self._out = os.fdopen(cmd_w, "wb", buffering=0)
        self._in = os.fdopen(out_r, "rb", buffering=0)
        self._lock = threading.Condition()
        self._next_id = 0
        self._answers = {}
        self.events = []  # (session id or None, method, params), in arrival order
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._stderr = []
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()
        self.send("Target.setDiscoverTargets", {"discover": True})

    # -- protocol ------------------------------------------------------------
    def _drain_stderr(self):
        for line in self.proc.stderr:
            self._stderr.append(line.decode("utf-8", "replace"))
            del self._stderr[:-200]

    def _read(self):
        buf = b""
        while True:
            chunk = self._in.read(65536)
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._lock:
                    if "id" in msg:
                        self._answers[msg["id"]] = msg
                    else:
                        self.events.append((msg.get("sessionId"), msg.get("method"), msg.get("params", {})))
                    self._lock.notify_all()
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def send(self, method, params=None, session=None, timeout=None):
        """Sends one command and returns its result (raises CdpError)."""
        with self._lock:
            self._next_id += 1
            mid = self._next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._out.write(json.dumps(msg).encode() + b"\0")
        deadline = time.time() + (timeout or self.timeout)
        with self._lock:
            while mid not in self._answers:
                if self._closed:
                    raise CdpError("the browser exited: " + "".join(self._stderr[-20:]))
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError("no answer to %s" % method)
                self._lock.wait(left)
            answer = self._answers.pop(mid)
        if "error" in answer:
            raise CdpError("%s: %s" % (method, answer["error"]))
        return answer.get("result", {})

    def wait_event(self, method, predicate=lambda params: True, session=None, timeout=None, since=0):
        """The params of the first event `method` (from index `since` of
        self.events) of `session` that `predicate` accepts."""
        deadline = time.time() + (timeout or self.timeout)
        with self._lock:
            while True:
                for sid, m, params in self.events[since:]:
                    if m == method and (session is None or sid == session) and predicate(params):
                        return params
                left = deadline - time.time()
                if left <= 0 or self._closed:
                    raise TimeoutError("no %s event" % method)
                self._lock.wait(left)

    # -- pages ---------------------------------------------------------------
    def new_page(self):
        """A new tab with the Page, Runtime and Network domains on, and the
        CSP watch installed."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        for domain in ("Page", "Runtime", "Network"):
            page.send(domain + ".enable")
        page.add_init_script(_CSP_WATCH)
        return page

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send("Browser.close", timeout=5)
            except (CdpError, TimeoutError, OSError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        self._drain.join(5)
        for f in (self._out, self._in, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Page:
    def __init__(self, browser, target_id, session_id):
        self.browser = browser
        self.target_id = target_id
        self.session = session_id

    def send(self, method, params=None, timeout=None):
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def _events(self, method):
        return [p for sid, m, p in list(self.browser.events) if sid == self.session and m == method]

    def add_init_script(self, source):
        """Runs `source` in every new document before its own scripts."""
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": source})

    def navigate(self, url, wait_load=True):
        """Opens `url`; waits for its load event unless told not to."""
        since = len(self.browser.events)
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError("navigate %s: %s" % (url, result["errorText"]))
        if wait_load:
            self.browser.wait_event("Page.loadEventFired", session=self.session, since=since)
        return result

    def evaluate(self, expression, await_promise=True):
        """The value of a JavaScript expression in the page (JSON-able values
        only); raises CdpError when it throws."""
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": await_promise})
        if "exceptionDetails" in r:
            raise CdpError("evaluate %r: %s" % (expression, r["exceptionDetails"].get("exception", {})
                                                .get("description", r["exceptionDetails"].get("text"))))
        return r["result"].get("value")

    def url(self):
        """The tab's current URL (as the browser has it, also mid-navigation)."""
        return self.browser.send("Target.getTargetInfo", {"targetId": self.target_id})["targetInfo"]["url"]

    def wait_for(self, expression, timeout=None):
        """Polls `expression` until it is truthy and returns its value. An
        expression that throws (the page is between documents) counts as false."""
        deadline = time.time() + (timeout or self.browser.timeout)
        last = None
        while time.time() < deadline:
            try:
                last = self.evaluate(expression)
            except CdpError as e:
                last = e
            else:
                if last:
                    return last
            time.sleep(0.05)
        raise TimeoutError("%r stayed %r (url %s)" % (expression, last, self.url()))

    def wait_for_url(self, predicate, timeout=None):
        """Waits until predicate(current URL) is true; returns the URL."""
        deadline = time.time() + (timeout or self.browser.timeout)
        while time.time() < deadline:
            url = self.url()
            if predicate(url):
                return url
            time.sleep(0.05)
        raise TimeoutError("the URL stayed %s" % self.url())

    def requested_urls(self):
        """Every URL a request was sent for, in order (navigations, fetches,
        scripts, styles)."""
        return [p["request"]["url"] for p in self._events("Network.requestWillBeSent")]

    def history_urls(self):
        """The URLs of the tab's navigation history."""
        return [e["url"] for e in self.send("Page.getNavigationHistory")["entries"]]

    def response_headers(self, url):
        """The headers of the last response received for exactly `url`."""
        found = [p["response"]["headers"] for p in self._events("Network.responseReceived")
                 if p["response"]["url"] == url]
        return {k.lower(): v for k, v in found[-1].items()} if found else None

    def csp_violations(self):
        """Content-Security-Policy violations of the current document."""
        return self.evaluate("window.__cspViolations || []")

    def console_messages(self):
        """Console and browser-log texts seen so far (CSP errors land here too)."""
        texts = [" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                 for p in self._events("Runtime.consoleAPICalled")]
        texts += [p["exceptionDetails"].get("text", "") for p in self._events("Runtime.exceptionThrown")]
        return texts
