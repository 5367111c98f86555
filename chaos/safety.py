#!/usr/bin/env python3
"""Safety checker: concurrent holders against a live batond while Redis is killed,
hung and restarted (with its AOF, without any data, or from a stale copy), then a check
of the recorded history. See chaos/README.md for the model.

  safety.py run [--duration S] [--min-ops N] [--holders N] [--faults aof,none,pause,stale] [--history FILE]
  safety.py check FILE          check a recorded history again (offline)
  safety.py self-test           the checker finds planted violations

Exit status: 0 when there is no violation.
"""

import argparse
import heapq
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LEASES = ["chaos-lease-0", "chaos-lease-1"]
TASKS = ["chaos-task-0", "chaos-task-1", "chaos-task-2"]
TTLS = [1000, 1500, 2000]
AT_MOST = [1000, 2000, 3000]
# Window ends are pulled in by this much: Redis keeps expiry times in whole milliseconds
# (1 ms), and its clock and our monotonic clock may drift apart a little (0.1% of the TTL).
EPS_MS = 2.0
EPS_RATE = 0.001
ALLOWED_STATUS = {200, 409, 503}


class Recorder:
    def __init__(self):
        self.items = []
        self.lock = threading.Lock()

    def add(self, item):
        with self.lock:
            self.items.append(item)

    def snapshot(self):
        with self.lock:
            return list(self.items)


def record_answer(rec, holder, op, res, req, answer, replica=0):
    status, headers, body, sent, received = answer
    item = {"k": "op", "h": holder, "op": op, "res": res, "s": sent, "r": received, "st": status, "rep": replica}
    if status is None:
        item["err"] = headers.get("error") if isinstance(headers, dict) else "error"
    else:
        item["ra"] = headers.get("retry-after")
    for key in ("ttl_ms", "lock_at_most_ms", "lock_at_least_ms", "slot", "run_id", "status", "fencing_token"):
        if key in req:
            item["req_" + key] = req[key]
    if isinstance(body, dict):
        for key in ("holder", "leader", "acquired", "fencing_token", "ttl_ms", "expires_in_ms", "mode", "reason", "released",
                    "claimed", "run_id", "late", "recorded", "code", "lock_at_most_ms", "slot", "state"):
            if key in body:
                item["b_" + key] = body[key]
    rec.add(item)
    return item


class Holder(threading.Thread):
    """A simulated replica: takes leases and runs tasks, sometimes stalls past its TTL."""

    def __init__(self, index, ports, rec, stop, seed, pause_prob):
        super().__init__(name="holder-%d" % index, daemon=True)
        self.name_ = "pod-%d" % index
        self.ports = ports
        self.replica = index % len(ports)
        self.client = harness.Client(ports[self.replica], timeout=5.0)
        self.rec = rec
        self.stop = stop
        self.rng = random.Random(seed)
        self.pause_prob = pause_prob
        self.ops = 0

    def call(self, op, path, res, body):
        answer = self.client.post(path, body)
        self.ops += 1
        return record_answer(self.rec, self.name_, op, res, body, answer, self.replica)

    def maybe_switch(self):
        """With several replicas, a new connection may land on another one (a Service)."""
        if len(self.ports) > 1 and self.rng.random() < 0.15:
            self.client.close()
            self.replica = self.rng.randrange(len(self.ports))
            self.client = harness.Client(self.ports[self.replica], timeout=5.0)

    def backoff(self, item):
        st = item["st"]
        if st is None:
            self.sleep(0.2)
        elif st == 503:
            self.sleep(self.rng.uniform(0.05, 0.3))
        else:
            self.sleep(self.rng.uniform(0.01, 0.15))

    def sleep(self, seconds):
        self.stop.wait(seconds)

    def run(self):
        while not self.stop.is_set():
            self.maybe_switch()
            if self.rng.random() < 0.55:
                self.lease_session()
            else:
                self.task_run()

    def lease_session(self):
        lease = self.rng.choice(LEASES)
        ttl = self.rng.choice(TTLS)
        a = self.call("acquire", "/leader", lease, {"lease": lease, "holder": self.name_, "ttl_ms": ttl})
        if a["st"] != 200:
            self.backoff(a)
            return
        token = a.get("b_fencing_token")
        for _ in range(self.rng.randint(0, 8)):
            if self.stop.is_set():
                return
            if self.rng.random() < self.pause_prob:
                self.sleep(self.rng.uniform(1.1, 2.0) * ttl / 1000)  # a stall longer than the TTL
            else:
                self.sleep(self.rng.uniform(0.0, 0.35) * ttl / 1000)
            body = {"lease": lease, "holder": self.name_, "ttl_ms": ttl}
            if token is not None and self.rng.random() < 0.7:
                body["fencing_token"] = token
            r = self.call("renew", "/lease/renew", lease, body)
            if r["st"] != 200:
                self.backoff(r)
                return
        if self.rng.random() < 0.6:
            body = {"lease": lease, "holder": self.name_}
            if token is not None and self.rng.random() < 0.5:
                body["fencing_token"] = token
            self.call("release", "/lease/release", lease, body)

    def task_run(self):
        task = self.rng.choice(TASKS)
        most = self.rng.choice(AT_MOST)
        least = min(most, self.rng.choice([0, 0, 200, 600]))
        body = {"task": task, "holder": self.name_, "lock_at_most_ms": most, "lock_at_least_ms": least}
        if self.rng.random() < 0.4:
            body["slot"] = "slot-%d" % int(time.time() / 3)  # replicas firing the same schedule slot
        c = self.call("claim", "/tasks/claim", task, body)
        if c["st"] != 200 or not c.get("b_run_id"):
            self.backoff(c)
            return
        run_id = c["b_run_id"]
        for _ in range(self.rng.randint(0, 3)):
            self.sleep(self.rng.uniform(0.0, 0.3) * most / 1000)
            if self.stop.is_set():
                break
            e = self.call("extend", "/tasks/extend", task, {"task": task, "run_id": run_id, "holder": self.name_,
                                                            "lock_at_most_ms": most})
            if e["st"] != 200:
                break
        if self.rng.random() < self.pause_prob:
            self.sleep(self.rng.uniform(1.1, 1.6) * most / 1000)  # finishes after the claim ran out
        else:
            self.sleep(self.rng.uniform(0.0, 0.3) * most / 1000)
        status = self.rng.choice(["succeeded", "succeeded", "failed", "cancelled"])
        for _ in range(4):  # a completion is retried while Redis is unavailable, as a hook would
            done = self.call("complete", "/tasks/complete", task, {"task": task, "run_id": run_id, "holder": self.name_,
                                                                  "status": status})
            if done["st"] in (200, 409) or self.stop.is_set():
                break
            self.sleep(0.3)


