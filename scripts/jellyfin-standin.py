#!/usr/bin/env python3
"""A stand-in for one Jellyfin pod's scheduled-task API, for the end-to-end tests.

Modelled on Jellyfin 10.11.11 (../shared/jellyfin/README.md; Jellyfin.Api/Controllers/
ScheduledTasksController.cs, Emby.Server.Implementations/ScheduledTasks/ScheduledTaskWorker.cs,
Triggers/*.cs, MediaBrowser.Model/Tasks/*). Run one process per pod; pods share --config-dir.

  GET    /ScheduledTasks                 every task (Id, Key, Name, Category, State, Triggers, LastExecutionResult, ...)
  GET    /ScheduledTasks/{id}            one task; 404 unknown id
  POST   /ScheduledTasks/Running/{id}    start a run: 204 (also 204, nothing happens, if it is running); 404
  DELETE /ScheduledTasks/Running/{id}    cancel: 204; 500 when the task is not Running (Idle or Cancelling:
                                         ScheduledTaskWorker.Cancel throws InvalidOperationException); 404
  POST   /ScheduledTasks/{id}/Triggers   replace the triggers (TaskTriggerInfo[], [] removes them): 204; 404

Authorization ([Authorize(Policy = Policies.RequiresElevation)]): `Authorization: MediaBrowser
Token="..."` (or X-Emby-Token, or ?ApiKey=). The API key is an administrator; --user-token is a
non-administrator user (403); no or unknown token 401.

State and ordering, as ScheduledTaskWorker.ExecuteInternal: a run is Running; DELETE makes it
Cancelling for --cancel-seconds, then it ends Cancelled; State becomes Idle and only
--result-delay later is LastExecutionResult written (Jellyfin disposes the cancellation source,
which makes State Idle, then calls OnTaskCompleted). A run started by one of its own triggers
with MaxRuntimeTicks is cancelled after that long; a run started over the API has no limit
(the controller passes new TaskOptions()). Stopping the process (SIGTERM) with a run in
progress writes an Aborted result (Dispose), SIGKILL writes nothing.

Files: triggers in <config-dir>/ScheduledTasks/<id>.js, shared by the pods, read ONCE at start
(a POST changes this pod now and the file for everyone; other pods see it at their restart);
results in <data-dir>/ScheduledTasks/<id>.js, per pod. A task whose trigger file is missing gets
Jellyfin 10.11's default triggers, or those of --default-triggers FILE ({"Key": [TaskTriggerInfo]}),
which is how the tests get short intervals.

The pod runs its own triggers as Jellyfin does (Interval: max(last end, last trigger, now + 1 min)
+ interval, never run: now + 1 h; Daily/Weekly at local time; Startup 3 s after start).

A run lasts --run-seconds (or --duration KEY=SECONDS) and ends Completed, or as --outcome
KEY=STATUS says (Failed comes with an ErrorMessage). Every request that changes something, and
every run start and end, is appended to --log as one line: "METHOD PATH [body]", "RUN KEY start
by api|trigger", "RUN KEY end STATUS".

  python3 scripts/jellyfin-standin.py --port 8096 --api-key KEY [--config-dir D --data-dir D]
      [--run-seconds 1] [--duration RefreshLibrary=5] [--outcome RefreshPeople=Failed] [--log FILE]
"""
import argparse
import datetime
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

H = 36000000000          # ticks per hour (1 tick = 100 ns)
D = 24 * H

# Jellyfin 10.11 built-in tasks: (Key, Name, Id, Category, default triggers). Ids as in
# ../shared/jellyfin/README.md; the per-pod ones are DeleteCacheFiles, CleanLogFiles,
# DeleteTranscodeFiles. "IntroSkipperDetect" stands for a plugin's task (ids vary).
def interval(ticks):
    return {"Type": "IntervalTrigger", "IntervalTicks": ticks}

