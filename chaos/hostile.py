#!/usr/bin/env python3
"""Hostile clients against a live batond (real Redis and PostgreSQL):

1. slowloris: N idle or slow connections (a header byte every few seconds) while a
   normal client keeps being served; its latency is measured before and during; the
   header deadline (BATON_HEADER_TIMEOUT_MS) must close every one of them, none early;
2. oversized request lines, headers and bodies are refused (413/414/431), never crash;
3. a burst of 10x the normal connection count degrades gracefully.

  hostile.py [--short] [--slow N] [--slow-seconds S] [--burst N] [--nofile N]
             [--header-timeout-ms MS] [--env KEY=VALUE ...]

Prints figures and exits non-zero when a check fails.
"""

import argparse
import os
import resource
import select
import selectors
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

AUTH = "Authorization: Bearer %s\r\n" % harness.TOKEN


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def fmt_ms(values):
    return "p50 %.1f ms, p99 %.1f ms, max %.1f ms (n=%d)" % (percentile(values, 50) * 1000, percentile(values, 99) * 1000,
                                                          max(values) * 1000 if values else float("nan"), len(values))


class NormalClient(threading.Thread):
    """A well-behaved client: alternately a keep-alive POST /leader and a GET /healthz on
    a fresh connection, every `period` seconds. Records latencies and failures."""

    def __init__(self, port, period=0.05):
        super().__init__(daemon=True)
        self.port = port
        self.period = period
        self.stop = threading.Event()
        self.latencies = []
        self.failures = []
        self.keepalive = harness.Client(port, timeout=10)

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            if n % 2:
                st, _, body, s, r = self.keepalive.post("/leader", {"lease": "normal-client", "holder": "pod-normal", "ttl_ms": 30000})
            else:
                fresh = harness.Client(self.port, timeout=10)
                st, _, body, s, r = fresh.get("/healthz")
                fresh.close()
            if st in (200, 409):
                self.latencies.append(r - s)
            else:
                self.failures.append((st, body))
            self.stop.wait(self.period)

    def finish(self):
        self.stop.set()
        self.join(15)
        return self.latencies, self.failures