class StatusMonitor(threading.Thread):
    def __init__(self, port, rec, stop, period=0.1, replica=0):
        super().__init__(name="status", daemon=True)
        self.replica = replica
        self.client = harness.Client(port, timeout=3.0)
        self.rec, self.stop, self.period = rec, stop, period

    def run(self):
        while not self.stop.is_set():
            st, _, body, s, r = self.client.get("/status")
            if st == 200 and isinstance(body, dict):
                redis = body.get("backends", {}).get("redis", {})
                self.rec.add({"k": "status", "rep": self.replica, "s": s, "r": r, "breaker": redis.get("breaker"),
                              "total_failures": redis.get("total_failures"), "cf": redis.get("consecutive_failures"),
                              "times_opened": redis.get("times_opened"),
                              "pending": body.get("outbox", {}).get("pending")})
            self.stop.wait(self.period)


class FaultInjector(threading.Thread):
    """Kills, hangs and restarts Redis. Every fault is recorded with its times."""

    def __init__(self, redis, rec, stop, kinds, every, seed, staledir):
        super().__init__(name="faults", daemon=True)
        self.redis, self.rec, self.stop = redis, rec, stop
        self.kinds = kinds
        self.every = every
        self.rng = random.Random(seed)
        self.persist = "aof"
        self.staledir = staledir
        self.counts = Counter()

    def run(self):
        plan = []
        while not self.stop.wait(self.rng.uniform(*self.every)):
            if not plan:
                plan = list(self.kinds)
                self.rng.shuffle(plan)
            self.inject(plan.pop())

    def inject(self, kind):
        self.counts[kind] += 1
        t0 = time.monotonic()
        if kind == "pause":
            self.redis.pause()
            self.rec.add({"k": "fault", "kind": kind, "down": t0})
            self.stop.wait(self.rng.uniform(0.6, 2.0))
            self.redis.resume()
            self.rec.add({"k": "fault_end", "kind": kind, "up": time.monotonic(), "data": "kept"})
            return
        if kind == "stale":
            # A failover to a replica that lags: it has the data as of a moment ago, and
            # misses the writes (renewals, new tenures) acknowledged since.
            if self.persist != "aof":
                self.redis.kill()
                self.redis.start("aof")
            self.redis.snapshot_to(self.staledir)
            self.stop.wait(self.rng.uniform(0.05, 1.0))
            t0 = time.monotonic()
        self.redis.kill()
        self.rec.add({"k": "fault", "kind": kind, "down": t0})
        # Amnesia is most dangerous when Redis is back before the old leases ran out.
        self.stop.wait(self.rng.uniform(0.1, 2.5) if kind == "aof" else self.rng.uniform(0.05, 0.8))
        data = "kept" if self.persist == "aof" else "lost"
        if kind == "none":
            self.redis.wipe()
            data = "lost"
            self.persist = self.rng.choice(["aof", "none"])  # empty data dir, or no persistence at all
        elif kind == "stale":
            self.redis.restore_from(self.staledir)
            data = "stale"
            self.persist = "aof"
        else:
            self.persist = "aof"
        self.redis.start(self.persist)
        self.rec.add({"k": "fault_end", "kind": kind, "up": time.monotonic(), "data": data})


# ----------------------------------------------------------------------------------------
# The checker
# ----------------------------------------------------------------------------------------

class Report:
    def __init__(self):
        self.violations = []
        self.notes = []
        self.figures = {}

    def violation(self, kind, detail):
        self.violations.append((kind, detail))

    def summary_counts(self):
        return Counter(k for k, _ in self.violations)


