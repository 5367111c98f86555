"""A tiny Chrome DevTools Protocol client over --remote-debugging-pipe (stdlib only).

Chromium reads NUL-terminated JSON commands from fd 3 and writes replies and events to
fd 4 (content/browser/devtools/devtools_pipe_handler.cc). Every wait is bounded.
"""
import fcntl
import json
import os
import select
import subprocess
import time


class Browser:
    def __init__(self, chromium, profile, log):
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        # Move the child's ends above 10 so dup2 onto 3 and 4 cannot clobber them.
        hi = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child_r, from_child_w)]
        os.close(to_child_r)
        os.close(from_child_w)

        def wire():
            os.dup2(hi[0], 3)
            os.dup2(hi[1], 4)

        args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--metrics-recording-only",
                "--remote-debugging-pipe", f"--user-data-dir={profile}", "--window-size=1400,1000", "about:blank"]
        self.proc = subprocess.Popen(args, pass_fds=(3, 4), preexec_fn=wire, stdout=log, stderr=log)
        os.close(hi[0])
        os.close(hi[1])
        self.w = to_child_w
        self.r = from_child_r
        self.buf = b""
        self.next_id = 0
        self.events = []

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for fd in (self.w, self.r):
            try:
                os.close(fd)
            except OSError:
                pass

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from chromium")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise EOFError("chromium closed the pipe")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=20):
        self.next_id += 1
        mid = self.next_id
        m = {"id": mid, "method": method, "params": params or {}}
        if session:
            m["sessionId"] = session
        os.write(self.w, json.dumps(m).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_message(deadline)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method, session=None, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method and (session is None or e.get("sessionId") == session):
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))


class Page:
    """One tab, attached with flatten=true so commands carry its sessionId."""

    def __init__(self, browser):
        self.b = browser
        # The first command waits for Chromium's start-up: over 20 s once, on a fresh
        # profile with the 2-core machine loaded by builds.
        target = browser.send("Target.createTarget", {"url": "about:blank"}, timeout=90)["targetId"]
        self.s = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")

    def send(self, method, params=None, timeout=20):
        return self.b.send(method, params, session=self.s, timeout=timeout)

    def drop_events(self, method):
        self.b.events = [e for e in self.b.events if e.get("method") != method]

    def load(self, action, timeout=20):
        """Runs action (a navigation or a form submit) and waits for the next load event."""
        self.drop_events("Page.loadEventFired")
        start = time.monotonic()
        action()
        self.b.wait_event("Page.loadEventFired", session=self.s, timeout=timeout)
        return time.monotonic() - start

    def goto(self, url):
        return self.load(lambda: self.send("Page.navigate", {"url": url}))

    def eval(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate {expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def submit(self, expression):
        # DevTools evaluation is not subject to the page's CSP (the page itself has no script).
        return self.load(lambda: self.eval(expression))

    def console(self):
        """Log entries and console messages so far (CSP violations are reported there)."""
        out = []
        for e in self.b.events:
            if e.get("sessionId") != self.s:
                continue
            if e.get("method") == "Log.entryAdded":
                out.append(e["params"]["entry"].get("text", ""))
            elif e.get("method") == "Runtime.consoleAPICalled":
                out.append(" ".join(str(a.get("value", "")) for a in e["params"].get("args", [])))
            elif e.get("method") == "Runtime.exceptionThrown":
                out.append(str(e["params"]))
        return out
