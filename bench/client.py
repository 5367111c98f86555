#!/usr/bin/env python3
"""A fixed number of requests over one keep-alive connection, for profiling (the
benchmark itself uses wrk). Exits non-zero on any unexpected status.

  client.py HOST:PORT leader|tasks|session|healthz COUNT
"""
import http.client
import json
import os
import sys


def main() -> None:
    hostport, kind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    host, port = hostport.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    auth = {"Authorization": "Bearer " + os.environ.get("BENCH_API_TOKEN", ""), "Content-Type": "application/json"}

    def call(method, path, body=None, headers=None, expect=200):
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        if r.status != expect:
            raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
        return data

    for i in range(count):
        if kind == "leader":
            call("POST", "/leader", {"lease": "profile", "holder": "profiler", "ttl_ms": 30000}, auth)
        elif kind == "tasks":
            claim = json.loads(call("POST", "/tasks/claim", {"task": f"profile-{i}", "holder": "profiler"}, auth))
            call("POST", "/tasks/complete", {"task": f"profile-{i}", "run_id": claim["run_id"], "holder": "profiler",
                                             "status": "succeeded"}, auth)
        elif kind == "session":
            call("GET", "/sessions/validate", headers={
                "Authorization": 'MediaBrowser Client="bench", Token="0123456789abcdef0123456789abcdef"'})
        elif kind == "healthz":
            call("GET", "/healthz")
        else:
            raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
