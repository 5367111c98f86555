#!/usr/bin/env python3
"""Prints the baseline scripts the benchmark needs, taken from the Swift sources at run
time so the baselines always run what batond runs:

  extract.py lease-acquire      the lease acquire Lua script (LeaseScripts.swift)
  extract.py task-step          a Lua script that runs TaskScripts' claim body or complete
                                body on one key, alternately (see bench/README.md)
  extract.py session-sql        the Jellyfin token lookup (JellyfinTokenDirectory.swift) as a
                                pgbench script, `$1` replaced by the pgbench variable :token
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def swift_string(text: str, start: int) -> str:
    """The value of the Swift multi-line string literal opening at text[start:] ('\"\"\"')."""
    assert text.startswith('"""', start)
    body_start = text.index("\n", start) + 1
    end = text.index('"""', body_start)
    raw = text[body_start:end]
    # The closing delimiter's indentation is removed from every line.
    indent = text[text.rindex("\n", 0, end) + 1:end]
    lines = raw.split("\n")
    if lines and lines[-1].strip() == "":
        lines = lines[:-1]
    out = []
    for line in lines:
        out.append(line[len(indent):] if line.startswith(indent) else line.lstrip(" "))
    value = "\n".join(out)
    if "\\(" in value:
        raise SystemExit("extract.py: interpolation in a Lua script literal is not supported")
    return value.replace('\\"', '"').replace("\\\\", "\\")


def named_literal(text: str, pattern: str) -> str:
    m = re.search(pattern, text)
    if not m:
        raise SystemExit(f"extract.py: {pattern!r} not found")
    return m


SCRIPTS = ROOT / "Sources/BatonRedis/Scripts"


def literal_named(name: str) -> str:
    """The value of `static let NAME = \"\"\"...\"\"\"` in one of the script files."""
    for path in sorted(SCRIPTS.glob("*.swift")):
        text = path.read_text()
        m = re.search(r"static let " + re.escape(name) + r'\s*=\s*"""', text)
        if m:
            return swift_string(text, m.end() - 3)
    raise SystemExit(f"extract.py: no string literal named {name} in {SCRIPTS}")


def lua_script(path: str, name: str) -> str:
    """The source of `LuaScript(name: NAME, source: [A + B + ]\"\"\"...\"\"\")`, concatenated
    exactly as Swift does (so it has the same SHA-1 as the script batond runs)."""
    text = (ROOT / path).read_text()
    m = named_literal(text, r'LuaScript\(name:\s*"' + re.escape(name) + r'",\s*source:\s*((?:[\w.]+\s*\+\s*)*)"""')
    parts = [p.strip() for p in m.group(1).split("+") if p.strip()]
    prefix = "".join(literal_named(p.split(".")[-1]) for p in parts)
    return prefix + swift_string(text, m.end() - 3)


def task_step() -> str:
    claim = lua_script("Sources/BatonRedis/Scripts/TaskScripts.swift", "task_claim")
    complete = lua_script("Sources/BatonRedis/Scripts/TaskScripts.swift", "task_complete")
    # Function parameters named KEYS and ARGV shadow the globals, so each body runs
    # unchanged with the keys and arguments batond would pass it.
    return f"""-- KEYS: claim key, meta key. ARGV: holder, run_id, the server's run id. Claim arguments
-- as batond passes them (lock_at_most 1 h, lock_at_least 0, fencing floor 0, no slot,
-- recovery and carried windows 0).
local function claim(KEYS, ARGV)
{claim}
end
local function complete(KEYS, ARGV)
{complete}
end
local cur = redis.call('HMGET', KEYS[1], 'run_id', 'state')
if cur[1] and cur[2] == 'running' then
  return complete({{KEYS[1], KEYS[2]}}, {{cur[1], ARGV[1], 'succeeded', '2592000000', ARGV[3]}})
end
return claim({{KEYS[1], KEYS[2]}}, {{ARGV[1], ARGV[2], '3600000', '0', '0', '', '0', '0', ARGV[3]}})
"""


def session_sql() -> str:
    text = (ROOT / "Sources/BatonPostgres/Jellyfin/JellyfinTokenDirectory.swift").read_text()
    m = named_literal(text, r'sql\s*=\s*"""')
    raw = text[m.end() - 3:]
    # Keep the interpolation of the schema: swift_string refuses it, so do it by hand.
    body_start = raw.index("\n") + 1
    end = raw.index('"""', body_start)
    indent = raw[raw.rindex("\n", 0, end) + 1:end]
    lines = [ln[len(indent):] if ln.startswith(indent) else ln for ln in raw[body_start:end].split("\n")]
    sql = " ".join(ln.strip() for ln in lines if ln.strip())
    sql = sql.replace("\\(s)", '"public"').replace('\\"', '"')
    if "\\(" in sql:
        raise SystemExit("extract.py: unexpected interpolation in the session query")
    return sql.replace("$1", ":token") + ";\n"


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "lease-acquire":
        print(lua_script("Sources/BatonRedis/Scripts/LeaseScripts.swift", "lease_acquire"))
    elif what == "task-step":
        print(task_step())
    elif what == "session-sql":
        sys.stdout.write(session_sql())
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