def measure(port, seconds):
    c = NormalClient(port)
    c.start()
    time.sleep(seconds)
    return c.finish()


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, want)) if hard != resource.RLIM_INFINITY else max(soft, want)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def slowloris(port, count, seconds, report, problems, header_timeout_s=0.0):
    """Half the connections say nothing; half send a request a byte at a time, every 2-5 s.
    Records when the server closes each one (seconds after it was opened)."""
    conns = []
    opened = refused = 0
    payload = ("POST /leader HTTP/1.1\r\nHost: x\r\n" + AUTH + "X-Slow: " + "a" * 4000 + "\r\n").encode()
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        t = time.monotonic()
        try:
            s.connect_ex(("127.0.0.1", port))
        except OSError:
            refused += 1
            s.close()
            continue
        conns.append({"sock": s, "slow": i % 2 == 1, "sent": 0, "next": time.monotonic() + (i % 50) * 0.05, "closed": None,
                      "opened": t})
        opened += 1
    watch = select.poll()
    by_fd = {}
    for c in conns:
        watch.register(c["sock"].fileno(), select.POLLIN)
        by_fd[c["sock"].fileno()] = c

    def closed(c, now):
        if c["closed"] is None:
            c["closed"] = now - c["opened"]
            watch.unregister(c["sock"].fileno())

    def check_closed():
        now = time.monotonic()
        for fd, _ in watch.poll(0):
            c = by_fd[fd]
            try:
                if c["sock"].recv(1, socket.MSG_PEEK) == b"":
                    closed(c, now)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                closed(c, now)

    time.sleep(0.5)
    normal = NormalClient(port)
    normal.start()
    deadline = time.monotonic() + seconds
    rss = []
    while time.monotonic() < deadline:
        now = time.monotonic()
        for c in conns:
            if c["closed"] is not None or not c["slow"] or c["next"] > now:
                continue
            try:
                if c["sent"] < len(payload):
                    c["sock"].send(payload[c["sent"]:c["sent"] + 1])
                    c["sent"] += 1
                c["next"] = now + 2 + (hash((id(c), c["sent"])) % 300) / 100.0  # every 2-5 s
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                closed(c, now)
        check_closed()
        rss.append(report["batond"].rss_kb() or 0)
        time.sleep(0.25)
    latencies, failures = normal.finish()
    check_closed()
    for c in conns:
        c["sock"].close()
    after = sorted(c["closed"] for c in conns if c["closed"] is not None)
    open_slow = sum(1 for c in conns if c["closed"] is None and c["slow"])
    open_silent = sum(1 for c in conns if c["closed"] is None and not c["slow"])
    report["slowloris"] = {"connections": opened, "refused": refused, "closed_by_server": len(after),
                           "closed_after_s": "%.1f-%.1f" % (after[0], after[-1]) if after else "-",
                           "still_open": {"trickling": open_slow, "silent": open_silent},
                           "normal": fmt_ms(latencies), "normal_failures": len(failures),
                           "rss_kb_max": max(rss) if rss else None}
    if failures:
        problems.append("slowloris: the normal client failed %d times: %s" % (len(failures), failures[:3]))
    if latencies and percentile(latencies, 99) > 1.0:
        problems.append("slowloris: normal client p99 %.0f ms > 1000 ms" % (percentile(latencies, 99) * 1000))
    if header_timeout_s > 0:
        # The header deadline closes every connection whose headers are not complete, silent or
        # trickling, after the deadline (the reaper checks every second) and not before it.
        early = [a for a in after if a < header_timeout_s - 0.5]
        if early:
            problems.append("slowloris: %d connections closed before the %.1f s header deadline (first after %.1f s)"
                            % (len(early), header_timeout_s, early[0]))
        if seconds >= header_timeout_s + 5 and open_slow + open_silent:
            problems.append("slowloris: %d trickling and %d silent connections still open after %.0f s (header deadline %.1f s)"
                            % (open_slow, open_silent, seconds, header_timeout_s))
    return latencies


