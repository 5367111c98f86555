#!/usr/bin/env python3
"""Redis Cluster faults under load (make chaos step `cluster`): three masters, each with a
replica (`redis-cli --cluster create --cluster-replicas 1`, node timeout 1 s,
cluster-require-full-coverage no), batond on redis-cluster://, two leases per shard with
two holders each asking every 250 ms (POST /leader renews the caller's tenure), ttl 3 s.
Each round, on the next shard in turn:
  - hang: SIGSTOP of the shard's master for 0.7 s (below the node timeout: no failover), SIGCONT;
  - kill: SIGKILL of the shard's master; its replica is promoted; the node is restarted
    empty and rejoins as the new master's replica;
  - migrate: one slot holding a lease moved to the next shard (SETSLOT IMPORTING/MIGRATING,
    MIGRATE, SETSLOT NODE), as redis-cli --cluster reshard does.

The history goes through safety.py's checker (no overlapping normal tenures, fencing tokens
never going backwards, degraded grants only with a breaker open; /status is summed over the
shards' breakers), plus: a degraded answer only for a lease of the faulted shard, and only
between the fault and its master being back (promotion or SIGCONT) + 1 s.

  cluster.py run [--rounds N] [--holders-per-lease N]

Exit status: 0 when there is no violation.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import safety  # noqa: E402

GRACE_S = 1.0
SLOTS = 16384


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    """Redis Cluster's key slot, with hash tags (cluster.c keyHashSlot)."""
    k = key.encode()
    s = k.find(b"{")
    if s >= 0:
        e = k.find(b"}", s + 1)
        if e > s + 1:
            k = k[s + 1:e]
    return crc16(k) % SLOTS


