#!/usr/bin/env python3
"""Hostile clients against a live batond (real Redis and PostgreSQL):

1. slowloris: N idle or slow connections (a header byte every few seconds) while a
   normal client keeps being served; its latency is measured before and during; the
   header deadline (BATON_HEADER_TIMEOUT_MS) must close every one of them, none early;
2. oversized request lines, headers and bodies are refused (413/414/431), never crash;
3. a burst of 10x the normal connection count degrades gracefully;
4. the attack review's cases (issue 15): `methods`, 3,000 distinct 16 KB request methods to
   /nope (metric series); `json`, 8 clients posting a 64 KiB body of 7,766 keys to the
   open /sessions/validate for 12 s while a normal validation is timed; `slowread`, 1,500
   clients reading /openapi.yaml 64 B every 3 s (RSS during and after, how long they last).

  hostile.py [--short] [--slow N] [--slow-seconds S] [--burst N] [--nofile N]
             [--header-timeout-ms MS] [--env KEY=VALUE ...] [--binary PATH]
             [--only slowloris,oversized,burst,methods,json,slowread]

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


def metrics_size(port):
    c = harness.http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        t0 = time.monotonic()
        c.request("GET", "/metrics")
        body = c.getresponse().read()
        return len(body), time.monotonic() - t0
    finally:
        c.close()


def methods(stack, count, report, problems):
    """Distinct 16 KB methods to an unmatched route: every one must be refused (501) and
    none may become a metric series (they took /metrics to 52 MB before)."""
    port = stack.port
    size0, _ = metrics_size(port)
    rss0 = stack.batond.rss_kb()
    statuses = {}
    t0 = time.monotonic()
    for i in range(count):
        method = ("X%06d" % i) + "A" * (16 * 1024 - 7)
        status = raw_exchange(port, ("%s /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % method).encode())[0]
        statuses[status] = statuses.get(status, 0) + 1
    size1, render = metrics_size(port)
    rss1 = stack.batond.rss_kb()
    report["methods"] = {"requests": count, "statuses": statuses, "seconds": round(time.monotonic() - t0, 1),
                         "metrics_bytes": "%d -> %d" % (size0, size1), "metrics_render_s": round(render, 3),
                         "rss_kb": "%s -> %s" % (rss0, rss1)}
    if size1 - size0 > 20_000:
        problems.append("methods: /metrics grew by %d bytes for %d unknown methods" % (size1 - size0, count))
    if rss1 and rss0 and rss1 - rss0 > 10_000:
        problems.append("methods: RSS grew by %d kB" % (rss1 - rss0))
    if set(statuses) - {501}:
        problems.append("methods: statuses other than 501: %s" % statuses)
    # A known path: 405 with Allow, not a 5xx (what HTTP clients and schemathesis expect).
    status = raw_exchange(port, b"QUERY /leader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0]
    if status != 405:
        problems.append("methods: an unknown method on /leader got %s, not 405" % status)


def many_keys_body(n=7766, size=65536):
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    keys = []
    for i in range(n):
        k, key = i, ""
        while True:
            key += letters[k % 52]
            k //= 52
            if k == 0:
                break
        keys.append('"%s":0' % key)
    body = "{" + ",".join(keys)
    return (body + " " * max(0, size - len(body) - 1) + "}").encode()


def json_keys(stack, seconds, clients, report, problems):
    """Clients posting the 7,766-key body to /sessions/validate (open, no token needed)
    while a normal validation is timed every 100 ms."""
    port = stack.port
    body = many_keys_body()
    stop = threading.Event()
    answers = {}
    lock = threading.Lock()

    def attacker():
        c = harness.Client(port, timeout=60)
        while not stop.is_set():
            try:
                st, _, _, _, _ = c.call("POST", "/sessions/validate", body, {"Content-Type": "application/json"})
            except Exception:
                st = None
                c = harness.Client(port, timeout=60)
            with lock:
                answers[st] = answers.get(st, 0) + 1

    threads = [threading.Thread(target=attacker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    latencies = []
    normal = harness.Client(port, timeout=60)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        st, _, _, s, r = normal.call("POST", "/sessions/validate", b'{"token":"0123456789abcdef0123456789abcdef"}',
                                     {"Content-Type": "application/json"})
        latencies.append(r - s)
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(60)
    report["json"] = {"attackers": clients, "seconds": seconds, "attack_answers": answers, "normal_validation": fmt_ms(latencies)}
    if latencies and max(latencies) > 1.0:
        problems.append("json: a normal validation waited %.1f s during the attack" % max(latencies))


def socket_count(pid):
    """Sockets batond has open (its listening socket, Redis and PostgreSQL included)."""
    try:
        return sum(1 for fd in os.listdir("/proc/%d/fd" % pid) if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"))
    except OSError:
        return -1


def slow_readers(stack, count, seconds, report, problems):
    """Clients that read their answer (/openapi.yaml, 98 KB) 64 B every 3 s: the answer
    deadline must close them, and the memory they held must come back."""
    port = stack.port
    rss0 = stack.batond.rss_kb()
    pid = stack.batond.proc.pid
    sockets0 = socket_count(pid)
    conns = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        conns.append([s, time.monotonic(), None, False])
    t0 = time.monotonic()
    rss_max = rss0 or 0
    sockets_max = 0
    released_after = None  # when batond held no more than a tenth of them
    next_read = t0
    while time.monotonic() - t0 < seconds:
        now = time.monotonic()
        for c in conns:
            if c[2] is not None:
                continue
            if not c[3]:
                try:
                    c[0].send(b"GET /openapi.yaml HTTP/1.1\r\nHost: x\r\n\r\n")
                    c[3] = True
                except (BlockingIOError, OSError):
                    pass
                continue
            if now >= next_read:
                try:
                    if not c[0].recv(64):
                        c[2] = now - c[1]
                except BlockingIOError:
                    pass
                except OSError:
                    c[2] = now - c[1]
        if now >= next_read:
            next_read = now + 3
        rss_max = max(rss_max, stack.batond.rss_kb() or 0)
        held = socket_count(pid) - sockets0
        sockets_max = max(sockets_max, held)
        if released_after is None and sockets_max >= count // 2 and held <= count // 10:
            released_after = now - t0
        time.sleep(0.2)
    open_left = sum(1 for c in conns if c[2] is None)
    lasted = sorted(c[2] for c in conns if c[2] is not None)
    rss_open = stack.batond.rss_kb()
    held_end = socket_count(pid) - sockets0
    for c in conns:
        c[0].close()
    time.sleep(3)
    rss_after = stack.batond.rss_kb()
    # A client sees the end only once it has read what its kernel had buffered (at 64 B per
    # 3 s that takes minutes): what counts is when batond let go of the connections.
    report["slowread"] = {"connections": count, "watched_s": seconds, "batond_sockets_max": sockets_max,
                          "batond_sockets_at_end": held_end,
                          "batond_released_after_s": round(released_after, 1) if released_after is not None else "never",
                          "clients_saw_the_end": "%d (p50 %.1f s)" % (len(lasted), lasted[len(lasted) // 2]) if lasted else 0,
                          "rss_kb": "start %s, max %s, at end %s, 3 s after closing %s" % (rss0, rss_max, rss_open, rss_after)}
    if held_end > count // 10:
        problems.append("slowread: batond still held %d of %d slow readers after %.0f s" % (held_end, count, seconds))
    if rss0 and rss_after and rss_after - rss0 > 20_000:
        problems.append("slowread: RSS still %d kB above the start after the slow readers left" % (rss_after - rss0))


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
    p.add_argument("--binary", help="the batond to attack (default: as harness.find_batond)")
    p.add_argument("--only", help="comma-separated cases to run (default: all; --short: all but slowread)")
    p.add_argument("--methods", type=int, default=3000, help="distinct unknown methods for the methods case")
    p.add_argument("--slow-readers", type=int, default=1500, help="clients of the slowread case")
    p.add_argument("--slow-read-seconds", type=float, default=40, help="over 30 s shows the idle timeout")
    p.add_argument("--json-seconds", type=float, default=12)
    args = p.parse_args()
    cases = "slowloris,oversized,burst,methods,json" + ("" if args.short else ",slowread")
    only = set((args.only or cases).split(","))
    if args.short:
        # The test command runs other suites at the same time: a shorter attack, half the burst.
        args.slow_seconds = 15
        args.burst = min(args.burst, 1280)
        args.methods = min(args.methods, 1000)
        args.json_seconds = min(args.json_seconds, 4)
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
    stack = harness.Stack(extra=stack_extra, binary=args.binary)
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
        report.setdefault("slowloris", {"rss_kb_max": "-"})
        if "methods" in only:
            methods(stack, args.methods, report, problems)
        if "json" in only:
            json_keys(stack, args.json_seconds, 8, report, problems)
        if "slowread" in only:
            slow_readers(stack, args.slow_readers, args.slow_read_seconds, report, problems)
        if "slowloris" in only:
            slowloris(stack.port, args.slow, args.slow_seconds, report, problems, args.header_timeout_ms / 1000.0)
        if "oversized" in only:
            oversized(stack.port, report, problems)
        if "burst" in only:
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
