"""schemathesis hooks for openapi/live-check.sh (loaded through SCHEMATHESIS_HOOKS).

GET /openapi.yaml answers `application/yaml`, and the spec describes that body as a
string (the document's text, so generated clients hand it over as text instead of
trying to build a model of it). schemathesis parses YAML responses into objects
before validating them, which would compare a mapping with `type: string`; this
deserializer hands it the text, as the spec and the generated clients see it. The
live check compares the served bytes with openapi/openapi.yaml separately.
"""

import re

import schemathesis


# schemathesis picks the first registered deserializer of the YAML family, so every
# YAML media type it knows is taken over (Baton serves only application/yaml).
@schemathesis.deserializer("text/yaml", "text/x-yaml", "application/x-yaml", "text/vnd.yaml", "application/yaml")
def yaml_document_as_text(_ctx, response):
    return response.content.decode(response.encoding or "utf-8")


# Blocking reads (issue 18): with `index` equal to the resource's current index, GET /leader,
# /leases, /tasks and /tasks/{task}/runs hold the answer for `wait` (default 30 s, at most
# 5 m), longer than the run's 10 s request timeout. schemathesis picks `index` from the
# schema (0 is the index of a lease nobody ever took, so its examples often match), so a
# held request is the normal, documented answer: every wait the server would honour is cut
# to 150 ms here. Values the server refuses (not a duration, over 5 m, an index that is no
# integer) are sent as generated, so the 400s stay checked. The Swift tests (WatchTests)
# check the long waits themselves.
BLOCKING_READS = {"/leader", "/leases", "/tasks", "/tasks/{task}/runs"}
WAIT = re.compile(r"^([0-9]{1,9})(ms|s|m)?$")
SHORT_WAIT = "150ms"


def _held_for_ms(wait):
    """How long batond would hold a request with this `wait`; None when it answers 400."""
    if wait is None:
        return 30_000
    m = WAIT.match(str(wait))
    if not m:
        return None
    ms = int(m.group(1)) * {None: 1, "ms": 1, "s": 1_000, "m": 60_000}[m.group(2)]
    return ms if ms <= 300_000 else None


@schemathesis.hook
def before_call(_ctx, case, _kwargs):
    if case.operation.path not in BLOCKING_READS or not isinstance(case.query, dict):
        return
    index = case.query.get("index")
    if index is None or not re.fullmatch(r"[0-9]{1,19}", str(index)):
        return
    held = _held_for_ms(case.query.get("wait"))
    if held is not None and held > 150:
        case.query["wait"] = SHORT_WAIT
