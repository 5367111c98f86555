"""Drives headless Chromium through the incident page: bad token refused, good token logs
in, the leases and runs created beforehand are in the rendered DOM, the stylesheet is
applied (its CSP hash is right), no CSP violation, range links, logout; writes a
screenshot. Usage: browser-check.py CHROMIUM BASE_URL TOKEN EXPECT.json SCREENSHOT.png WORKDIR
Prints one line per check; exits 1 if any failed."""
import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser, Page  # noqa: E402

chromium, base, token, expect_path, shot, work = sys.argv[1:7]
expect = json.load(open(expect_path))
failures = 0
passes = 0


def check(name, ok, detail=""):
    global failures, passes
    if ok:
        passes += 1
        print(f"  ok   {name}")
    else:
        failures += 1
        print(f"  FAIL {name} {detail}")


def cookies(page):
    return [c for c in page.send("Network.getCookies", {"urls": [base + "/ui"]})["cookies"] if c["name"] == "baton_ui"]


def type_token(value):
    return ("(() => { const t = document.getElementById('token'); t.value = %s; t.form.submit(); })()"
            % json.dumps(value))


log = open(os.path.join(work, "chromium.log"), "w")
browser = Browser(chromium, os.path.join(work, "profile"), log)
try:
    page = Page(browser)
    page.send("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})

    page.goto(base + "/ui")
    check("/ui without a session lands on the login form", page.eval("location.pathname") == "/ui/login",
          page.eval("location.href"))

    page.submit(type_token("not-a-valid-token-00000000"))
    text = page.eval("document.body.innerText")
    check("a bad token is refused", "That token was refused" in text and page.eval("location.pathname") == "/ui/login", text[:200])
    check("no session cookie after a bad token", cookies(page) == [])
    page.goto(base + "/ui")
    check("the page stays closed after a bad token", page.eval("location.pathname") == "/ui/login")

    elapsed = page.submit(type_token(token))
    check("a good token opens the page", page.eval("location.pathname") == "/ui", page.eval("location.href"))
    jar = cookies(page)
    check("session cookie is HttpOnly and SameSite=Strict",
          len(jar) == 1 and jar[0]["httpOnly"] and jar[0].get("sameSite") == "Strict", json.dumps(jar))
    check("session cookie is not the token", len(jar) == 1 and token not in jar[0]["value"])
    check("scripts cannot read the session cookie", "baton_ui" not in page.eval("document.cookie"))
    html = page.eval("document.documentElement.outerHTML")

    for lease, holder in expect["leases"].items():
        cell = page.eval("(() => { const c = document.querySelector('tr[data-lease=%s] td.holder'); return c ? c.textContent : null })()"
                         % json.dumps(lease))
        check(f"lease {lease} is held by {holder}", cell == holder, repr(cell))
    for run in expect["runs"]:
        row = page.eval("(() => { const r = document.querySelector('tr[data-run=%s]'); return r ? r.innerText : null })()"
                        % json.dumps(run["id"]))
        check(f"run {run['id'][:8]} of {run['task']} on {run['pod']} is listed ({run['status']})",
              row is not None and run["task"] in row and run["pod"] in row and run["status"] in row, repr(row))
    bars = page.eval("document.querySelectorAll('svg.tl g.run').length")
    check(f"timeline draws at least {expect['min_bars']} bars", bars >= expect["min_bars"], f"got {bars}")
    overlap = page.eval("document.querySelectorAll('svg.tl g.run[data-task=%s][data-overlap]').length"
                        % json.dumps(expect["overlap_task"]))
    check(f"overlapping runs of {expect['overlap_task']} are marked", overlap >= 2, f"got {overlap}")
    late = page.eval("document.querySelectorAll('svg.tl g.run[data-late]').length")
    check("the late completion is marked", late >= 1, f"got {late}")
    check("client text stays text (no element injected)",
          page.eval("document.querySelectorAll('img, script, iframe').length") == 0
          and expect["hostile_detail"] in page.eval("document.body.innerText"))
    shaded = page.eval("document.querySelectorAll('svg.tl rect[data-degraded]').length")
    check("the Redis outage is shaded on the timeline", shaded >= expect["degraded_periods"], f"got {shaded}")
    cells = page.eval("[...document.querySelectorAll('tr[data-backend=redis] td')].map(td => td.textContent)")
    check("the Redis breaker row shows closed again, opened once, with the last error",
          cells[1] == "closed" and cells[4] == "1" and cells[5] not in ("", "–"), repr(cells))
    bg = page.eval("getComputedStyle(document.querySelector('header')).backgroundColor")
    check("the stylesheet applies (its CSP hash is right)", bg == "rgb(31, 41, 51)", bg)
    violations = [m for m in page.console() if "Content Security Policy" in m or "Refused" in m]
    check("no Content-Security-Policy violation reported", not violations, "; ".join(violations)[:400])

    metrics = page.send("Page.getLayoutMetrics")["cssContentSize"]
    width, height = int(metrics["width"]), int(metrics["height"])
    png = page.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                               "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 6000), "scale": 1}},
                    timeout=60)["data"]
    os.makedirs(os.path.dirname(shot), exist_ok=True)
    with open(shot, "wb") as f:
        f.write(base64.b64decode(png))
    check(f"screenshot written to {shot}", os.path.getsize(shot) > 10_000)
    top = shot.replace(".png", "-top.png")
    with open(top, "wb") as f:
        f.write(base64.b64decode(page.send("Page.captureScreenshot", {"format": "png"}, timeout=60)["data"]))

    page.load(lambda: page.eval("document.querySelector('a[href=\"/ui?range=1h\"]').click()"))
    check("the 1h link selects the 1h range", page.eval("location.search") == "?range=1h"
          and page.eval("document.querySelector('.ranges a.on').textContent") == "1h")
    with open(shot.replace(".png", "-1h.png"), "wb") as f:
        f.write(base64.b64decode(page.send("Page.captureScreenshot", {"format": "png"}, timeout=60)["data"]))
    t7 = page.goto(base + "/ui?range=7d")
    check("the 7d range renders", "Runs in the last 7d" in page.eval("document.body.innerText"))

    page.submit("document.querySelector('form[action=\"/ui/logout\"]').submit()")
    check("logout returns to the login form and drops the cookie",
          page.eval("location.pathname") == "/ui/login" and cookies(page) == [])
    print(f"  figures: login+render {elapsed * 1000:.0f} ms, 7d render {t7 * 1000:.0f} ms, "
          f"{bars} bars, page {len(html.encode())} bytes of DOM, screenshot {width}x{min(height, 6000)}")
finally:
    browser.close()
    log.close()

print(f"browser check: {passes} passed, {failures} failed")
sys.exit(1 if failures else 0)
