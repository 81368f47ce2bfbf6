"""The web UI (``/ui/``): initial bundle size and time to interactive of the Models page.

In one run:

1. **bundle**: the installed build (``platform/waza/webui/static``, what ``/ui/`` serves): the
   files ``index.html`` loads before any page (entry script, its static imports, CSS), raw and
   gzip -9 — the *initial bundle* — next to every lazily loaded page chunk and the whole build.
2. a ``waza api`` process on a fresh ``WAZA_HOME`` (SQLite), ``--models`` extra models
   registered besides the built-in ones, Debian chromium through Playwright (no download).
3. **time to interactive of the Models page**, ``--rounds`` times each: *cold* (a new browser
   context: empty cache) and *warm* (reload: hashed assets from the cache). The session cookie
   is set first; the clock is the page's own (``performance.now()``, from navigation start) and
   stops when the models table shows its rows. Also: the bytes the browser fetched (cold).
4. the baseline: ``GET /api/models/`` straight to the platform (httpx, the same session),
   ``--requests`` times — the one API call the page waits on.

    python -m benchmarks.webui                 # 5 rounds, 20 extra models, 50 requests
    python -m benchmarks.webui --rounds 2      # quick

Results: ``benchmarks/results/webui.json``. Exit 0 on success, 1 if the initial bundle is over
``--budget-kb`` (gzip), 2 if the setup failed.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks._results import save
from waza.webui import STATIC_DIR

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "webui.json"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PASSWORD = "bench-webui-pw-1"  # noqa: S105 (a throw-away platform)
READY = "table[aria-label='Models'] tbody tr"
IMPORT_RE = re.compile(r"""(?:import|from)\s*["'`]\./([\w.-]+\.js)["'`]""")


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9))


def initial_files(static: Path) -> list[Path]:
    """What ``index.html`` loads before a page: its scripts, preloads and CSS, and their static
    imports (not the ``import()`` of lazy pages)."""
    html = (static / "index.html").read_text()
    found = re.findall(r"""(?:src|href)="/ui/(assets/[^"]+\.(?:js|css))\"""", html)
    queue = [static / f for f in found]
    seen: list[Path] = []
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.append(path)
        if path.suffix == ".js":
            text = path.read_text()
            # static imports only (`from"./x.js"`, `import"./x.js"`), not `import("./x.js")`
            for match in IMPORT_RE.finditer(text):
                start = match.start()
                if text[max(0, start - 1) : start] != "(" and not text[start:].startswith(
                    "import("
                ):
                    queue.append(path.parent / match.group(1))
    return seen