def window_end(send, ttl_ms):
    return send + (ttl_ms - EPS_MS - EPS_RATE * ttl_ms) / 1000.0


def check_history(items, breaker_threshold=3, cooldown_s=1.0, pg=None):
    """Checks a recorded history; `pg` is {'runs': [...], 'tenures': [...]} read after the run."""
    rep = Report()
    ops = [i for i in items if i["k"] == "op"]
    faults = sorted([i for i in items if i["k"] == "fault"], key=lambda i: i["down"])
    ends = sorted([i for i in items if i["k"] == "fault_end"], key=lambda i: i["up"])
    statuses = sorted([i for i in items if i["k"] == "status"], key=lambda i: i["r"])

    # 1. Every answer is one of the documented ones.
    per_op = Counter()
    for o in ops:
        per_op[(o["op"], o["st"])] += 1
        st = o["st"]
        if st is None:
            continue
        if st not in ALLOWED_STATUS:
            rep.violation("unexpected_status", "%s %s by %s -> %s %s" % (o["op"], o["res"], o["h"], st, o.get("b_code")))
        if st == 503 and not o.get("ra"):
            rep.violation("503_without_retry_after", "%s %s by %s" % (o["op"], o["res"], o["h"]))
        if st == 409 and o.get("b_reason") == "recovering" and not o.get("ra"):
            rep.violation("recovering_without_retry_after", "%s %s by %s" % (o["op"], o["res"], o["h"]))

    # 2. Outage periods: from a kill or hang to the moment Redis answered again, plus
    #    the time the breaker may stay open after that (two cooldowns: a failed probe).
    outages = []
    for f in faults:
        up = next((e["up"] for e in ends if e["up"] >= f["down"]), float("inf"))
        outages.append((f["down"], up + 2 * cooldown_s + 0.5, f))

    def failures_at(t, after=False, replica=0):
        """total_failures from a replica's /status: the last sample before t, or the first after t."""
        if after:
            for s in statuses:
                if s.get("rep", 0) == replica and s["s"] >= t and s.get("total_failures") is not None:
                    return s["total_failures"]
            return None
        best = 0
        for s in statuses:
            if s.get("rep", 0) == replica and s["r"] <= t and s.get("total_failures") is not None:
                best = s["total_failures"]
        return best

    # 3. Grants: normal ones open validity windows, degraded ones are checked for timing.
    windows = defaultdict(list)  # resource -> [(start, end, owner, detail)]
    degraded = []
    by_holder = defaultdict(list)
    for o in ops:
        by_holder[(o["h"], o["res"])].append(o)
    for (holder, res), seq in by_holder.items():
        seq.sort(key=lambda o: o["s"])
        open_windows = []
        for o in seq:
            op, st = o["op"], o["st"]
            if op in ("release", "complete"):
                # The holder stops acting as leader (or as the run) when it sends this.
                for w in open_windows:
                    if op == "release" or w[3] == o.get("req_run_id"):
                        w[1] = min(w[1], o["s"])
                continue
            if op in ("acquire", "renew", "extend") and st != 409:
                # A renew sets the TTL from the moment Redis runs it (never before the send
                # time), so it may also shorten the lease: earlier windows end by send + TTL.
                # Only a 409 says for sure that nothing changed.
                ttl = o.get("req_ttl_ms") if op != "extend" else o.get("req_lock_at_most_ms")
                for w in open_windows:
                    if op != "extend" or w[3] == o.get("req_run_id"):
                        w[1] = min(w[1], max(w[0], window_end(o["s"], ttl)))
            if st != 200:
                continue
            mode = o.get("b_mode")
            if mode == "degraded":
                degraded.append(o)
                if o.get("b_fencing_token") is not None:
                    rep.violation("degraded_with_token", "%s %s by %s carries fencing token %s" % (op, res, holder, o.get("b_fencing_token")))
                continue
            if mode != "normal":
                rep.violation("unmarked_mode", "%s %s by %s: mode %r" % (op, res, holder, mode))
                continue
            if o.get("b_fencing_token") is None:
                rep.violation("normal_without_token", "%s %s by %s: 200 normal without a fencing token" % (op, res, holder))
                continue
            if op in ("acquire", "renew"):
                if o.get("b_holder") != holder or o.get("b_leader") is not True:
                    rep.violation("grant_to_other", "%s %s by %s answered holder=%s leader=%s" % (op, res, holder, o.get("b_holder"), o.get("b_leader")))
                    continue
                ttl = o.get("req_ttl_ms")
                if o.get("b_ttl_ms") != ttl:
                    rep.violation("ttl_mismatch", "%s %s by %s: asked %s, answered %s" % (op, res, holder, ttl, o.get("b_ttl_ms")))
                owner = "%s#%s" % (holder, o["b_fencing_token"])
                w = [o["r"], window_end(o["s"], ttl), owner, None, o]
            else:  # claim, extend
                if o.get("b_holder") != holder:
                    rep.violation("grant_to_other", "%s %s by %s answered holder=%s" % (op, res, holder, o.get("b_holder")))
                    continue
                most = o.get("req_lock_at_most_ms")
                run_id = o.get("b_run_id") or o.get("req_run_id")
                w = [o["r"], window_end(o["s"], most), run_id, run_id, o]
            open_windows.append(w)
            windows[res].append(w)

    # 4. No two owners (tenures, or runs) had overlapping server-acknowledged windows.
    #    (Labelled "_after_amnesia" when Redis came back without its data in between.)
    amnesia = [e["up"] for e in ends if e.get("data") in ("lost", "stale")]

    def label(kind, t0, t1):
        return kind + "_after_amnesia" if any(t0 <= t <= t1 for t in amnesia) else kind
    overlaps = 0
    for res, ws in windows.items():
        ws = [w for w in ws if w[1] > w[0]]
        ws.sort(key=lambda w: w[0])
        active = []  # heap of (end, idx)
        for idx, w in enumerate(ws):
            while active and active[0][0] <= w[0]:
                heapq.heappop(active)
            for end, j in active:
                other = ws[j]
                if other[2] != w[2] and end > w[0]:
                    overlaps += 1
                    if overlaps <= 20:
                        rep.violation(label("overlap", other[0], w[0]), "%s: %s held [%.3f, %.3f) while %s got a grant at %.3f (overlap %.0f ms)"
                                      % (res, other[2], other[0], other[1], w[2], w[0], (min(end, w[1]) - w[0]) * 1000))
                    elif overlaps == 21:
                        rep.violation(label("overlap", other[0], w[0]), "... more overlaps not listed")
            heapq.heappush(active, (w[1], idx))
    rep.figures["windows"] = sum(len(v) for v in windows.values())

    # 5. Fencing tokens never go backwards in real time, and each belongs to one owner.
    observations = defaultdict(list)  # resource -> (send, recv, token, is_new, owner)
    for o in ops:
        tok = o.get("b_fencing_token")
        if o["st"] not in (200, 409) or tok is None:
            continue
        is_new = (o["op"] == "acquire" and o["st"] == 200 and o.get("b_acquired") is True) or \
                 (o["op"] == "claim" and o["st"] == 200 and o.get("b_claimed") is True)
        owner = o.get("b_run_id") if o["op"] in ("claim", "extend") and o["st"] == 200 else o.get("b_holder")
        if o["op"] in ("claim", "extend", "complete") and o["st"] == 409:
            owner = None  # 409 bodies of tasks name the holder, not always the run
        observations[o["res"]].append((o["s"], o["r"], tok, is_new, owner, o))
    regressions = 0
    for res, obs in observations.items():
        owners, reported = {}, set()
        for s, r, tok, is_new, owner, o in obs:
            if owner is None:
                continue
            prev = owners.setdefault(tok, owner)
            if prev != owner and (tok, owner) not in reported:
                reported.add((tok, owner))
                rep.violation("token_reused" + ("_after_amnesia" if amnesia else ""), "%s: token %s given to %s and to %s" % (res, tok, prev, owner))
        by_send = sorted(obs, key=lambda x: x[0])
        by_recv = sorted(obs, key=lambda x: x[1])
        k, highest, seen_from = 0, None, None
        for s, r, tok, is_new, owner, o in by_send:
            while k < len(by_recv) and by_recv[k][1] < s:
                if highest is None or by_recv[k][2] > highest:
                    highest, seen_from = by_recv[k][2], by_recv[k]
                k += 1
            if highest is None:
                continue
            if tok < highest or (is_new and tok == highest):
                regressions += 1
                if regressions <= 20:
                    rep.violation(label("token_regressed", seen_from[1], o["s"]), "%s: %s %s answered token %s (new tenure: %s) after token %s was seen at %.3f"
                                  % (res, o["op"], o["h"], tok, is_new, highest, seen_from[1]))
    rep.figures["token_observations"] = sum(len(v) for v in observations.values())

    # 6. Degraded grants only while the breaker is open. A breaker goes from closed to open
    #    only through `threshold` consecutive failures, so between the last /status sample
    #    that showed it closed (before the grant was sent) and the first sample after the
    #    answer arrived, batond must have counted that many failures (less those already
    #    counted as consecutive in the closed sample).
    outside = 0
    for o in degraded:
        rep_ = o.get("rep", 0)
        closed = None
        for st in statuses:
            if st.get("rep", 0) == rep_ and st["r"] <= o["s"] and st.get("breaker") == "closed":
                closed = st
        base = closed.get("total_failures", 0) if closed else 0
        already = (closed.get("cf") or 0) if closed else 0
        after = failures_at(o["r"], after=True, replica=rep_)
        in_outage = any(o["r"] >= a and o["s"] <= b for a, b, _ in outages)
        if after is None:
            after = base + breaker_threshold if in_outage else base  # no sample after: judged by the outage alone
        if after - base < breaker_threshold - already:
            kind = "degraded_before_threshold" if in_outage else "degraded_while_healthy"
            rep.violation(kind, "%s %s by %s at [%.3f, %.3f]: %d Redis failures counted since the breaker was last seen closed%s"
                          % (o["op"], o["res"], o["h"], o["s"], o["r"], after - base, "" if in_outage else ", no fault injected then"))
        elif not in_outage:
            outside += 1
    rep.figures["degraded_outside_faults"] = outside
    rep.figures["degraded_grants"] = len(degraded)

    # 7. A slot completes at most once (in normal mode), and is not claimed again after.
    slot_done = {}
    claims_by_run = {o["b_run_id"]: o for o in ops if o["op"] == "claim" and o["st"] == 200 and o.get("b_run_id")}
    for o in sorted(ops, key=lambda o: o["s"]):
        if o["op"] == "complete" and o["st"] == 200 and o.get("b_mode") == "normal" and o.get("req_status") in ("succeeded", "failed"):
            claim = claims_by_run.get(o.get("req_run_id"))
            if claim and claim.get("req_slot"):
                key = (o["res"], claim["req_slot"])
                if key in slot_done:
                    kind = "slot_completed_twice" if not any(slot_done[key]["r"] < t < o["s"] for t in amnesia) else "slot_completed_twice_after_amnesia"
                    rep.violation(kind, "%s slot %s: runs %s and %s" % (o["res"], claim["req_slot"], slot_done[key].get("req_run_id"), o.get("req_run_id")))
                else:
                    slot_done[key] = o
        elif o["op"] == "claim" and o["st"] == 200 and o.get("b_mode") == "normal" and o.get("req_slot"):
            done = slot_done.get((o["res"], o["req_slot"]))
            if done and done["r"] < o["s"]:
                kind = "slot_claimed_after_done" if not any(done["r"] < t < o["s"] for t in amnesia) else "slot_claimed_after_done_after_amnesia"
                rep.violation(kind, "%s slot %s claimed by %s after run %s completed it" % (o["res"], o["req_slot"], o["h"], done.get("req_run_id")))

    # 8. History: every completed claim is in baton.task_runs exactly once, every claim and
    #    new tenure is recorded, and nothing is recorded that no client was answered.
    if pg is not None:
        rows = defaultdict(list)
        for row in pg["runs"]:
            rows[row["run_id"]].append(row)
        for run_id, rs in rows.items():
            if len(rs) != 1:
                rep.violation("run_recorded_more_than_once", "%s: %d rows" % (run_id, len(rs)))
        completes = [o for o in ops if o["op"] == "complete" and o["st"] in (200, 409)]
        for o in completes:
            rs = rows.get(o.get("req_run_id"), [])
            if len(rs) != 1:
                rep.violation("completion_not_recorded", "%s run %s (%s): %d rows" % (o["res"], o.get("req_run_id"), o["st"], len(rs)))
                continue
            row = rs[0]
            if not row["finished"] or row["status"] != o.get("req_status"):
                rep.violation("completion_recorded_wrong", "%s run %s: row status %s finished %s, sent %s"
                              % (o["res"], o.get("req_run_id"), row["status"], row["finished"], o.get("req_status")))
            if o["st"] == 409 and o.get("b_late") and not row["late"]:
                rep.violation("late_not_marked", "%s run %s" % (o["res"], o.get("req_run_id")))
        for o in ops:
            if o["op"] == "claim" and o["st"] == 200 and o.get("b_run_id"):
                rs = rows.get(o["b_run_id"], [])
                if len(rs) != 1:
                    rep.violation("claim_not_recorded", "%s run %s by %s" % (o["res"], o["b_run_id"], o["h"]))
                elif o.get("b_mode") == "normal" and (rs[0]["holder"] != o["h"] or str(rs[0]["token"]) != str(o.get("b_fencing_token"))):
                    rep.violation("claim_recorded_wrong", "%s run %s: row %s" % (o["res"], o["b_run_id"], rs[0]))
        answered = {o["b_run_id"] for o in ops if o["op"] == "claim" and o.get("b_run_id")}
        lost = sum(1 for o in ops if o["op"] == "claim" and o["st"] is None)
        phantom = [r for r in rows if r not in answered]
        rep.figures["runs_recorded"] = len(rows)
        rep.figures["runs_unanswered"] = len(phantom)
        if len(phantom) > lost:
            rep.violation("run_recorded_without_answer", "%d rows for claims no client got an answer to (only %d claims lost their answer)" % (len(phantom), lost))
        tenures = {(t["lease"], str(t["token"])): t["holder"] for t in pg["tenures"]}
        for o in ops:
            if o["op"] == "acquire" and o["st"] == 200 and o.get("b_acquired") and o.get("b_mode") == "normal":
                key = (o["res"], str(o.get("b_fencing_token")))
                if key not in tenures:
                    rep.violation("tenure_not_recorded", "%s token %s of %s" % (key[0], key[1], o["h"]))
                elif tenures[key] != o["h"]:
                    rep.violation("tenure_recorded_wrong", "%s token %s: row holder %s, answered %s" % (key[0], key[1], tenures[key], o["h"]))
        rep.figures["completions_checked"] = len(completes)

    rep.figures["ops"] = len(ops)
    rep.figures["per_op"] = {"%s %s" % (op, st if st is not None else "no-answer"): n for (op, st), n in sorted(per_op.items(), key=lambda x: (x[0][0], str(x[0][1])))}
    rep.figures["faults"] = dict(Counter("%s/%s" % (e["kind"], e.get("data")) for e in ends))
    rep.figures["recovering_409"] = sum(1 for o in ops if o["st"] == 409 and o.get("b_reason") == "recovering")
    return rep


