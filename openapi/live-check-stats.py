"""Summarises a schemathesis NDJSON report for openapi/live-check.sh.

    python3 live-check-stats.py REPORT.ndjson [--expect 'METHOD /path=200,409' ...] [--allow-503]

Prints, per operation, how many test cases ran and which statuses the server answered
(all phases together; stateful steps are counted under their operation), then totals.
With --expect, exits 1 when an operation never got one of the listed statuses: that is
how the live check makes sure the stateful endpoints were exercised beyond 400s. Any
5xx answer (but 503 with --allow-503, for the backend outage run) also exits 1.
"""

import argparse
import base64
import collections
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("report")
    parser.add_argument("--expect", action="append", default=[], metavar="'METHOD /path=STATUS,...'")
    parser.add_argument("--allow-503", action="store_true", help="503 is an expected answer (backends down)")
    args = parser.parse_args()

    statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    phases: collections.Counter = collections.Counter()
    operations_total = None
    server_errors = 0
    with open(args.report, encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            if "LoadingFinished" in event:
                operations_total = event["LoadingFinished"]["statistic"]["operations"]["selected"]
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished.get("recorder", {})
            cases = recorder.get("cases", {})
            for case_id, interaction in recorder.get("interactions", {}).items():
                request = interaction.get("request", {})
                response = interaction.get("response") or {}
                case = cases.get(case_id, {}).get("value", {})
                label = f"{request.get('method', case.get('method', '?'))} {case.get('path', '?')}"
                scenario = case.get("meta", {}).get("phase", {}).get("data", {}).get("scenario")
                if scenario == "unspecified_http_method":
                    label = "(methods the spec does not list, any path)"
                status = response.get("status_code", "no response")
                statuses[label][status] += 1
                phases[finished.get("phase", "?")] += 1
                if isinstance(status, int) and status >= 500 and not (status == 503 and args.allow_503):
                    server_errors += 1
                    content = response.get("content") or {}
                    body = content.get("string") or base64.b64decode(content.get("$base64", "")).decode("utf-8", "replace")
                    print(f"  server error {status} on {label}: {body[:300]}", file=sys.stderr)

    total = sum(sum(c.values()) for c in statuses.values())
    width = max((len(k) for k in statuses), default=10)
    for label in sorted(statuses, key=lambda k: (k.split(" ", 1)[1], k)):
        counter = statuses[label]
        seen = ", ".join(f"{s}: {n}" for s, n in sorted(counter.items(), key=lambda kv: str(kv[0])))
        print(f"  {label:<{width}}  {sum(counter.values()):>5} requests  ({seen})")
    overall = collections.Counter()
    for counter in statuses.values():
        overall.update(counter)
    operations = [k for k in statuses if not k.startswith("(")]
    print(f"  operations tested: {len(operations)}"
          + (f" of {operations_total}" if operations_total is not None else "")
          + f"; requests: {total} ("
          + ", ".join(f"{p}: {n}" for p, n in sorted(phases.items())) + ")")
    print("  statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(overall.items(), key=lambda kv: str(kv[0]))))

    missing = []
    for spec in args.expect:
        label, _, wanted = spec.partition("=")
        for status in wanted.split(","):
            if statuses[label.strip()][int(status)] == 0:
                missing.append(f"{label.strip()} never answered {status}")
    for m in missing:
        print(f"  coverage: {m}", file=sys.stderr)
    return 1 if missing or server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