class Node(harness.Redis):
    def start(self, persist="none"):
        args = [harness.redis_server_path(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.directory,
                "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction", "--logfile", "redis.log",
                "--cluster-enabled", "yes", "--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no",
                "--cluster-replica-validity-factor", "0"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.paused = False
        if not harness.wait_until(self.ping, 10):
            raise RuntimeError("redis-server did not start on port %d" % self.port)

    def node_id(self):
        return self.cli("CLUSTER", "MYID")

    def role(self):
        try:
            return self.cli("ROLE", timeout=0.5).splitlines()[0]
        except Exception:
            return None


class Cluster:
    def __init__(self, root):
        self.nodes = [Node(os.path.join(root, "node-%d" % i)) for i in range(6)]
        for n in self.nodes:
            for attempt in range(3):  # a free port may be taken before redis-server binds it
                try:
                    n.start()
                    break
                except RuntimeError:
                    n.kill()
                    if attempt == 2:
                        raise
                    n.port = harness.free_port()
        r = subprocess.run([self.nodes[0].cli_path, "--cluster", "create"] + ["127.0.0.1:%d" % n.port for n in self.nodes]
                           + ["--cluster-replicas", "1", "--cluster-yes"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("cluster create failed: " + r.stdout[-2000:] + r.stderr[-2000:])
        ok = harness.wait_until(lambda: all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in self.nodes)
                                and len(self.masters()) == 3 and all(self.replica_of(m) for m in self.masters()), 30, step=0.2)
        if not ok:
            raise RuntimeError("cluster did not settle")

    def by_port(self, port):
        return next(n for n in self.nodes if n.port == port)

    def slots(self):
        """[(start, end, master_port)] from a live node's CLUSTER NODES (masters not failed)."""
        for n in self.nodes:
            if n.proc is None or n.paused:
                continue
            try:
                lines = n.cli("CLUSTER", "NODES", timeout=1).splitlines()
            except Exception:
                continue
            res = []
            for line in lines:
                parts = line.split()
                if len(parts) < 8 or "master" not in parts[2] or "fail" in parts[2]:
                    continue
                port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
                for rng in parts[8:]:
                    if not rng.startswith("["):
                        lo, _, hi = rng.partition("-")
                        res.append((int(lo), int(hi or lo), port))
            if res:
                return res
        return []

    def owner(self, slot):
        for a, b, port in self.slots():
            if a <= slot <= b:
                return port
        return None

    def masters(self):
        return sorted({p for _, _, p in self.slots()})

    def replica_of(self, master_port):
        mid = self.by_port(master_port).node_id()
        for n in self.nodes:
            if n.proc is not None and not n.paused and n.port != master_port:
                try:
                    if mid in n.cli("CLUSTER", "NODES") and n.role() == "slave" and \
                            ("master_host:127.0.0.1" in n.cli("INFO", "replication")) and \
                            ("master_port:%d" % master_port) in n.cli("INFO", "replication"):
                        return n
                except Exception:
                    continue
        return None

    @property
    def url(self):
        return "redis-cluster://" + ",".join("127.0.0.1:%d" % n.port for n in self.nodes[:3]) + "/0"

    def close(self):
        for n in self.nodes:
            n.kill()


class ShardStatus(threading.Thread):
    """/status every 100 ms, summed over the shards' breakers in the form safety.py reads:
    failures as the sum of each master's highest count seen (monotonic although a demoted
    master leaves the list), the breaker closed only when every shard's is."""

    def __init__(self, port, rec, stop):
        super().__init__(name="status", daemon=True)
        self.client = harness.Client(port, timeout=3.0)
        self.rec, self.stop = rec, stop
        self.seen = {}

    def run(self):
        while not self.stop.is_set():
            st, _, body, s, r = self.client.get("/status")
            if st == 200 and isinstance(body, dict):
                redis = body.get("backends", {}).get("redis", {})
                shards = redis.get("shards") or []
                for sh in shards:
                    self.seen[sh["master"]] = max(self.seen.get(sh["master"], 0), sh.get("total_failures") or 0)
                self.rec.add({"k": "status", "rep": 0, "s": s, "r": r,
                              "breaker": "closed" if all(sh.get("breaker") == "closed" for sh in shards) else "open",
                              "total_failures": sum(self.seen.values()) + (redis.get("total_failures") or 0),
                              "cf": max([sh.get("consecutive_failures") or 0 for sh in shards] or [0]),
                              "shard_masters": {sh["master"]: sh.get("slots") for sh in shards},
                              "pending": body.get("outbox", {}).get("pending")})
            self.stop.wait(0.1)


class Holder(threading.Thread):
    def __init__(self, name, lease, port, rec, stop, ttl_ms, period):
        super().__init__(name=name, daemon=True)
        self.holder, self.lease = name, lease
        self.client = harness.Client(port, timeout=5.0)
        self.rec, self.stop, self.ttl_ms, self.period = rec, stop, ttl_ms, period

    def run(self):
        while not self.stop.is_set():
            req = {"lease": self.lease, "holder": self.holder, "ttl_ms": self.ttl_ms}
            safety.record_answer(self.rec, self.holder, "acquire", self.lease, req, self.client.post("/leader", req))
            self.stop.wait(self.period)


def lease_in(ranges, prefix):
    for i in range(100000):
        name = "%s%d" % (prefix, i)
        s = key_slot("baton:lease:{%s}" % name)
        if any(a <= s <= b for a, b in ranges):
            return name
    raise RuntimeError("no lease name found")


def fault_hang(cl, master, rec):
    node = cl.by_port(master)
    down = time.monotonic()
    rec.add({"k": "fault", "kind": "pause", "down": down, "shard": master})
    node.pause()
    time.sleep(0.7)
    node.resume()
    up = time.monotonic()
    rec.add({"k": "fault_end", "kind": "pause", "up": up, "data": "kept"})
    return {"kind": "hang", "shard": master, "down": down, "up": up}


def fault_kill(cl, master, rec):
    node = cl.by_port(master)
    replica = cl.replica_of(master)
    if replica is None:
        raise RuntimeError("shard %d has no replica in sync" % master)
    down = time.monotonic()
    rec.add({"k": "fault", "kind": "kill", "down": down, "shard": master})
    node.kill()
    if not harness.wait_until(lambda: replica.role() == "master" and master not in cl.masters(), 20, step=0.05):
        raise RuntimeError("no promotion of %d within 20 s" % replica.port)
    up = time.monotonic()
    rec.add({"k": "fault_end", "kind": "kill", "up": up, "data": "stale"})
    # Restarted empty: with its nodes.conf it rejoins as the new master's replica.
    node.start()
    harness.wait_until(lambda: cl.replica_of(replica.port) is not None, 20, step=0.2)
    return {"kind": "kill", "shard": master, "down": down, "up": up, "new_master": replica.port}


def fault_migrate(cl, lease, target, rec):
    key = "baton:lease:{%s}" % lease
    slot = key_slot(key)
    src = cl.by_port(cl.owner(slot))
    dst = cl.by_port(target)
    sid, did = src.node_id(), dst.node_id()
    t = time.monotonic()
    rec.add({"k": "migration", "t": t, "slot": slot, "from": src.port, "to": dst.port})
    dst.cli("CLUSTER", "SETSLOT", str(slot), "IMPORTING", sid)
    src.cli("CLUSTER", "SETSLOT", str(slot), "MIGRATING", did)
    keys = src.cli("CLUSTER", "GETKEYSINSLOT", str(slot), "100").split()
    if keys:
        src.cli(*(["MIGRATE", "127.0.0.1", str(dst.port), "", "0", "5000", "KEYS"] + keys))
    for n in cl.nodes:
        if n.proc is not None and n.role() == "master":
            n.cli("CLUSTER", "SETSLOT", str(slot), "NODE", did)
    return {"kind": "migrate", "shard": src.port, "to": dst.port, "slot": slot, "down": t, "up": t, "lease": lease}


def check_degraded(items, faults, shard_of, rep):
    """A degraded answer only for a lease of the faulted shard, between its fault and its
    master being back + GRACE_S."""
    bad = 0
    for o in items:
        if o["k"] != "op" or o.get("b_mode") != "degraded":
            continue
        ok = any(f["kind"] in ("hang", "kill") and f["down"] <= o["r"] and o["s"] <= f["up"] + GRACE_S
                 and shard_of(o["res"], f["down"] - 0.001) == f["shard"] for f in faults)
        if not ok:
            bad += 1
            if bad <= 10:
                rep.violation("degraded_outside_faulted_shard", "%s %s at %.3f (shard %s)" % (o["h"], o["res"], o["s"], shard_of(o["res"], o["s"])))
    return bad


def run(args):
    root = tempfile.mkdtemp(prefix="baton-cluster-")
    os.chmod(root, 0o755)
    cl, pg, batond = None, None, None
    rec = safety.Recorder()
    stop = threading.Event()
    started = time.monotonic()
    try:
        cl = Cluster(root)
        pg = harness.Postgres()
        batond = harness.Batond(cl.url, pg.url, root, extra={"BATON_LOG_LEVEL": "warn"})
        batond.start()
        ranges = {}
        for a, b, p in cl.slots():
            ranges.setdefault(p, []).append((a, b))
        masters = sorted(ranges)
        leases = {m: [lease_in(ranges[m], "c%dl%d-" % (i, j)) for j in range(2)] for i, m in enumerate(masters)}
        print("batond on %d, %s; masters %s" % (batond.port, cl.url, masters), flush=True)
        # Where each lease lives over time, for the per-shard checks.
        placement = [(0.0, {l: m for m, ls in leases.items() for l in ls})]

        def shard_of(lease, t):
            current = placement[0][1]
            for since, where in placement:
                if since <= t:
                    current = where
            return current.get(lease)

        threads = [ShardStatus(batond.port, rec, stop)]
        for ls in leases.values():
            for l in ls:
                threads += [Holder("pod-%s-%d" % (l, k), l, batond.port, rec, stop, args.ttl_ms, args.period) for k in range(args.holders_per_lease)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        faults = []
        kinds = ["hang", "kill", "migrate"]
        for i in range(args.rounds):
            kind = kinds[i % 3]
            live = cl.masters()
            shard = live[(i // 3 + i) % len(live)]  # each kind on every shard in turn
            if kind == "migrate":  # from the master holding the most leases, to the next one
                held = list(placement[-1][1].values())
                shard = max(live, key=lambda m: (held.count(m), -live.index(m)))
            print("  round %d: %s on shard %d" % (i, kind, shard), flush=True)
            if kind == "hang":
                f = fault_hang(cl, shard, rec)
            elif kind == "kill":
                f = fault_kill(cl, shard, rec)
                where = dict(placement[-1][1])
                for l, m in list(where.items()):
                    if m == shard:
                        where[l] = f["new_master"]
                placement.append((f["down"], where))
            else:
                target = live[(live.index(shard) + 1) % len(live)]
                lease = next(l for l, m in placement[-1][1].items() if m == shard)
                f = fault_migrate(cl, lease, target, rec)
                where = dict(placement[-1][1])
                where[lease] = target
                placement.append((f["down"], where))
            faults.append(f)
            time.sleep(args.settle_s)
        stop.set()
        for t in threads:
            t.join(timeout=10)
        drained = harness.wait_until(lambda: (harness.http_get(batond.port, "/status")[1] or {}).get("outbox", {}).get("pending") == 0, 30, step=0.2)
        items = rec.snapshot()
        data = safety.read_pg(pg)
        rep = safety.check_history(items, breaker_threshold=3, cooldown_s=1.0, pg=data)
        check_degraded(items, faults, shard_of, rep)
        if not drained:
            rep.violation("outbox_not_drained", "history rows still pending")
        if not batond.alive():
            rep.violation("batond_crashed", batond.log()[-3000:])
        safety.print_report(rep)
        ops = sorted([o for o in items if o["k"] == "op"], key=lambda o: o["s"])
        for f in faults:
            nxt = min([g["down"] for g in faults if g["down"] > f["down"]] or [1e18])
            hit = {f["lease"]} if f["kind"] == "migrate" else {l for ls in leases.values() for l in ls if shard_of(l, f["down"] - 0.001) == f["shard"]}
            on = [o for o in ops if f["down"] <= o["s"] < nxt and o["res"] in hit]
            off = [o for o in ops if f["down"] <= o["s"] < nxt and o not in on]
            first = next((o for o in on if o["st"] == 200 and o.get("b_mode") == "normal" and o.get("b_acquired")), None)
            normal = next((o for o in on if o["st"] == 200 and o.get("b_mode") == "normal" and o["s"] >= f["up"]), None)
            print("fault kind=%s shard=%s master_back_s=%.2f until_normal_s=%s until_new_tenure_s=%s degraded=%d recovering_409=%d unavailable_503=%d other_shards_answers=%d other_shards_not_normal=%d"
                  % (f["kind"], f["shard"], f["up"] - f["down"], round(normal["r"] - f["down"], 2) if normal else None,
                     round(first["r"] - f["down"], 2) if first else None,
                     sum(1 for o in on if o.get("b_mode") == "degraded"),
                     sum(1 for o in on if o["st"] == 409 and o.get("b_reason") == "recovering"),
                     sum(1 for o in on if o["st"] == 503), len(off),
                     sum(1 for o in off if o.get("b_mode") != "normal" or o["st"] not in (200, 409) or o.get("b_reason") == "recovering")), flush=True)
        status = harness.http_get(batond.port, "/status")[1] or {}
        redis = status.get("backends", {}).get("redis", {})
        print("status: mode=%s failovers_seen=%s slot_migrations_seen=%s redirects_followed=%s duration_s=%.0f"
              % (redis.get("mode"), redis.get("failovers_seen"), redis.get("slot_migrations_seen"), redis.get("redirects_followed"),
                 time.monotonic() - started), flush=True)
        return 0 if not rep.violations else 1
    finally:
        harness.tear_down(stop, batond, [cl], pg, root)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--rounds", type=int, default=9, help="hang, kill, migrate in turn, each on the next shard")
    r.add_argument("--holders-per-lease", type=int, default=2)
    r.add_argument("--ttl-ms", type=int, default=3000)
    r.add_argument("--period", type=float, default=0.25)
    r.add_argument("--settle-s", type=float, default=7.0, help="seconds after each fault before the next")
    sys.exit(run(p.parse_args()))


if __name__ == "__main__":
    main()