def read_pg(pg):
    runs = [{"run_id": r[0], "task": r[1], "holder": r[2], "status": r[3], "mode": r[4], "late": r[5] == "t",
             "token": r[6] or None, "finished": r[7] == "t"}
            for r in pg.query("SELECT run_id::text, task, holder, status, mode, late, COALESCE(fencing_token::text, ''), "
                              "finished_at IS NOT NULL FROM baton.task_runs")]
    tenures = [{"lease": r[0], "token": r[1], "holder": r[2]}
               for r in pg.query("SELECT lease, fencing_token::text, holder FROM baton.lease_tenures")]
    return {"runs": runs, "tenures": tenures}


def print_report(rep, out=sys.stdout):
    f = rep.figures
    print("figures:", file=out)
    for key in ("ops", "windows", "token_observations", "degraded_grants", "recovering_409", "completions_checked",
                "runs_recorded", "runs_unanswered"):
        if key in f:
            print("  %-22s %s" % (key, f[key]), file=out)
    for key in ("faults", "per_op"):
        if key in f:
            print("  %s:" % key, file=out)
            for k, v in f[key].items():
                print("    %-26s %s" % (k, v), file=out)
    for note in rep.notes:
        print("note: " + note, file=out)
    for kind, detail in rep.violations[:60]:
        print("VIOLATION %s: %s" % (kind, detail), file=out)
    counts = rep.summary_counts()
    print("violations=%d%s" % (len(rep.violations), (" (" + ", ".join("%s=%d" % kv for kv in sorted(counts.items())) + ")") if counts else ""), file=out)