def raw_exchange(port, data, timeout=10, send_all=True):
    """Sends raw bytes on a fresh connection, returns (status or None, first line, seconds)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t0 = time.monotonic()
    try:
        try:
            if send_all:
                s.sendall(data)
            else:
                s.send(data)
        except OSError:
            pass  # the server may answer and close before reading everything
        buf = b""
        while b"\r\n" not in buf:
            try:
                chunk = s.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
        line = buf.split(b"\r\n", 1)[0].decode(errors="replace")
        parts = line.split()
        status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
        return status, line, time.monotonic() - t0
    finally:
        s.close()


def oversized(port, report, problems):
    cases = [
        ("header 40 KiB", ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 40960 + "\r\n\r\n").encode(), {413, 431}),
        ("2000 headers", ("GET /healthz HTTP/1.1\r\nHost: x\r\n" + "".join("X-H%d: v\r\n" % i for i in range(2000)) + "\r\n").encode(), {413, 431}),
        ("request line 40 KiB", ("GET /healthz?" + "a" * 40960 + " HTTP/1.1\r\nHost: x\r\n\r\n").encode(), {413, 414, 431}),
        ("body 70 000 bytes", ("POST /leader HTTP/1.1\r\nHost: x\r\n" + AUTH + "Content-Length: 70000\r\n\r\n").encode() + b"x" * 70000, {413}),
        ("Content-Length 10^15", ("POST /leader HTTP/1.1\r\nHost: x\r\n" + AUTH + "Content-Length: 1000000000000000\r\n\r\n").encode(), {413}),
        ("chunked 100 KiB", ("POST /leader HTTP/1.1\r\nHost: x\r\n" + AUTH + "Transfer-Encoding: chunked\r\n\r\n").encode()
         + b"".join(b"1000\r\n" + b" " * 4096 + b"\r\n" for _ in range(25)) + b"0\r\n\r\n", {413}),
        ("Content-Length abc", ("POST /leader HTTP/1.1\r\nHost: x\r\n" + AUTH + "Content-Length: abc\r\n\r\n").encode(), {400, 413}),
        ("unauthenticated 70 000 bytes", ("POST /leader HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n").encode() + b"x" * 70000, {401, 413}),
    ]
    results = {}
    for name, data, want in cases:
        status, line, secs = raw_exchange(port, data)
        results[name] = "%s in %.0f ms" % (status, secs * 1000)
        if status not in want:
            problems.append("oversized %s: got %r (%s), want one of %s" % (name, status, line, sorted(want)))
        if secs > 5:
            problems.append("oversized %s: took %.1f s" % (name, secs))
    st, _, _, _, _ = harness.Client(port).get("/healthz")
    if st != 200:
        problems.append("after the oversized requests /healthz answered %s" % st)
    report["oversized"] = results


def burst(port, count, report, problems, deadline_s=60):
    """`count` connections at once, each sending one POST /leader and reading the answer."""
    sel = selectors.DefaultSelector()
    statuses = {}
    errors = {}
    t0 = time.monotonic()
    pending = 0
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        body = '{"lease":"burst-%d","holder":"pod-%d","ttl_ms":5000}' % (i % 16, i)
        req = ("POST /leader HTTP/1.1\r\nHost: x\r\n" + AUTH + "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode()
        err = s.connect_ex(("127.0.0.1", port))
        if err not in (0, 115):  # EINPROGRESS
            errors["connect errno %d" % err] = errors.get("connect errno %d" % err, 0) + 1
            s.close()
            continue
        sel.register(s, selectors.EVENT_WRITE, {"req": req, "buf": b"", "t": time.monotonic()})
        pending += 1
    latencies = []
    while pending and time.monotonic() - t0 < deadline_s:
        for key, mask in sel.select(timeout=1):
            s, st = key.fileobj, key.data
            try:
                if mask & selectors.EVENT_WRITE:
                    s.sendall(st["req"])
                    sel.modify(s, selectors.EVENT_READ, st)
                    continue
                chunk = s.recv(65536)
                if chunk:
                    st["buf"] += chunk
                    if b"\r\n\r\n" not in st["buf"]:
                        continue
                    head, _, rest = st["buf"].partition(b"\r\n\r\n")
                    cl = 0
                    for line in head.split(b"\r\n")[1:]:
                        if line.lower().startswith(b"content-length:"):
                            cl = int(line.split(b":", 1)[1])
                    if len(rest) < cl:
                        continue
                    code = int(head.split(b" ", 2)[1])
                    statuses[code] = statuses.get(code, 0) + 1
                    latencies.append(time.monotonic() - st["t"])
                else:
                    errors["closed without answer"] = errors.get("closed without answer", 0) + 1
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            sel.unregister(s)
            s.close()
            pending -= 1
    if pending:
        errors["no answer in %d s" % deadline_s] = pending
        for key in list(sel.get_map().values()):
            key.fileobj.close()
    sel.close()
    total_errors = sum(errors.values())
    report["burst"] = {"connections": count, "statuses": statuses, "errors": errors, "seconds": round(time.monotonic() - t0, 1),
                       "latency": fmt_ms(latencies)}
    bad = {k: v for k, v in statuses.items() if k not in (200, 409, 503)}
    if bad:
        problems.append("burst: unexpected statuses %s" % bad)
    if total_errors > count // 100:
        problems.append("burst: %d of %d connections got no answer (more than 1%%): %s" % (total_errors, count, errors))
    slow = [l for l in latencies if l > 10]
    if slow:
        # The libmicrohttpd 0.9.75 epoll stall: requests left unread until the idle timeout.
        problems.append("burst: %d connections waited more than 10 s for their answer (max %.1f s)" % (len(slow), max(slow)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--short", action="store_true", help="the test-command version: 1000 connections for 15 s, a burst of 1280")
    p.add_argument("--slow", type=int, default=1000, help="idle or slow connections")
    p.add_argument("--slow-seconds", type=float, default=45, help="how long they stay (over 30 s shows the idle timeout)")
    p.add_argument("--burst", type=int, default=2560, help="connections at once (10x the soak's 256)")
    p.add_argument("--nofile", type=int, default=0, help="batond's soft RLIMIT_NOFILE (0: inherit)")
    p.add_argument("--nofile-hard", action="store_true", help="make --nofile the hard limit too")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--header-timeout-ms", type=int, default=10000,
                   help="batond's BATON_HEADER_TIMEOUT_MS (0: off, and the slow connections are expected to stay)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="another variable for batond")
    args = p.parse_args()
    if args.short:
        # The test command runs other suites at the same time: a shorter attack, half the burst.
        args.slow_seconds = 15
        args.burst = min(args.burst, 1280)
    have = raise_nofile(args.slow + args.burst + 512)
    if have < args.slow + args.burst + 512:
        # Not enough descriptors for this process: scale the attack down, and say so.
        scale = max(0.1, (have - 512) / float(args.slow + args.burst))
        args.slow, args.burst = int(args.slow * scale), int(args.burst * scale)
        print("note: open-file limit %d: %d slow connections, burst %d" % (have, args.slow, args.burst))
    stack_extra = {"BATON_THREADS": str(args.threads), "BATON_HEADER_TIMEOUT_MS": str(args.header_timeout_ms)}
    stack_extra.update(kv.split("=", 1) for kv in args.env)
    if args.nofile:
        # batond is started with this soft limit (as under a systemd default of 1024).
        _popen = harness.subprocess.Popen

        def popen(*a, **kw):
            hard = args.nofile if args.nofile_hard else resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            kw["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, hard))
            return _popen(*a, **kw)
        harness.subprocess.Popen = popen
    stack = harness.Stack(extra=stack_extra)
    problems = []
    report = {"batond": stack.batond}
    try:
        print("batond on port %d (threads %s, header deadline %d ms), %d slow connections for %.0f s, burst %d"
              % (stack.port, args.threads, args.header_timeout_ms, args.slow, args.slow_seconds, args.burst), flush=True)
        base, base_fail = measure(stack.port, 3)
        report["baseline"] = fmt_ms(base)
        if base_fail:
            problems.append("baseline failures: %s" % base_fail[:3])
        rss0 = stack.batond.rss_kb()
        slowloris(stack.port, args.slow, args.slow_seconds, report, problems, args.header_timeout_ms / 1000.0)
        oversized(stack.port, report, problems)
        during = NormalClient(stack.port)
        during.start()
        burst(stack.port, args.burst, report, problems)
        lat, fail = during.finish()
        report["normal_during_burst"] = fmt_ms(lat) + (", %d failures" % len(fail) if fail else "")
        if fail:
            problems.append("burst: the normal client failed %d times: %s" % (len(fail), fail[:3]))
        if not stack.batond.alive():
            problems.append("batond died: exit %s\n%s" % (stack.batond.exit_code, stack.batond.log()[-2000:]))
        redis_clients = stack.redis.client_count()
        if redis_clients > args.threads + 4:
            problems.append("%d Redis connections for %d threads" % (redis_clients, args.threads))
        report["rss_kb"] = "start %s, max during slowloris %s, end %s" % (rss0, report["slowloris"]["rss_kb_max"], stack.batond.rss_kb())
        try:
            with open("/proc/%d/limits" % stack.batond.proc.pid) as f:
                report["batond_nofile"] = next(l.split()[3] for l in f if l.startswith("Max open files"))
        except (OSError, StopIteration, AttributeError):
            pass
        warnings = {}
        for line in stack.batond.log().splitlines():
            if '"level":"warn"' in line or '"level":"error"' in line or "Error" in line or "error" in line:
                key = line.split('"msg":"', 1)[1].split('"', 1)[0] if '"msg":"' in line else line[:100]
                warnings[key] = warnings.get(key, 0) + 1
        report["batond_warnings"] = warnings
        code = stack.batond.stop()
        if code != 0:
            problems.append("batond exited %s on SIGTERM" % code)
    finally:
        stack.close()
    del report["batond"]
    for key, value in report.items():
        print("%-20s %s" % (key, value))
    for problem in problems:
        print("PROBLEM: " + problem)
    print("hostile: %d problems" % len(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
