"""Turns docker/k8s/prometheus-rules.yaml into a plain Prometheus rule file and the test
file into one promtool can run (runbook annotations filled in from the rules), and checks
that every alert has a runbook, a firing test and a quiet one. (Task schedule periods are
not in the rules: batond exports them from the saved schedules, baton_schedule_period_seconds.)
Usage: prepare.py RULES.yaml TESTS.yaml OUTDIR"""
import re
import sys

import yaml

rules_path, tests_path, out = sys.argv[1:4]
errors = []
docs = [d for d in yaml.safe_load_all(open(rules_path)) if d]
rule_doc = [d for d in docs if d.get("kind") == "PrometheusRule"]
assert len(rule_doc) == 1, "expected one PrometheusRule"
groups = rule_doc[0]["spec"]["groups"]
yaml.safe_dump({"groups": groups}, open(f"{out}/rules.yaml", "w"), sort_keys=False)

alerts = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
for name, r in alerts.items():
    ann = r.get("annotations", {})
    for key in ("summary", "runbook"):
        if not ann.get(key):
            errors.append(f"{name}: no {key} annotation")
    rb = ann.get("runbook", "")
    for part in ("Meaning:", "Check:", "Do:"):
        if part not in rb:
            errors.append(f"{name}: runbook lacks '{part}'")

tests = yaml.safe_load(open(tests_path))
firing = set()
quiet = set()
for t in tests["tests"]:
    for case in t.get("alert_rule_test", []):
        name = case["alertname"]
        if name not in alerts:
            errors.append(f"test for unknown alert {name}")
            continue
        (firing if case.get("exp_alerts") else quiet).add(name)
        for a in case.get("exp_alerts") or []:
            labels = a.get("exp_labels", {})
            rb = alerts[name]["annotations"]["runbook"]
            rb = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: str(labels.get(m.group(1), "")), rb)
            a.setdefault("exp_annotations", {})["runbook"] = rb
for name in alerts:
    if name not in firing:
        errors.append(f"{name}: no test where it fires")
    if name not in quiet:
        errors.append(f"{name}: no test where it stays quiet")
yaml.safe_dump(tests, open(f"{out}/tests.yaml", "w"), sort_keys=False)

for e in errors:
    print("error: " + e)
print(f"{len(alerts)} alerts: {'ok' if not errors else 'FAILED'}")
sys.exit(1 if errors else 0)