def run(args):
    extra = {"BATON_LOG_LEVEL": "warn"}
    for setting in args.set:
        name, _, value = setting.partition("=")
        extra[name] = value
    stack = harness.Stack(extra=extra, keep=args.keep, replicas=args.replicas)
    rec = Recorder()
    stop = threading.Event()
    rep = None
    try:
        print("batond on port %d, redis %d, database %s, folder %s" % (stack.port, stack.redis.port, stack.pg.name, stack.dir), flush=True)
        seed = args.seed if args.seed is not None else random.randrange(1 << 30)
        print("seed %d" % seed, flush=True)
        kinds = [k for k in args.faults.split(",") if k]
        ports = [b.port for b in stack.batonds]
        holders = [Holder(i, ports, rec, stop, seed + i, args.pause_prob) for i in range(args.holders)]
        monitors = [StatusMonitor(p, rec, stop, replica=n) for n, p in enumerate(ports)]
        faults = FaultInjector(stack.redis, rec, stop, kinds, (args.fault_min, args.fault_max), seed ^ 0x5F5F,
                               os.path.join(stack.dir, "stale")) if kinds else None
        for m in monitors:
            m.start()
        for h in holders:
            h.start()
        if faults:
            faults.start()
        started = time.monotonic()
        last_print = started
        while True:
            time.sleep(0.5)
            elapsed = time.monotonic() - started
            n = sum(h.ops for h in holders)
            if time.monotonic() - last_print >= 10:
                last_print = time.monotonic()
                print("  %4.0f s  %7d ops  faults %s" % (elapsed, n, dict(faults.counts) if faults else {}), flush=True)
            if elapsed >= args.duration and n >= args.min_ops:
                break
            if args.max_duration and elapsed >= args.max_duration:
                print("stopping at --max-duration with %d ops" % n, flush=True)
                break
            if not all(b.alive() for b in stack.batonds):
                print("batond died", flush=True)
                break
        stop.set()
        for h in holders:
            h.join(15)
        if faults:
            faults.join(30)
        for m in monitors:
            m.join(5)
        alive = all(b.alive() for b in stack.batonds)
        stack.redis.resume()
        if stack.redis.proc is None:
            stack.redis.start("aof")
        # Let the outbox drain into PostgreSQL.
        drained = harness.wait_until(lambda: all(stack.status(n).get("outbox", {}).get("pending") == 0
                                                 for n in range(len(stack.batonds))), 60, step=0.2)
        items = rec.snapshot()
        pg = read_pg(stack.pg)
        rep = check_history(items, pg=pg)
        if not alive:
            rep.violation("batond_crashed", "exit code %s\n%s" % (stack.batond.exit_code, stack.batond.log()[-3000:]))
        if not drained:
            rep.violation("outbox_not_drained", json.dumps(stack.status().get("outbox")))
        redis_clients = stack.redis.client_count()
        pg_backends = stack.pg.backend_count()
        threads = int(stack.batond.env.get("BATON_THREADS", "4"))
        rep.figures["redis_clients_after"] = redis_clients
        rep.figures["pg_backends_after"] = pg_backends
        if redis_clients > len(stack.batonds) * (threads + 4):
            rep.violation("redis_connections_leaked", "%d Redis clients for %d threads" % (redis_clients, threads))
        if pg_backends > len(stack.batonds) * (threads + 4):
            rep.violation("pg_connections_leaked", "%d PostgreSQL sessions for %d threads" % (pg_backends, threads))
        # With BATON_REDIS_PIPELINE=on: how many acquires took the pipelined path (the
        # metric is absent when it is off), so a run says whether it exercised it.
        pipelined = 0
        for b in stack.batonds:
            text = harness.http_get(b.port, "/metrics")[1]
            for line in (text if isinstance(text, str) else "").splitlines():
                if line.startswith("baton_redis_pipelined_commands_total "):
                    pipelined += int(float(line.split()[1]))
        rep.figures["pipelined_commands"] = pipelined
        log = stack.batond.log()
        if '"level":"error"' in log and "history" not in log:
            rep.notes.append("batond logged errors: " + "\n".join(l for l in log.splitlines() if '"level":"error"' in l)[:2000])
        for b in stack.batonds:
            code = b.stop()
            if code != 0:
                rep.violation("unclean_exit", "batond exited %s on SIGTERM" % code)
        rep.figures["duration_s"] = round(time.monotonic() - started, 1)
        if args.history:
            with open(args.history, "w") as f:
                for item in items:
                    f.write(json.dumps(item) + "\n")
                f.write(json.dumps({"k": "pg", "pg": pg}) + "\n")
        print_report(rep)
        print("duration %.1f s, restarts %d, redis clients after %d, pg sessions after %d, pipelined commands %d"
              % (rep.figures["duration_s"], sum((faults.counts if faults else {}).values()), redis_clients, pg_backends, pipelined))
    finally:
        stop.set()
        stack.close()
    return 0 if rep is not None and not rep.violations else 1