TASKS = [
    ("RefreshLibrary", "Scan Media Library", "7738148ffcd07979c7ceb148e06b3aed", "Library", [interval(12 * H)]),
    ("RefreshPeople", "Refresh People", "866456ed0d44e15468124ce33d85961e", "Library", [interval(7 * D)]),
    ("RefreshChapterImages", "Extract Chapter Images", "4e6637c832ed644d1af3370a2506e80a", "Library",
     [{"Type": "DailyTrigger", "TimeOfDayTicks": 2 * H, "MaxRuntimeTicks": 4 * H}]),
    ("RefreshTrickplayImages", "Generate Trickplay Images", "64f5f44cd30dc273cb9890205473bbcc", "Library",
     [{"Type": "DailyTrigger", "TimeOfDayTicks": 3 * H}]),
    ("OptimizeDatabaseTask", "Optimize database", "31de9ce83b9223d338c77b1a635e144b", "Maintenance", [interval(6 * H)]),
    ("CleanActivityLog", "Clean Activity Log", "b461ef918ab28520928183e794350e3c", "Maintenance", []),
    ("CleanCollectionsAndPlaylists", "Clean collections and playlists", "1a2b4e3a0bb5e1e2bf4f13f7c3b5b7e1", "Maintenance",
     [{"Type": "StartupTrigger"}]),
    ("PluginUpdates", "Update Plugins", "f9b057c054e9e6daee4a88ffd146a403", "Application",
     [{"Type": "StartupTrigger"}, interval(24 * H)]),
    ("RefreshGuide", "Refresh Guide", "bea9b218c97bbf98c5dc1303bdb9a0ca", "Live TV", [interval(24 * H)]),
    ("DeleteCacheFiles", "Clean Cache Directory", "241d4fcb19a1d557ee62428e411da609", "Maintenance", [interval(24 * H)]),
    ("CleanLogFiles", "Clean Log Directory", "9f6aa2ed4ad1d5a3e3e1b2f5c7e1d3a4", "Maintenance", [interval(24 * H)]),
    ("DeleteTranscodeFiles", "Clean Transcode Directory", "6f1b1d1c7e0f4e8a9d3c2b1a0f9e8d7c", "Maintenance",
     [{"Type": "StartupTrigger"}, interval(24 * H)]),
    ("IntroSkipperDetect", "Detect Intros (plugin)", "d1c5f0e2a3b44c6d8e9fa0b1c2d3e4f5", "Intro Skipper", [interval(24 * H)]),
]


def iso(ts):
    # .NET's round-trip format: 7 fraction digits, Z.
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def parse_iso(s):
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z", s or "")
    if not m:
        return None
    dt = datetime.datetime(*map(int, m.groups()[:6]), tzinfo=datetime.timezone.utc)
    return dt.timestamp() + (float("0." + m.group(7)) if m.group(7) else 0)


