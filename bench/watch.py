#!/usr/bin/env python3
"""Blocking reads with many watchers (issue 18): memory per held request and the latency
from a change to each watcher's answer.

Starts its own redis-server (notify-keyspace-events Ex) and batond on free loopback ports,
opens N connections that each hold `GET /leader?lease=bench&index=I&wait=60s`, measures
batond's RSS before and after, then makes ROUNDS changes (acquire / release by another
client) and times, for every watcher, from just before the change is sent to its answer
being read completely. Each watcher then waits again on the same keep-alive connection.
Prints the figures (and a JSON line). Bounded: every wait has a deadline; everything it
started is stopped on exit.

  bench/watch.py [--watchers 1000] [--rounds 20] [--batond PATH]
"""
import argparse
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOKEN = "bench-token-0123456789abcdef"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def request(port, method, path, body=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    s.sendall(head.encode() + data)
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line)}
    return status, headers, body


class Watcher:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setblocking(False)
        self.buf = b""
        self.done_at = None
        self.index = None

    def ask(self, index):
        self.buf = b""
        self.done_at = None
        req = f"GET /leader?lease=bench&index={index}&wait=60s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        self.sock.setblocking(True)
        self.sock.sendall(req.encode())
        self.sock.setblocking(False)

    def feed(self, now):
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return False
        if not chunk:
            raise SystemExit("batond closed a watcher's connection")
        self.buf += chunk
        head, sep, body = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return False
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            if line.lower().startswith(b"x-baton-index:"):
                self.index = int(line.split(b":")[1])
        if len(body) < length:
            return False
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"watcher got {head[:60]!r}")
        self.done_at = now
        return True


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--watchers", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--batond", default=os.environ.get("BENCH_BATOND", ".build/release/batond"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="baton-watch-bench-")
    rport, hport = free_port(), free_port()
    procs = []

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    signal.signal(signal.SIGINT, lambda *_: (stop(), sys.exit(130)))
    try:
        procs.append(subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--dir", work,
                                       "--notify-keyspace-events", "Ex", "--logfile", "redis.log"]))
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        env.update(BATON_LISTEN=f"127.0.0.1:{hport}", BATON_REDIS_URL=f"redis://127.0.0.1:{rport}/0",
                   BATON_DATABASE_URL="postgresql://127.0.0.1:9/none?connect_timeout=1", BATON_API_TOKENS=TOKEN,
                   BATON_LOG_LEVEL="warn", BATON_THREADS="4", BATON_WATCH_LIMIT=str(a.watchers + 100))
        log = open(os.path.join(work, "batond.log"), "w")
        batond = subprocess.Popen([a.batond], env=env, stdout=log, stderr=log)
        procs.append(batond)
        deadline = time.time() + 10
        while True:
            try:
                st, h, _ = request(hport, "GET", "/leader?lease=bench")
                if "x-baton-index" in h:
                    st2, h2, _ = request(hport, "GET", f"/leader?lease=bench&index={h['x-baton-index']}&wait=200ms")
                    if "x-baton-watch" not in h2:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("batond did not start or its change feed did not come up")
            time.sleep(0.05)
        index = int(h["x-baton-index"])
        time.sleep(0.5)
        before = rss_kb(batond.pid)
        watchers = [Watcher(hport) for _ in range(a.watchers)]
        connected = rss_kb(batond.pid)
        for w in watchers:
            w.ask(index)
        time.sleep(1.5)
        held = rss_kb(batond.pid)
        sel = selectors.DefaultSelector()
        for w in watchers:
            sel.register(w.sock, selectors.EVENT_READ, w)
        early = [w for w in watchers if w.feed(time.monotonic())]
        if early:
            raise SystemExit(f"{len(early)} watchers answered before any change")
        latencies, lasts = [], []
        for r in range(a.rounds):
            t0 = time.monotonic()
            body = {"lease": "bench", "holder": "changer", "ttl_ms": 60000}
            st, _, _ = request(hport, "POST", "/leader" if r % 2 == 0 else "/lease/release", body if r % 2 == 0 else {"lease": "bench", "holder": "changer"})
            if st != 200:
                raise SystemExit(f"change {r}: HTTP {st}")
            pending = set(watchers)
            deadline = t0 + 30
            while pending and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=1):
                    w = key.data
                    if w in pending and w.feed(time.monotonic()):
                        pending.discard(w)
            if pending:
                raise SystemExit(f"round {r}: {len(pending)} watchers not answered in 30 s")
            round_lat = [(w.done_at - t0) * 1000 for w in watchers]
            latencies += round_lat
            lasts.append(max(round_lat))
            new_index = watchers[0].index
            for w in watchers:
                w.ask(new_index)
            time.sleep(0.3)
        after = rss_kb(batond.pid)
        result = {
            "watchers": a.watchers, "rounds": a.rounds, "batond": a.batond,
            "rss_kb_idle": before, "rss_kb_connected": connected, "rss_kb_held": held, "rss_kb_end": after,
            "kb_per_watcher_held": round((held - before) / a.watchers, 2),
            "kb_per_watcher_hold_only": round((held - connected) / a.watchers, 2),
            "latency_ms_p50": round(pct(latencies, 50), 2), "latency_ms_p99": round(pct(latencies, 99), 2),
            "latency_ms_max": round(max(latencies), 2), "last_watcher_ms_p50": round(pct(lasts, 50), 2),
        }
        print(f"{a.watchers} watchers, {a.rounds} changes, {a.batond}")
        print(f"  batond RSS: idle {before} KiB, {a.watchers} connections open {connected} KiB, all held {held} KiB, end {after} KiB")
        print(f"  memory per watcher: {result['kb_per_watcher_held']} KiB (connection + held request), of which holding {result['kb_per_watcher_hold_only']} KiB")
        print(f"  change -> answer: p50 {result['latency_ms_p50']} ms, p99 {result['latency_ms_p99']} ms, max {result['latency_ms_max']} ms; last watcher of a round p50 {result['last_watcher_ms_p50']} ms")
        result["round_last_ms"] = [round(x, 1) for x in lasts]
        print(json.dumps(result))
    finally:
        stop()


if __name__ == "__main__":
    main()