def check_file(path):
    items, pg = [], None
    with open(path) as f:
        for line in f:
            item = json.loads(line)
            if item["k"] == "pg":
                pg = item["pg"]
            else:
                items.append(item)
    rep = check_history(items, pg=pg)
    print_report(rep)
    return 0 if not rep.violations else 1


def self_test():
    """Plants each kind of violation in a small history and checks that it is found."""
    def op(h, o, res, s, r, st=200, **kw):
        d = {"k": "op", "h": h, "op": o, "res": res, "s": s, "r": r, "st": st, "ra": "1" if st == 503 else None}
        d.update(kw)
        return d
    good = [
        op("a", "acquire", "L", 0.0, 0.01, b_holder="a", b_leader=True, b_acquired=True, b_fencing_token=1, b_mode="normal", req_ttl_ms=1000, b_ttl_ms=1000),
        op("b", "acquire", "L", 0.5, 0.51, st=409, b_holder="a", b_fencing_token=1),
        op("b", "acquire", "L", 1.2, 1.21, b_holder="b", b_leader=True, b_acquired=True, b_fencing_token=2, b_mode="normal", req_ttl_ms=1000, b_ttl_ms=1000),
        op("a", "renew", "L", 1.3, 1.31, st=409, b_holder="b", b_fencing_token=2),
    ]
    cases = {
        "clean": (good, set()),
        "overlap": (good + [op("c", "acquire", "L", 1.5, 1.51, b_holder="c", b_leader=True, b_acquired=True, b_fencing_token=3,
                               b_mode="normal", req_ttl_ms=1000, b_ttl_ms=1000)], {"overlap"}),
        "regress": (good + [op("c", "acquire", "L", 3.0, 3.01, b_holder="c", b_leader=True, b_acquired=True, b_fencing_token=1,
                               b_mode="normal", req_ttl_ms=1000, b_ttl_ms=1000)], {"token_regressed", "token_reused"}),
        "release_ends_window": (good[:1] + [op("a", "release", "L", 0.2, 0.21, b_released=True),
                                            op("b", "acquire", "L", 0.3, 0.31, b_holder="b", b_leader=True, b_acquired=True,
                                               b_fencing_token=2, b_mode="normal", req_ttl_ms=1000, b_ttl_ms=1000)], set()),
        "degraded_while_healthy": (good + [op("c", "acquire", "L", 5.0, 5.01, b_holder="c", b_leader=True, b_acquired=True,
                                              b_fencing_token=None, b_mode="degraded", req_ttl_ms=1000)], {"degraded_while_healthy"}),
        "degraded_in_outage": (good + [{"k": "fault", "kind": "aof", "down": 4.0}, {"k": "fault_end", "kind": "aof", "up": 6.0, "data": "kept"},
                                       {"k": "status", "s": 3.9, "r": 3.91, "total_failures": 0},
                                       {"k": "status", "s": 5.2, "r": 5.21, "total_failures": 3},
                                       op("c", "acquire", "L", 5.0, 5.01, b_holder="c", b_leader=True, b_acquired=True,
                                          b_fencing_token=None, b_mode="degraded", req_ttl_ms=1000)], set()),
        "degraded_too_early": (good + [{"k": "fault", "kind": "aof", "down": 4.0}, {"k": "fault_end", "kind": "aof", "up": 6.0, "data": "kept"},
                                       {"k": "status", "s": 3.9, "r": 3.91, "total_failures": 0},
                                       {"k": "status", "s": 5.2, "r": 5.21, "total_failures": 1},
                                       op("c", "acquire", "L", 5.0, 5.01, b_holder="c", b_leader=True, b_acquired=True,
                                          b_fencing_token=None, b_mode="degraded", req_ttl_ms=1000)], {"degraded_before_threshold"}),
        "500": (good + [op("c", "acquire", "L", 5.0, 5.01, st=500)], {"unexpected_status"}),
        "503_no_retry": (good + [dict(op("c", "acquire", "L", 5.0, 5.01, st=503), ra=None)], {"503_without_retry_after"}),
        "claims_overlap": ([op("a", "claim", "T", 0.0, 0.01, b_holder="a", b_run_id="r1", b_claimed=True, b_fencing_token=1, b_mode="normal", req_lock_at_most_ms=2000),
                            op("b", "claim", "T", 1.0, 1.01, b_holder="b", b_run_id="r2", b_claimed=True, b_fencing_token=2, b_mode="normal", req_lock_at_most_ms=2000)],
                           {"overlap"}),
        "complete_ends_claim": ([op("a", "claim", "T", 0.0, 0.01, b_holder="a", b_run_id="r1", b_claimed=True, b_fencing_token=1, b_mode="normal", req_lock_at_most_ms=2000),
                                 op("a", "complete", "T", 0.5, 0.51, req_run_id="r1", req_status="succeeded", b_mode="normal"),
                                 op("b", "claim", "T", 1.0, 1.01, b_holder="b", b_run_id="r2", b_claimed=True, b_fencing_token=2, b_mode="normal", req_lock_at_most_ms=2000)],
                                set()),
    }
    pg_cases = {
        "completion_missing": ([op("a", "claim", "T", 0.0, 0.01, b_holder="a", b_run_id="r1", b_claimed=True, b_fencing_token=1, b_mode="normal", req_lock_at_most_ms=2000),
                                op("a", "complete", "T", 0.5, 0.51, req_run_id="r1", req_status="succeeded", b_mode="normal")],
                               {"runs": [{"run_id": "r1", "task": "T", "holder": "a", "status": "running", "mode": "normal", "late": False, "token": "1", "finished": False}],
                                "tenures": []}, {"completion_recorded_wrong"}),
        "completion_ok": ([op("a", "claim", "T", 0.0, 0.01, b_holder="a", b_run_id="r1", b_claimed=True, b_fencing_token=1, b_mode="normal", req_lock_at_most_ms=2000),
                           op("a", "complete", "T", 0.5, 0.51, req_run_id="r1", req_status="succeeded", b_mode="normal")],
                          {"runs": [{"run_id": "r1", "task": "T", "holder": "a", "status": "succeeded", "mode": "normal", "late": False, "token": "1", "finished": True}],
                           "tenures": []}, set()),
        "phantom_run": ([], {"runs": [{"run_id": "r9", "task": "T", "holder": "a", "status": "running", "mode": "normal", "late": False, "token": "1", "finished": False}],
                             "tenures": []}, {"run_recorded_without_answer"}),
    }
    failed = 0
    for name, (items, want) in cases.items():
        got = set(check_history(items).summary_counts())
        ok = got == want
        failed += not ok
        print("%-24s %s%s" % (name, "ok" if ok else "FAILED", "" if ok else " (want %s, got %s)" % (sorted(want), sorted(got))))
    for name, (items, pg, want) in pg_cases.items():
        got = set(check_history(items, pg=pg).summary_counts())
        ok = got == want
        failed += not ok
        print("%-24s %s%s" % (name, "ok" if ok else "FAILED", "" if ok else " (want %s, got %s)" % (sorted(want), sorted(got))))
    print("%d passed, %d failed" % (len(cases) + len(pg_cases) - failed, failed))
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--duration", type=float, default=45, help="seconds to run at least")
    r.add_argument("--min-ops", type=int, default=0, help="operations to run at least")
    r.add_argument("--max-duration", type=float, default=0, help="stop here even if --min-ops is not reached")
    r.add_argument("--holders", type=int, default=8)
    r.add_argument("--replicas", type=int, default=1, help="batond replicas sharing Redis and PostgreSQL")
    r.add_argument("--faults", default="aof,none,pause", help="comma list of aof, none, pause, stale ('' for none)")
    r.add_argument("--fault-min", type=float, default=3.0)
    r.add_argument("--fault-max", type=float, default=7.0)
    r.add_argument("--pause-prob", type=float, default=0.08, help="chance that a holder stalls past its TTL")
    r.add_argument("--seed", type=int)
    r.add_argument("--history", help="write the recorded history (JSON lines) here")
    r.add_argument("--keep", action="store_true", help="keep the database and folder")
    r.add_argument("--set", action="append", default=[], metavar="BATON_NAME=VALUE",
                   help="a batond setting for every replica (repeatable), e.g. BATON_REDIS_PIPELINE=on")
    c = sub.add_parser("check")
    c.add_argument("file")
    sub.add_parser("self-test")
    args = p.parse_args()
    if args.cmd == "run":
        return run(args)
    if args.cmd == "check":
        return check_file(args.file)
    return self_test()


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