class Pod:
    def __init__(self, args, defaults):
        self.lock = threading.Lock()
        self.args = args
        self.started = time.time()
        self.durations = {k: float(v) for k, v in (d.split("=", 1) for d in args.duration)}
        self.outcomes = dict(o.split("=", 1) for o in args.outcome)
        self.tasks = {}
        for key, name, task_id, category, triggers in TASKS:
            self.tasks[task_id] = {
                "Key": key, "Name": name, "Id": task_id, "Category": category,
                "Description": f"{name} (stand-in)", "IsHidden": False,
                "Triggers": self.load(self.trigger_file(task_id), defaults.get(key, triggers)),
                "run": None,        # {"start", "cancel_at", "by", "max_at"}
                "idle_at": None,    # run ended: result pending until idle_at + result delay
                "pending": None,    # the result to write
                "last": self.load(self.result_file(task_id), None),
                "last_trigger": 0.0,
                "next": [],         # next fire per trigger (Unix time), None = not scheduled
            }
            self.schedule(self.tasks[task_id], startup=True)

    # files
    def trigger_file(self, task_id):
        return os.path.join(self.args.config_dir, "ScheduledTasks", task_id + ".js") if self.args.config_dir else None

    def result_file(self, task_id):
        return os.path.join(self.args.data_dir, "ScheduledTasks", task_id + ".js") if self.args.data_dir else None

    @staticmethod
    def load(path, default):
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        return default

    @staticmethod
    def save(path, value):
        if not path:
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f)
        os.replace(tmp, path)

    def record(self, line):
        if self.args.log:
            with open(self.args.log, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    # triggers (Triggers/*.cs): (re)computed at start, after a change, after each run
    def schedule(self, task, startup=False):
        now = time.time()
        out = []
        for t in task["Triggers"]:
            kind = t.get("Type")
            if kind == "IntervalTrigger" and t.get("IntervalTicks"):
                if task["last"] is None:
                    out.append(now + 3600)
                else:
                    end = parse_iso(task["last"].get("EndTimeUtc")) or 0
                    out.append(max(end, task["last_trigger"], now + 60) + t["IntervalTicks"] / 1e7)
            elif kind in ("DailyTrigger", "WeeklyTrigger"):
                local = datetime.datetime.now()
                tod = datetime.timedelta(microseconds=(t.get("TimeOfDayTicks") or 0) / 10)
                days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
                day = local.replace(hour=0, minute=0, second=0, microsecond=0)
                when = day + tod
                if kind == "DailyTrigger":
                    if local - day > tod:
                        when += datetime.timedelta(days=1)
                else:
                    want = days.index(t.get("DayOfWeek", "Sunday"))
                    while (when.isoweekday() % 7) != want or when <= local:
                        when += datetime.timedelta(days=1)
                out.append(now + (when - local).total_seconds())
            elif kind == "StartupTrigger":
                out.append(self.started + 3 if startup else None)
            else:
                out.append(None)
        task["next"] = out

    def seconds(self, task):
        return self.durations.get(task["Key"], self.args.run_seconds)

    def begin(self, task, now, by, max_ticks=None):
        task["run"] = {"start": now, "cancel_at": None, "by": by,
                       "max_at": now + max_ticks / 1e7 if max_ticks else None}
        self.record(f"RUN {task['Key']} start by {by}")

    def result(self, task, start, end, status):
        res = {"StartTimeUtc": iso(start), "EndTimeUtc": iso(end), "Status": status,
               "Name": task["Name"], "Key": task["Key"], "Id": task["Id"]}
        if status == "Failed":
            res["ErrorMessage"] = f"{task['Key']}: stand-in failure"
            res["LongErrorMessage"] = "System.Exception: stand-in failure"
        return res

    def finish(self, task, now, status):
        run = task["run"]
        task["run"] = None
        task["idle_at"] = now
        task["pending"] = self.result(task, run["start"], now, status)

    def settle(self, task, now):
        """Moves a task's state on to `now`."""
        run = task["run"]
        if run:
            if run["cancel_at"] is None and run["max_at"] is not None and now >= run["max_at"]:
                run["cancel_at"] = run["max_at"]
            if run["cancel_at"] is not None:
                if now >= run["cancel_at"] + self.args.cancel_seconds:
                    self.finish(task, run["cancel_at"] + self.args.cancel_seconds, "Cancelled")
            elif now >= run["start"] + self.seconds(task):
                self.finish(task, run["start"] + self.seconds(task), self.outcomes.get(task["Key"], "Completed"))
        if task["pending"] is not None and now >= task["idle_at"] + self.args.result_delay:
            task["last"] = task["pending"]
            task["pending"] = None
            self.save(self.result_file(task["Id"]), task["last"])
            self.record(f"RUN {task['Key']} end {task['last']['Status']}")
            self.schedule(task)
        if task["run"] is None and task["pending"] is None:
            for i, at in enumerate(task["next"]):
                if at is not None and now >= at:
                    trig = task["Triggers"][i]
                    task["last_trigger"] = now
                    task["next"][i] = None
                    self.begin(task, now, "trigger", trig.get("MaxRuntimeTicks"))
                    break

    def state(self, task):
        run = task["run"]
        if run is None:
            return "Idle"
        return "Cancelling" if run["cancel_at"] is not None else "Running"

    def view(self, task, now):
        self.settle(task, now)
        out = {k: v for k, v in task.items() if k in ("Key", "Name", "Id", "Category", "Description", "IsHidden", "Triggers")}
        out["State"] = self.state(task)
        if task["run"]:
            out["CurrentProgressPercentage"] = min(99.0, 100.0 * (now - task["run"]["start"]) / max(0.001, self.seconds(task)))
        if task["last"]:
            out["LastExecutionResult"] = task["last"]
        return out

    def tick(self):
        while True:
            time.sleep(0.1)
            with self.lock:
                now = time.time()
                for task in self.tasks.values():
                    self.settle(task, now)

    def shutdown(self):
        # ScheduledTaskWorker.Dispose: a run in progress ends Aborted.
        with self.lock:
            now = time.time()
            for task in self.tasks.values():
                if task["run"]:
                    task["last"] = self.result(task, task["run"]["start"], now, "Aborted")
                    self.save(self.result_file(task["Id"]), task["last"])
                    self.record(f"RUN {task['Key']} end Aborted")


class Handler(BaseHTTPRequestHandler):
    server_version = "JellyfinStandIn/10.11"
    pod = None
    api_key = ""
    user_token = None

    def log_message(self, fmt, *args):  # quiet
        pass

    def token(self):
        auth = self.headers.get("Authorization", "")
        m = re.match(r'^(MediaBrowser|Emby)\s+(.*)$', auth, re.I)
        token = None
        if m:
            for part in re.finditer(r'(\w+)="([^"]*)"', m.group(2)):
                if part.group(1) == "Token":
                    token = part.group(2)
        query = {k.lower(): v for k, v in parse_qs(urlsplit(self.path).query).items()}
        return token or self.headers.get("X-Emby-Token") or (query.get("apikey") or [None])[0]

    def send(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self, method):
        token = self.token()
        if token is None or token not in (self.api_key, self.user_token):
            self.send(401)
            return
        if token != self.api_key:
            self.send(403)  # a user without IsAdministrator: RequiresElevation
            return
        path = urlsplit(self.path).path.rstrip("/")
        pod = self.pod
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with pod.lock:
            now = time.time()
            if method == "GET" and path == "/ScheduledTasks":
                self.send(200, [pod.view(t, now) for t in pod.tasks.values()])
                return
            m = re.fullmatch(r"/ScheduledTasks/([0-9a-fA-F]{32})", path)
            if method == "GET" and m:
                task = pod.tasks.get(m.group(1).lower())
                self.send(200, pod.view(task, now)) if task else self.send(404)
                return
            m = re.fullmatch(r"/ScheduledTasks/Running/([0-9a-fA-F]{32})", path)
            if m and method in ("POST", "DELETE"):
                task = pod.tasks.get(m.group(1).lower())
                if not task:
                    self.send(404)
                    return
                pod.settle(task, now)
                pod.record(f"{method} {path}")
                if method == "POST":
                    if task["run"] is None:
                        pod.begin(task, now, "api")
                    self.send(204)
                else:
                    if pod.state(task) != "Running":
                        self.send(500, {"type": "https://tools.ietf.org/html/rfc9110#section-15.6.1", "title": "An error occurred while processing your request.", "status": 500,
                                        "detail": "Cannot cancel a Task unless it is in the Running state."})
                        return
                    task["run"]["cancel_at"] = now
                    self.send(204)
                return
            m = re.fullmatch(r"/ScheduledTasks/([0-9a-fA-F]{32})/Triggers", path)
            if m and method == "POST":
                task = pod.tasks.get(m.group(1).lower())
                if not task:
                    self.send(404)
                    return
                try:
                    triggers = json.loads(body or b"null")
                except ValueError:
                    triggers = None
                if not isinstance(triggers, list):
                    self.send(400, {"title": "One or more validation errors occurred.", "status": 400})
                    return
                task["Triggers"] = triggers
                pod.save(pod.trigger_file(task["Id"]), triggers)
                pod.schedule(task)
                pod.record(f"{method} {path} {json.dumps(triggers)}")
                self.send(204)
                return
        self.send(404 if method in ("GET", "POST", "DELETE") else 405)

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
    parser.add_argument("--user-token", help="a non-administrator user's token (403)")
    parser.add_argument("--config-dir", help="shared by the pods: ScheduledTasks/<id>.js trigger files")
    parser.add_argument("--data-dir", help="this pod's: ScheduledTasks/<id>.js last results")
    parser.add_argument("--default-triggers", help='JSON file {"Key": [TaskTriggerInfo, ...]} replacing defaults')
    parser.add_argument("--run-seconds", type=float, default=1.0)
    parser.add_argument("--cancel-seconds", type=float, default=0.3, help="how long a cancelled run stays Cancelling")
    parser.add_argument("--result-delay", type=float, default=0.3, help="LastExecutionResult is written this long after Idle")
    parser.add_argument("--duration", action="append", default=[], help="KEY=SECONDS, how long that task runs")
    parser.add_argument("--outcome", action="append", default=[], help="KEY=STATUS, e.g. RefreshPeople=Failed")
    parser.add_argument("--log")
    args = parser.parse_args()
    defaults = {}
    if args.default_triggers:
        with open(args.default_triggers, encoding="utf-8") as f:
            defaults = json.load(f)
    Handler.pod = pod = Pod(args, defaults)
    Handler.api_key = args.api_key
    Handler.user_token = args.user_token
    threading.Thread(target=pod.tick, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    def stop(signum, frame):
        pod.shutdown()
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