def bundle_report(static: Path) -> dict[str, Any]:
    initial = initial_files(static)
    assets = sorted((static / "assets").iterdir())
    lazy = [p for p in assets if p not in initial]
    return {
        "initial": [{"file": p.name, "bytes": p.stat().st_size, "gzip": gz(p)} for p in initial],
        "initial_bytes": sum(p.stat().st_size for p in initial),
        "initial_gzip": sum(gz(p) for p in initial),
        "lazy_chunks": [{"file": p.name, "bytes": p.stat().st_size, "gzip": gz(p)} for p in lazy],
        "total_gzip": sum(gz(p) for p in assets) + gz(static / "index.html"),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_api(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAZA_")}
    env.update(
        {"WAZA_HOME": str(home), "WAZA_ADMIN_PASSWORD": PASSWORD, "WAZA_LOG_LEVEL": "WARNING"}
    )
    log = (home / "api.log").open("wb")
    cmd = [sys.executable, "-m", "waza", "api", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((home / "api.log").read_text())
        try:
            if httpx.get(url + "/api/ping", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("waza api did not start in 90 s")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values),
        "p90": pct(values, 0.9),
        "min": min(values),
        "max": max(values),
    }


def measure(url: str, token: str, args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    cookie = {"name": "access_token", "value": token, "url": url}
    flag = "localStorage.setItem('waza-ui-signed-in', '1')"
    tti_js = f'() => document.querySelector("{READY}") && performance.now()'
    cold: list[float] = []
    warm: list[float] = []
    fetched: list[int] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            for _ in range(args.rounds):
                context = browser.new_context(viewport={"width": 1280, "height": 860})
                context.add_cookies([cookie])  # type: ignore[list-item]
                context.add_init_script(flag)
                page = context.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.goto(f"{url}/ui/models")
                cold.append(float(page.wait_for_function(tti_js, timeout=60_000).json_value()))
                fetched.append(
                    int(
                        page.evaluate(
                            "performance.getEntriesByType('resource')"
                            ".filter(e => e.name.includes('/ui/'))"
                            ".reduce((s, e) => s + e.transferSize, 0)"
                            " + performance.getEntriesByType('navigation')[0].transferSize"
                        )
                    )
                )
                page.reload()
                warm.append(float(page.wait_for_function(tti_js, timeout=60_000).json_value()))
                context.close()
        finally:
            browser.close()
    api: list[float] = []
    with httpx.Client(base_url=url, cookies={"access_token": token}, timeout=30) as http:
        for _ in range(args.requests):
            started = time.perf_counter()
            assert http.get("/api/models/").status_code == 200
            api.append((time.perf_counter() - started) * 1000)
    return {
        "tti_cold_ms": summary(cold),
        "tti_warm_ms": summary(warm),
        "fetched_cold_bytes": statistics.median(fetched),
        "api_models_ms": summary(api),
        "console_errors": errors,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", type=int, default=20, help="extra models to register")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--budget-kb", type=float, default=500.0, help="initial bundle, gzip")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (STATIC_DIR / "index.html").is_file():
        print(f"the web UI is not built in {STATIC_DIR}: run scripts/setup.sh", file=sys.stderr)
        return 2
    report: dict[str, Any] = {
        "benchmark": "webui",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "args": {k: str(v) for k, v in vars(args).items()},
        "bundle": bundle_report(STATIC_DIR),
    }
    with tempfile.TemporaryDirectory(prefix="waza-bench-webui-") as tmp:
        try:
            process, url = start_api(Path(tmp))
        except RuntimeError as exc:
            print(f"setup failed: {exc}", file=sys.stderr)
            return 2
        try:
            with httpx.Client(base_url=url, timeout=30) as http:
                form = {"username": "admin", "password": PASSWORD}
                token = http.post("/api/auth/token", data=form).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                for i in range(args.models):
                    body = {"name": f"bench-model-{i:03d}", "purpose": "chat"}
                    http.post("/api/models/", json=body, headers=headers).raise_for_status()
                report["models_listed"] = len(http.get("/api/models/", headers=headers).json())
            report.update(measure(url, token, args))
        finally:
            process.terminate()
            process.wait(timeout=30)
    initial_kb = report["bundle"]["initial_gzip"] / 1024
    report["initial_gzip_kb"] = round(initial_kb, 1)
    report["within_budget"] = initial_kb <= args.budget_kb
    save(report, args.json)
    b = report["bundle"]
    print(
        f"initial bundle {b['initial_bytes'] / 1024:.0f} KB, {initial_kb:.1f} KB gzip "
        f"(budget {args.budget_kb:.0f} KB); whole build {b['total_gzip'] / 1024:.0f} KB gzip, "
        f"{len(b['lazy_chunks'])} lazy chunks"
    )
    cold, warm, api = report["tti_cold_ms"], report["tti_warm_ms"], report["api_models_ms"]
    print(
        f"Models page interactive: cold p50 {cold['p50']:.0f} ms (p90 {cold['p90']:.0f}), "
        f"warm p50 {warm['p50']:.0f} ms; GET /api/models/ p50 {api['p50']:.1f} ms "
        f"({report['models_listed']} models); fetched cold "
        f"{report['fetched_cold_bytes'] / 1024:.0f} KB"
    )
    if report["console_errors"]:
        print(f"console errors: {report['console_errors']}", file=sys.stderr)
    print(f"results: {args.json}")
    return 0 if report["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
