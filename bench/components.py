#!/usr/bin/env python3
"""Groups a callgrind dump's self cost (instructions) by component, per request:

  components.py CALLGRIND_OUT COUNT

Components come from the object file (libmicrohttpd, hiredis, libpq, libc, the kernel's
vDSO) and, inside the static batond binary, from the Swift module named in each mangled
symbol (BatonHTTP, BatonAPI, BatonRedis, ...; `Swift` is the standard library) or the
runtime's own C entry points (swift_retain, swift_allocObject, ...). A few functions that
matter on their own (libmicrohttpd's pool reset, malloc/free, memset/memcpy) are also
listed by name. Used by bench/profile.sh; the table in bench/README.md comes from it.
"""
import re
import subprocess
import sys
from collections import defaultdict

LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)(?:\s+\[(.+)\])?\s*$")


def module_of(symbol: str) -> str | None:
    """The Swift module of a mangled symbol (`$s9BatonHTTP...` -> BatonHTTP, `$ss...` -> Swift)."""
    m = re.match(r"^\$s(\d+)([A-Za-z_]\w*)", symbol)
    if m:
        n = int(m.group(1))
        return m.group(2)[:n]
    if symbol.startswith("$ss") or symbol.startswith("$sS"):
        return "Swift"
    return None


def component(fn: str, obj: str) -> str:
    obj = obj or ""
    base = obj.rsplit("/", 1)[-1]
    for lib, name in (("libmicrohttpd", "libmicrohttpd"), ("libhiredis", "hiredis"), ("libpq", "libpq"),
                      ("libssl", "openssl"), ("libcrypto", "openssl"), ("ld-linux", "dynamic loader")):
        if base.startswith(lib):
            return name
    if base.startswith("libc.so") or base.startswith("libm.so") or base.startswith("libpthread"):
        if re.search(r"malloc|free|realloc|calloc|_int_|tcache|arena", fn):
            return "libc malloc/free"
        if re.search(r"mem(set|cpy|move|cmp)|str(len|cmp|chr|ncmp)", fn):
            return "libc mem*/str*"
        return "libc other"
    if base.startswith("libstdc++") or base.startswith("libgcc"):
        return "libstdc++/libgcc"
    symbol = fn.split(":", 1)[-1]
    mod = module_of(symbol)
    if mod:
        return "Swift stdlib" if mod in ("Swift", "s") else mod
    if symbol.startswith("swift_") or symbol.startswith("_swift"):
        if symbol in ("swift_retain", "swift_release", "swift_bridgeObjectRetain", "swift_bridgeObjectRelease") or "etain" in symbol or "elease" in symbol:
            return "Swift runtime retain/release"
        return "Swift runtime other"
    if re.match(r"^(MHD_|mhd_|MHD)", symbol) or symbol in MHD_STATIC:
        return "libmicrohttpd"
    if re.match(r"^(redis|sds|__redis)", symbol):
        return "hiredis"
    if re.match(r"^(PQ|pq)", symbol):
        return "libpq"
    if re.search(r"malloc|free|realloc|calloc|_int_|tcache", symbol):
        return "libc malloc/free"
    if re.search(r"mem(set|cpy|move|cmp)|str(len|cmp|chr)", symbol):
        return "libc mem*/str*"
    if "vdso" in base or symbol.startswith("__vdso"):
        return "vDSO (clock)"
    return "other: " + (base or "?")


MHD_STATIC = set()


def main() -> None:
    path, count = sys.argv[1], int(sys.argv[2])
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    total = 0
    by_comp = defaultdict(int)
    named = defaultdict(int)
    body = out.split("\n")
    started = False
    for line in body:
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
            continue
        if line.startswith("Ir") and "file:function" in line:
            started = True
            continue
        if not started or not line.strip() or line.startswith("-"):
            continue
        m = LINE.match(line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        fn, obj = m.group(2), m.group(3) or ""
        # Thread entry frames alive when the counters were zeroed get the whole cost in
        # callgrind_annotate's self column: not a cost of their own.
        if re.search(r":(clone3?|start_thread)$", fn):
            continue
        comp = component(fn, obj)
        by_comp[comp] += ir
        sym = fn.split(":", 1)[-1]
        if sym in ("MHD_pool_reset",) or re.search(r"__mem(set|cpy|move)", sym):
            named[sym + " (" + comp + ")"] += ir
    print(f"instructions per request by component ({total:,} for {count} requests = {total // count:,} per request):")
    print("| Component | Instructions/request | Share |")
    print("|---|---:|---:|")
    for comp, ir in sorted(by_comp.items(), key=lambda kv: -kv[1]):
        if ir // count == 0:
            continue
        print(f"| {comp} | {ir // count:,} | {100 * ir / total:.1f} % |")
    if named:
        print("of which:")
        for sym, ir in sorted(named.items(), key=lambda kv: -kv[1])[:6]:
            print(f"  {sym}: {ir // count:,} per request")


if __name__ == "__main__":
    main()
