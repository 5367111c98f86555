#!/usr/bin/env python3
"""Sentinel failover safety: a master, two replicas and three sentinels (quorum 2,
down-after 1 s) on loopback, batond on redis-sentinel://, holders renewing one lease,
while the master is hung (SIGSTOP, then SIGCONT once a replica was promoted: the old
master comes back believing it leads) or killed and restarted empty as a master.

The history is checked by safety.py's checker (no overlapping normal tenures, fencing
tokens never going backwards, degraded grants only with the breaker open), plus:
  - no degraded grant while a master was reachable (a probe asks the sentinels every
    50 ms and checks the named server says ROLE master), after a grace of GRACE_S;
  - the figures: Sentinel's failover time, how long batond answered 503 or degraded, and
    the 409 recovering window, per fault.

With --double the run ends with a master killed whose promoted replica then hangs past
down-after too: two failovers in one fault, each costing its own TTL.

  sentinel.py run [--rounds N] [--holders N] [--ttl-ms MS] [--history FILE] [--double]

Exit status: 0 when there is no violation.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import safety  # noqa: E402

MASTER = "baton"
LEASE = "sentinel-lease"
# batond polls the sentinels every 100 ms once a worker saw trouble, then lets the breaker
# probe at once; a degraded grant sent this long after a master became reachable is a
# violation.
GRACE_S = 1.0


class Node(harness.Redis):
    """A redis-server without persistence (a restart comes back empty), optionally a replica."""

    def start(self, replica_of=None):
        args = [harness.redis_server_path(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.directory,
                "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction", "--logfile", "redis.log"]
        if replica_of:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.paused = False
        if not harness.wait_until(self.ping, 10):
            raise RuntimeError("redis-server did not start on port %d" % self.port)

    def role(self, timeout=0.3):
        try:
            return self.cli("ROLE", timeout=timeout).splitlines()[0]
        except Exception:
            return None


class Sentinel:
    def __init__(self, directory, master_port):
        self.port = harness.free_port()
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.conf = os.path.join(directory, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write("bind 127.0.0.1\nport %d\ndir %s\nlogfile sentinel.log\n" % (self.port, directory))
            f.write("sentinel monitor %s 127.0.0.1 %d 2\n" % (MASTER, master_port))
            f.write("sentinel down-after-milliseconds %s 1000\n" % MASTER)
            f.write("sentinel failover-timeout %s 3000\n" % MASTER)
            f.write("sentinel parallel-syncs %s 1\n" % MASTER)
        sentinel = os.path.join(os.path.dirname(harness.redis_server_path()), "redis-sentinel")
        self.proc = subprocess.Popen([sentinel, self.conf], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.cli_path = os.path.join(os.path.dirname(harness.redis_server_path()), "redis-cli")
        if not harness.wait_until(lambda: self.cli("PING") == "PONG", 10):
            raise RuntimeError("redis-sentinel did not start on port %d" % self.port)

    def cli(self, *args, timeout=1):
        r = subprocess.run([self.cli_path, "-p", str(self.port)] + list(args), capture_output=True, text=True, timeout=timeout)
        return r.stdout.strip()

    def master_port(self):
        try:
            lines = self.cli("SENTINEL", "get-master-addr-by-name", MASTER).splitlines()
            return int(lines[1]) if len(lines) == 2 else None
        except Exception:
            return None

    def info(self):
        out = self.cli("SENTINEL", "master", MASTER).splitlines()
        return dict(zip(out[0::2], out[1::2]))

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class Topology:
    def __init__(self, root):
        self.nodes = [Node(os.path.join(root, "redis-%d" % i)) for i in range(3)]
        self.nodes[0].start()
        for n in self.nodes[1:]:
            n.start(replica_of=self.nodes[0].port)
        self.sentinels = [Sentinel(os.path.join(root, "sentinel-%d" % i), self.nodes[0].port) for i in range(3)]
        # Before any fault: the replicas are in sync and the sentinels know each other and
        # the replicas (hello messages every 2 s), or no failover could be agreed.
        ok = harness.wait_until(lambda: all(int(s.info().get("num-other-sentinels", 0)) == 2 and
                                            int(s.info().get("num-slaves", 0)) == 2 for s in self.sentinels), 20, step=0.2)
        if not ok:
            raise RuntimeError("sentinels did not discover each other and the replicas")

    @property
    def url(self):
        return "redis-sentinel://" + ",".join("127.0.0.1:%d" % s.port for s in self.sentinels) + "/0#" + MASTER

    def node(self, port):
        return next(n for n in self.nodes if n.port == port)

    def named_master(self):
        for s in self.sentinels:
            p = s.master_port()
            if p:
                return p
        return None

    def close(self):
        for s in self.sentinels:
            s.close()
        for n in self.nodes:
            n.kill()


class MasterProbe(threading.Thread):
    """Every 50 ms: which server the sentinels name, and whether it says ROLE master."""

    def __init__(self, topo, rec, stop):
        super().__init__(name="probe", daemon=True)
        self.topo, self.rec, self.stop = topo, rec, stop

    def run(self):
        while not self.stop.is_set():
            t = time.monotonic()
            port = self.topo.named_master()
            node = next((n for n in self.topo.nodes if n.port == port), None)
            ok = node is not None and not node.paused and node.proc is not None and node.role() == "master"
            self.rec.add({"k": "probe", "t": t, "r": time.monotonic(), "port": port, "reachable": ok})
            self.stop.wait(0.1)


class Renewer(threading.Thread):
    """A holder that asks for the lease every `period` (POST /leader renews its own tenure)."""

    def __init__(self, index, port, rec, stop, ttl_ms, period):
        super().__init__(name="holder-%d" % index, daemon=True)
        self.holder = "pod-%d" % index
        self.client = harness.Client(port, timeout=5.0)
        self.rec, self.stop, self.ttl_ms, self.period = rec, stop, ttl_ms, period
        self.ops = 0

    def run(self):
        while not self.stop.is_set():
            req = {"lease": LEASE, "holder": self.holder, "ttl_ms": self.ttl_ms}
            safety.record_answer(self.rec, self.holder, "acquire", LEASE, req, self.client.post("/leader", req))
            self.ops += 1
            self.stop.wait(self.period)


def wait_promoted(topo, old_port, timeout=20):
    """Until the sentinels name another master and it says ROLE master; returns the time."""
    def promoted():
        p = topo.named_master()
        return p is not None and p != old_port and topo.node(p).role() == "master"
    if not harness.wait_until(promoted, timeout, step=0.05):
        raise RuntimeError("no replica was promoted within %d s" % timeout)
    return time.monotonic()


def inject(kind, topo, rec):
    old = topo.named_master()
    node = topo.node(old)
    down = time.monotonic()
    rec.add({"k": "fault", "kind": kind, "down": down})
    if kind == "pause":
        node.pause()
    else:
        node.kill()
    up = wait_promoted(topo, old)
    rec.add({"k": "fault_end", "kind": kind, "up": up, "data": "stale"})
    print("  %s of the master on %d: replica %d promoted after %.2f s" % (kind, old, topo.named_master(), up - down), flush=True)
    if kind == "double":
        # The promoted master hangs too, past down-after, before the first recovery window
        # has run out: Sentinel fails over again, and that failover costs its own TTL.
        second = topo.node(topo.named_master())
        time.sleep(0.5)
        second.pause()
        again = wait_promoted(topo, second.port)
        print("  then the new master %d hung: replica %d promoted after %.2f s" % (second.port, topo.named_master(), again - up),
              flush=True)
        time.sleep(0.5)
        second.resume()
    time.sleep(2.0)
    # The old master comes back believing it is the master (its last ROLE), until the
    # sentinels turn it into a replica of the new one.
    back = time.monotonic()
    if kind == "pause":
        node.resume()
    else:
        node.start()  # empty, and a master: what a crashed master restarted without persistence is
    rec.add({"k": "old_master_back", "kind": kind, "t": back, "port": old})
    time.sleep(4.0)
    return {"kind": kind, "down": down, "promoted": up, "back": back}


def figures(items, faults, followed):
    """Per fault; `followed` are the times batond followed a Sentinel failover (its log).
    On a loaded machine Sentinel may fail over a second time within one fault (a starved
    new master misses down-after); each failover then costs its own TTL of recovering, so
    the `*_after_last_failover_s` figures measure from the last one batond followed."""
    ops = sorted([i for i in items if i["k"] == "op"], key=lambda o: o["s"])
    out = []
    for f in faults:
        after = [o for o in ops if o["s"] >= f["down"]]
        first_normal = next((o for o in after if o["st"] == 200 and o.get("b_mode") == "normal"), None)
        recovering = [o for o in after if o["st"] == 409 and o.get("b_reason") == "recovering" and
                      (first_normal is None or o["s"] <= first_normal["r"] + 0.001)]
        mine = [t for t in followed if f["down"] <= t and (first_normal is None or t <= first_normal["r"])]
        last = max(mine) if mine else None
        degraded = [o for o in after if o["st"] == 200 and o.get("b_mode") == "degraded" and o["s"] <= f["promoted"] + 5]
        late = [o for o in degraded if o["s"] > f["promoted"]]
        unavailable = [o for o in after if o["st"] == 503 and (first_normal is None or o["s"] <= first_normal["r"])]
        out.append({
            "kind": f["kind"],
            "sentinel_failover_s": round(f["promoted"] - f["down"], 2),
            "until_normal_grant_s": round(first_normal["r"] - f["down"], 2) if first_normal else None,
            "recovering_window_s": round(recovering[-1]["r"] - recovering[0]["s"], 2) if recovering else 0.0,
            "failovers_followed": len(mine),
            "until_normal_after_last_failover_s": round(first_normal["r"] - last, 2) if first_normal and last else None,
            "recovering_after_last_failover_s": round(recovering[-1]["r"] - max(last, recovering[0]["s"]), 2)
            if recovering and last else 0.0,
            "recovering_409": len(recovering), "degraded_200": len(degraded), "unavailable_503": len(unavailable),
            "degraded_after_promotion": len(late),
            "last_degraded_after_promotion_s": round(max(o["s"] - f["promoted"] for o in late), 2) if late else 0.0,
        })
    return out


def log_entries(log):
    """batond's JSON log lines with their time on this process's monotonic clock."""
    offset = time.time() - time.monotonic()
    for line in log.splitlines():
        try:
            entry = json.loads(line)
            at = datetime.datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
        except (ValueError, KeyError, TypeError):
            continue
        yield at - offset, entry


def followed_failovers(log):
    return [t for t, e in log_entries(log) if e.get("msg", "").startswith("redis sentinel failover followed")]


def print_timeline(fault, log):
    """What batond said about servers around a fault that cost more than the bounds, in
    seconds from the fault: a second change of server inside one failover restarts the
    recovery window, and this shows which server it was."""
    print("  timeline of the %s (s from the fault; promoted at %.2f, old master back at %.2f):"
          % (fault["kind"], fault["promoted"] - fault["down"], fault["back"] - fault["down"]))
    for at, entry in log_entries(log):
        t = at - fault["down"]
        if -1 <= t <= 12 and any(w in entry.get("msg", "") for w in ("changed", "failover", "sentinel", "unavailable")):
            rest = {k: v for k, v in entry.items() if k not in ("ts", "level", "msg")}
            print("    %6.2f %s %s" % (t, entry["msg"][:70], json.dumps(rest)[:200]))


def check_reachable(items, rep, faults):
    """No degraded grant sent while a master was reachable: outside every fault's
    [down, promoted + GRACE_S], and not while the probes had seen the named master answer
    ROLE master for the GRACE_S before the send."""
    probes = sorted([i for i in items if i["k"] == "probe"], key=lambda p: p["t"])
    bad = 0
    for o in items:
        if o["k"] != "op" or o["st"] != 200 or o.get("b_mode") != "degraded":
            continue
        if any(f["down"] <= o["r"] and o["s"] <= f["promoted"] + GRACE_S for f in faults):
            continue  # no master was reachable (or batond had not yet had GRACE_S to see the new one)
        window = [p for p in probes if o["s"] - GRACE_S <= p["t"] <= o["s"]]
        if not window or all(p["reachable"] for p in window):
            bad += 1
            if bad <= 10:
                rep.violation("degraded_while_master_reachable", "%s at %.3f: master %s was reachable"
                              % (o["h"], o["s"], window[-1]["port"] if window else "?"))
    return bad


def run(args):
    root = tempfile.mkdtemp(prefix="baton-sentinel-")
    os.chmod(root, 0o755)
    topo, pg, batond = None, None, None
    rec = safety.Recorder()
    stop = threading.Event()
    try:
        topo = Topology(root)
        pg = harness.Postgres()
        # --direct: batond on the first master's address, as before Sentinel support (the
        # checker must then find violations: it is how this script shows it can fail).
        url = topo.nodes[0].url if args.direct else topo.url
        batond = harness.Batond(url, pg.url, root, extra={"BATON_LOG_LEVEL": "warn"})
        batond.start()
        print("batond on %d, %s" % (batond.port, url), flush=True)
        threads = [MasterProbe(topo, rec, stop), safety.StatusMonitor(batond.port, rec, stop)]
        threads += [Renewer(i, batond.port, rec, stop, args.ttl_ms, args.period) for i in range(args.holders)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        faults = []
        kinds = ["pause", "kill"] * args.rounds + (["double"] if args.double else [])
        for kind in kinds:
            faults.append(inject(kind, topo, rec))
        stop.set()
        for t in threads:
            t.join(timeout=10)
        items = rec.snapshot()
        if args.history:
            with open(args.history, "w") as f:
                for i in items:
                    f.write(json.dumps(i) + "\n")
        rep = safety.check_history(items, breaker_threshold=3, cooldown_s=1.0)
        check_reachable(items, rep, faults)
        status = harness.http_get(batond.port, "/status")[1] or {}
        redis = status.get("backends", {}).get("redis", {})
        if not redis:
            print("no /status answer; batond's log ends:\n" + batond.log()[-20000:])
        if redis.get("master") != "127.0.0.1:%d" % topo.named_master():
            rep.violation("status_master", "/status names %s, the sentinels %s" % (redis.get("master"), topo.named_master()))
        safety.print_report(rep)
        ttl_s = args.ttl_ms / 1000.0
        log = batond.log()
        for f, fault in zip(figures(items, faults, followed_failovers(log)), faults):
            print("failover %s" % " ".join("%s=%s" % kv for kv in f.items()))
            if f["failovers_followed"] != 1 or f["recovering_window_s"] > ttl_s + 0.5 or \
                    (f["until_normal_grant_s"] or 99) > f["sentinel_failover_s"] + ttl_s + 1.5:
                print_timeline(fault, log)
        metrics = harness.http_get(batond.port, "/metrics", auth=False)[1] or ""
        followed = next((l.split()[-1] for l in str(metrics).splitlines() if l.startswith("baton_redis_failovers_total ")), None)
        print("status: mode=%s master=%s role=%s failovers_seen=%s last_failover=%s metric_failovers=%s"
              % (redis.get("mode"), redis.get("master"), redis.get("role"), redis.get("failovers_seen"), redis.get("last_failover"), followed))
        return 0 if not rep.violations else 1
    finally:
        harness.tear_down(stop, batond, [topo], pg, root)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--rounds", type=int, default=1, help="each round: master SIGSTOP/SIGCONT, then master SIGKILL/restart")
    r.add_argument("--holders", type=int, default=4)
    r.add_argument("--ttl-ms", type=int, default=3000)
    r.add_argument("--period", type=float, default=0.25, help="seconds between a holder's requests")
    r.add_argument("--history", help="write the recorded history (JSON lines) here")
    r.add_argument("--double", action="store_true",
                   help="end with a master killed whose promoted replica then hangs too (two failovers in one fault)")
    r.add_argument("--direct", action="store_true", help="point batond at the first master (redis://), not at the sentinels")
    args = p.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()
