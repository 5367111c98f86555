#!/usr/bin/env python3
"""batond behind a TCP proxy that briefly routes to two writable masters (issue 13).

Two redis-servers on loopback, B a replica of A, and a small TCP proxy in front of them
(threads that copy bytes; the kind HAProxy or a cloud load balancer is to batond: it sees
one address). batond (4 worker threads) is on redis://proxy. Each round:
  1. A is hung (SIGSTOP): batond's commands time out, its workers reconnect;
  2. after 1 s B is promoted (REPLICAOF NO ONE) and for --split-s the proxy sends new
     connections alternately to A and B (its health check has not settled);
  3. A is resumed 1 s later: it still believes it is the master, and takes writes;
  4. then the proxy routes only to B; connections it opened to A stay open, as a proxy
     keeps established connections; after the round A is made a replica of B.
Holders ask for two leases every 250 ms (POST /leader renews the caller's tenure).

The history goes through safety.py's checker (overlapping normal tenures, fencing tokens
going backwards, degraded grants only with the breaker open), plus: every normal 200
(a new tenure or a renewal) names a tenure in baton.lease_tenures (a timed-out acquire that
ran must be recorded or voided, never renewed unrecorded).

  proxy.py run [--rounds N] [--holders N] [--split-s S]

Exit status: 0 when there is no violation.
"""

import argparse
import os
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import safety  # noqa: E402
import sentinel  # noqa: E402

LEASES = ["proxy-lease-a", "proxy-lease-b"]


class Proxy(threading.Thread):
    """A loopback TCP proxy: each accepted connection goes to the next of `targets` (round
    robin) and is copied both ways until either side closes. Bounded: at most 256 live
    connections, every socket closed by close()."""

    def __init__(self):
        super().__init__(name="proxy", daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.targets = []
        self.turn = 0
        self.live = set()
        self.routed = {}
        self.closed = threading.Event()

    def route(self, *ports):
        with self.lock:
            self.targets = list(ports)

    def run(self):
        while not self.closed.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                if not self.targets or len(self.live) >= 256:
                    client.close()
                    continue
                port = self.targets[self.turn % len(self.targets)]
                self.turn += 1
                self.routed[port] = self.routed.get(port, 0) + 1
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=1)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.live.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    def pump(self, src, dst):
        try:
            while not self.closed.is_set():
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        with self.lock:
            self.live.discard(src)
            self.live.discard(dst)

    def close(self):
        self.closed.set()
        self.sock.close()
        with self.lock:
            for s in list(self.live):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.live.clear()


class Holder(threading.Thread):
    def __init__(self, index, port, rec, stop, ttl_ms, period):
        super().__init__(name="holder-%d" % index, daemon=True)
        self.holder = "pod-%d" % index
        self.lease = LEASES[index % len(LEASES)]
        self.client = harness.Client(port, timeout=5.0)
        self.rec, self.stop, self.ttl_ms, self.period = rec, stop, ttl_ms, period

    def run(self):
        while not self.stop.is_set():
            req = {"lease": self.lease, "holder": self.holder, "ttl_ms": self.ttl_ms}
            safety.record_answer(self.rec, self.holder, "acquire", self.lease, req, self.client.post("/leader", req))
            self.stop.wait(self.period)


def one_round(old, new, proxy, rec, split_s):
    down = time.monotonic()
    rec.add({"k": "fault", "kind": "pause", "down": down})
    old.pause()
    time.sleep(1.0)
    new.cli("REPLICAOF", "NO", "ONE")
    promoted = time.monotonic()
    proxy.route(old.port, new.port)
    time.sleep(1.0)
    old.resume()
    resumed = time.monotonic()
    rec.add({"k": "fault_end", "kind": "pause", "up": time.monotonic(), "data": "stale"})
    time.sleep(max(0.0, split_s - 1.0))
    proxy.route(new.port)
    settled = time.monotonic()
    time.sleep(6.0)
    # The old master learns it was demoted (what Sentinel or an operator does next).
    old.cli("REPLICAOF", "127.0.0.1", str(new.port))
    harness.wait_until(lambda: "master_link_status:up" in old.cli("INFO", "replication"), 10, step=0.1)
    time.sleep(1.0)
    return {"down": down, "promoted": promoted, "resumed": resumed, "settled": settled}


