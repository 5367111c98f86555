#!/usr/bin/env python3
"""A stand-in for the few Jellyfin endpoints batonctl uses, for scripts/e2e-batonctl.sh.

Implements exactly what ../shared/jellyfin/README.md documents:
  GET    /ScheduledTasks                 list (Id, Key, Name, State, LastExecutionResult, Triggers, ...)
  GET    /ScheduledTasks/{id}            one task
  POST   /ScheduledTasks/Running/{id}    start a run (204)
  DELETE /ScheduledTasks/Running/{id}    cancel a run (204)
  POST   /ScheduledTasks/{id}/Triggers   replace the task's triggers (body: JSON array) (204)
Every request needs `Authorization: MediaBrowser Token="<api key>"` (or X-Emby-Token), else 401.

A started run is "Running" for --run-seconds (or --duration KEY=SECONDS), then "Idle" with a new
LastExecutionResult whose Status is Completed, or what --outcome KEY=STATUS says (Failed,
Cancelled, Aborted); DELETE ends it at once with Status Cancelled. Every
request that changes something is appended to --log as one line: "METHOD PATH".

  python3 scripts/jellyfin-standin.py --port 8096 --api-key KEY [--run-seconds 1] \
      [--duration OptimizeDatabaseTask=30] [--outcome RefreshPeople=Failed] [--log FILE]
"""
import argparse
import datetime
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TASKS = [
    ("RefreshLibrary", "Scan Media Library", "7738148ffcd07979c7ceb148e06b3aed", "Library"),
    ("RefreshPeople", "Refresh People", "866456ed0d44e15468124ce33d85961e", "Library"),
    ("CleanActivityLog", "Clean Activity Log", "b461ef918ab28520928183e794350e3c", "Maintenance"),
    ("OptimizeDatabaseTask", "Optimize database", "31de9ce83b9223d338c77b1a635e144b", "Maintenance"),
    ("DeleteCacheFiles", "Clean Cache Directory", "241d4fcb19a1d557ee62428e411da609", "Maintenance"),
]


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


class State:
    def __init__(self, run_seconds, durations, outcomes, log):
        self.lock = threading.Lock()
        self.run_seconds = run_seconds
        self.durations = durations
        self.outcomes = outcomes
        self.log = log
        self.tasks = {}
        for key, name, task_id, category in TASKS:
            self.tasks[task_id] = {
                "Key": key, "Name": name, "Id": task_id, "Category": category,
                "Description": f"{name} (stand-in)", "IsHidden": False,
                "Triggers": [{"Type": "IntervalTrigger", "IntervalTicks": 432000000000}],
                "run": None,  # {"start": t, "cancelled": bool}
                "last": None,
            }

    def record(self, line):
        if self.log:
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def seconds(self, task):
        return self.durations.get(task["Key"], self.run_seconds)

    def settle(self, task, now):
        run = task["run"]
        if run and now >= run["start"] + self.seconds(task):
            status = self.outcomes.get(task["Key"], "Completed")
            task["last"] = self.result(task, run["start"], run["start"] + self.seconds(task), status)
            task["run"] = None

    def result(self, task, start, end, status):
        res = {"StartTimeUtc": iso(start), "EndTimeUtc": iso(end), "Status": status,
               "Name": task["Name"], "Key": task["Key"], "Id": task["Id"]}
        if status == "Failed":
            res["ErrorMessage"] = "stand-in failure"
        return res

    def view(self, task, now):
        self.settle(task, now)
        out = {k: v for k, v in task.items() if k not in ("run", "last")}
        out["State"] = "Running" if task["run"] else "Idle"
        if task["run"]:
            out["CurrentProgressPercentage"] = min(99.0, 100.0 * (now - task["run"]["start"]) / self.seconds(task))
        if task["last"]:
            out["LastExecutionResult"] = task["last"]
        return out


class Handler(BaseHTTPRequestHandler):
    server_version = "JellyfinStandIn/1.0"
    state = None
    api_key = ""

    def log_message(self, fmt, *args):  # quiet
        pass

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        m = re.match(r'^(MediaBrowser|Emby)\s+(.*)$', auth)
        token = None
        if m:
            for part in re.finditer(r'(\w+)="([^"]*)"', m.group(2)):
                if part.group(1) == "Token":
                    token = part.group(2)
        token = token or self.headers.get("X-Emby-Token")
        return token == self.api_key

    def send(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self, method):
        if not self.authorized():
            self.send(401, {"error": "unauthorized"})
            return
        path = self.path.split("?", 1)[0].rstrip("/")
        st = self.state
        now = time.time()
        with st.lock:
            if method == "GET" and path == "/ScheduledTasks":
                self.send(200, [st.view(t, now) for t in st.tasks.values()])
                return
            m = re.fullmatch(r"/ScheduledTasks/([0-9a-f]{32})", path)
            if method == "GET" and m:
                task = st.tasks.get(m.group(1))
                self.send(200, st.view(task, now)) if task else self.send(404, {"error": "not found"})
                return
            m = re.fullmatch(r"/ScheduledTasks/Running/([0-9a-f]{32})", path)
            if m and method in ("POST", "DELETE"):
                task = st.tasks.get(m.group(1))
                if not task:
                    self.send(404, {"error": "not found"})
                    return
                st.settle(task, now)
                if method == "POST":
                    if task["run"] is None:
                        task["run"] = {"start": now}
                else:
                    if task["run"] is not None:
                        task["last"] = st.result(task, task["run"]["start"], now, "Cancelled")
                        task["run"] = None
                st.record(f"{method} {path}")
                self.send(204)
                return
            m = re.fullmatch(r"/ScheduledTasks/([0-9a-f]{32})/Triggers", path)
            if m and method == "POST":
                task = st.tasks.get(m.group(1))
                if not task:
                    self.send(404, {"error": "not found"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    triggers = json.loads(self.rfile.read(length) or b"null")
                except ValueError:
                    triggers = None
                if not isinstance(triggers, list):
                    self.send(400, {"error": "body must be a JSON array"})
                    return
                task["Triggers"] = triggers
                st.record(f"{method} {path} {json.dumps(triggers)}")
                self.send(204)
                return
        self.send(404 if method in ("GET", "POST", "DELETE") else 405, {"error": "no such endpoint"})

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--run-seconds", type=float, default=1.0)
    parser.add_argument("--duration", action="append", default=[], help="KEY=SECONDS, how long that task runs")
    parser.add_argument("--outcome", action="append", default=[], help="KEY=STATUS, e.g. RefreshPeople=Failed")
    parser.add_argument("--log")
    args = parser.parse_args()
    outcomes = dict(o.split("=", 1) for o in args.outcome)
    durations = {k: float(v) for k, v in (d.split("=", 1) for d in args.duration)}
    Handler.state = State(args.run_seconds, durations, outcomes, args.log)
    Handler.api_key = args.api_key
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