def check_recorded(items, pg, rep):
    """Every normal 200 names a tenure in the history, of that holder."""
    tenures = {(t["lease"], str(t["token"])): t["holder"] for t in pg["tenures"]}
    bad = 0
    for o in items:
        if o["k"] == "op" and o["st"] == 200 and o.get("b_mode") == "normal":
            key = (o["res"], str(o.get("b_fencing_token")))
            if tenures.get(key) != o["h"]:
                bad += 1
                if bad <= 10:
                    rep.violation("renewed_tenure_not_recorded", "%s token %s answered to %s (history: %s)" % (key[0], key[1], o["h"], tenures.get(key)))
    return bad


def run(args):
    root = tempfile.mkdtemp(prefix="baton-proxy-")
    os.chmod(root, 0o755)
    nodes, pg, batond, proxy = [], None, None, None
    rec = safety.Recorder()
    stop = threading.Event()
    try:
        nodes = [sentinel.Node(os.path.join(root, "redis-%d" % i)) for i in range(2)]
        nodes[0].start()
        nodes[1].start(replica_of=nodes[0].port)
        if not harness.wait_until(lambda: "master_link_status:up" in nodes[1].cli("INFO", "replication"), 10, step=0.1):
            raise RuntimeError("replica not in sync")
        proxy = Proxy()
        proxy.route(nodes[0].port)
        proxy.start()
        pg = harness.Postgres()
        batond = harness.Batond("redis://127.0.0.1:%d/0" % proxy.port, pg.url, root,
                                extra={"BATON_LOG_LEVEL": "warn", "BATON_THREADS": str(args.threads)})
        batond.start()
        print("batond on %d, redis through the proxy on %d (A %d, B %d)" % (batond.port, proxy.port, nodes[0].port, nodes[1].port), flush=True)
        threads = [safety.StatusMonitor(batond.port, rec, stop)]
        threads += [Holder(i, batond.port, rec, stop, args.ttl_ms, args.period) for i in range(args.holders)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        rounds = []
        old, new = nodes
        for _ in range(args.rounds):
            rounds.append(one_round(old, new, proxy, rec, args.split_s))
            old, new = new, old
        stop.set()
        for t in threads:
            t.join(timeout=10)
        drained = harness.wait_until(lambda: (harness.http_get(batond.port, "/status")[1] or {}).get("outbox", {}).get("pending") == 0, 30, step=0.2)
        items = rec.snapshot()
        data = safety.read_pg(pg)
        rep = safety.check_history(items, breaker_threshold=3, cooldown_s=1.0, pg=data)
        check_recorded(items, data, rep)
        if not drained:
            rep.violation("outbox_not_drained", "history rows still pending")
        if not batond.alive():
            rep.violation("batond_crashed", batond.log()[-3000:])
        safety.print_report(rep)
        ops = [o for o in items if o["k"] == "op"]
        for i, r in enumerate(rounds):
            after = [o for o in ops if r["down"] <= o["s"] < (rounds[i + 1]["down"] if i + 1 < len(rounds) else 1e18)]
            normal = [o for o in after if o["st"] == 200 and o.get("b_mode") == "normal" and o["s"] > r["promoted"]]
            late = [o["s"] - r["resumed"] for o in after if o.get("b_mode") == "degraded" and o["s"] > r["resumed"]]
            print("round %d: until_normal_grant_s=%s degraded_after_promotion=%d degraded_after_resume=%d last_degraded_after_resume_s=%.2f"
                  " recovering_409=%d unavailable_503=%d"
                  % (i, round(normal[0]["r"] - r["down"], 2) if normal else None,
                     sum(1 for o in after if o.get("b_mode") == "degraded" and o["s"] > r["promoted"]), len(late), max(late or [0.0]),
                     sum(1 for o in after if o["st"] == 409 and o.get("b_reason") == "recovering"),
                     sum(1 for o in after if o["st"] == 503)), flush=True)
        counts = {}
        for v in rep.violations:
            counts[v[0]] = counts.get(v[0], 0) + 1
        print("proxy: routed %s; violations by kind %s" % (proxy.routed, counts), flush=True)
        return 0 if not rep.violations else 1
    finally:
        harness.tear_down(stop, batond, [proxy] + nodes, pg, root)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--rounds", type=int, default=1)
    r.add_argument("--holders", type=int, default=6)
    r.add_argument("--threads", type=int, default=4)
    r.add_argument("--ttl-ms", type=int, default=3000)
    r.add_argument("--period", type=float, default=0.25)
    r.add_argument("--split-s", type=float, default=3.0, help="seconds the proxy routes new connections to both servers")
    sys.exit(run(p.parse_args()))


if __name__ == "__main__":
    main()
