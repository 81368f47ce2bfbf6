"""The JupyterLab extension: how soon the sidebar shows the models list, and how big it is.

In one run:

1. ``waza up`` on a fresh ``WAZA_HOME`` (``benchmarks.stack.Stack``), ``--models`` extra models
   registered (besides the built-in ones), the admin logged in at the hub's form in Debian
   chromium (Playwright, no browser download); the hub starts the admin's JupyterLab.
2. **models list after Lab is ready**, ``--rounds`` times: ``/user/admin/lab?reset`` is loaded,
   Lab is *ready* when the launcher shows; then the "waza" tab is clicked and the clock stops
   when the Models section shows its list. Also reported: page load to Lab ready.
3. where that time goes: ``GET <lab>/waza/models`` (the server extension, which calls the
   platform as the user) next to ``GET /api/models`` straight to the platform with a PAT,
   ``--requests`` each, one at a time, interleaved; p50/p90.
4. **bundle size**: the installed prebuilt extension (``share/jupyter/labextensions/
   waza-jupyter/static``), raw and gzip -9, and the bytes the browser actually fetched from it
   while loading Lab (the sidebar's chunks load on demand).

    python -m benchmarks.lab                 # 5 rounds, 20 extra models, 200 requests
    python -m benchmarks.lab --rounds 2 --requests 50   # quick

Results: ``benchmarks/results/lab.json``. Exit 0 on success, 2 if the setup failed.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import platform
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks._results import save
from benchmarks.stack import ADMIN_PASSWORD, SetupError, Stack, pat, percentile

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "lab.json"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
MODELS_SHOWN = "[data-section='models'] :is(.waza-list, .waza-empty)"
EXTENSION_PATH = "/lab/extensions/waza-jupyter/static/"


def labextension_dir() -> Path:
    return Path(sysconfig.get_path("data")) / "share/jupyter/labextensions/waza-jupyter/static"


def bundle_sizes() -> dict[str, Any]:
    """Raw and gzip -9 bytes of the installed extension's JavaScript, per file and in all."""
    files = {}
    for path in sorted(labextension_dir().glob("*.js")):
        body = path.read_bytes()
        files[path.name] = {"bytes": len(body), "gzip": len(gzip.compress(body, 9))}
    if not files:
        raise SetupError(f"no built extension in {labextension_dir()}: pip install ./jupyter_ext")
    return {
        "files": files,
        "total_bytes": sum(f["bytes"] for f in files.values()),
        "total_gzip": sum(f["gzip"] for f in files.values()),
    }


def register_models(url: str, home: Path, count: int) -> None:
    """``count`` more models in the registry (one small folder, registered under many names)."""
    folder = home / "data" / "bench-model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        token = http.post("/api/auth/token", data=login).json()["access_token"]
        for i in range(count):
            reply = http.post(
                "/api/models/import",
                json={"path": str(folder), "name": f"bench-model-{i:03d}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            if reply.status_code not in (200, 201):
                raise SetupError(f"registering a model failed: {reply.status_code} {reply.text}")


def sidebar_rounds(page: Any, lab: str, rounds: int) -> tuple[list[dict[str, float]], int]:
    """Load Lab ``rounds`` times; the timings of each and the extension's fetched bytes."""
    fetched: dict[str, int] = {}

    def on_response(response: Any) -> None:
        if EXTENSION_PATH in response.url and response.ok:
            with contextlib.suppress(Exception):  # a body the browser has already dropped
                fetched[response.url.split("?")[0]] = len(response.body())

    page.on("response", on_response)
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        page.goto(lab + "?reset")
        page.wait_for_selector(".jp-LauncherCard", timeout=120_000)
        ready = time.perf_counter()
        page.click("li[data-id='waza-sidebar']")
        page.wait_for_selector(MODELS_SHOWN, timeout=60_000)
        shown = time.perf_counter()
        count = page.locator("[data-section='models'] li[data-model]").count()
        results.append(
            {
                "lab_ready_s": round(ready - start, 3),
                "models_shown_after_ready_s": round(shown - ready, 3),
                "models_listed": count,
            }
        )
        print(
            f"  page load to Lab ready {ready - start:5.2f} s, then the models list "
            f"({count} models) {shown - ready:5.2f} s"
        )
    page.remove_listener("response", on_response)
    return results, sum(fetched.values())


def request_latency(
    lab_models: str, cookies: dict[str, str], api_models: str, token: str, requests: int
) -> dict[str, Any]:
    """p50/p90 ms of the extension's models route vs the platform's, one call at a time."""
    times: dict[str, list[float]] = {"extension": [], "platform": []}
    xsrf = {"X-XSRFToken": cookies.get("_xsrf", "")}
    with (
        httpx.Client(cookies=cookies, headers=xsrf, timeout=30, trust_env=False) as ext,
        httpx.Client(
            headers={"Authorization": f"Bearer {token}"}, timeout=30, trust_env=False
        ) as api,
    ):
        targets = {"extension": (ext, lab_models), "platform": (api, api_models)}
        for name, (http, url) in targets.items():  # warm-up
            reply = http.get(url)
            if reply.status_code != 200:
                raise SetupError(f"{name} {url}: {reply.status_code} {reply.text[:300]}")
        for i in range(requests):
            order = list(targets) if i % 2 == 0 else list(reversed(targets))
            for name in order:
                http, url = targets[name]
                began = time.perf_counter()
                reply = http.get(url)
                times[name].append((time.perf_counter() - began) * 1000)
                if reply.status_code != 200:
                    raise SetupError(f"{name} {url}: {reply.status_code}")
    return {
        name: {
            "requests": len(values),
            "p50_ms": round(percentile(values, 50), 2),
            "p90_ms": round(percentile(values, 90), 2),
        }
        for name, values in times.items()
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    bundle = bundle_sizes()
    load = tuple(round(x, 2) for x in os.getloadavg())
    workdir = Path(tempfile.mkdtemp(prefix="waza-bench-lab-"))
    stack = Stack(workdir / "home", None)
    stack.home.mkdir()
    try:
        started = stack.start()
        print(f"waza up ready in {started:.1f} s")
        register_models(stack.url, stack.home, args.models)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.goto(stack.url + "/hub/login")
                page.fill("#username_input", "admin")
                page.fill("#password_input", ADMIN_PASSWORD)
                began = time.perf_counter()
                page.click("#login_submit")
                page.wait_for_url("**/user/admin/lab**", timeout=180_000)
                page.wait_for_selector(".jp-LauncherCard", timeout=120_000)
                first = time.perf_counter() - began
                print(f"hub login to the first Lab ready (the server starts): {first:.1f} s")
                lab = stack.url + "/user/admin/lab"
                rounds, fetched = sidebar_rounds(page, lab, args.rounds)
                cookies = {c["name"]: c["value"] for c in context.cookies()}
            finally:
                browser.close()
        latency = request_latency(
            stack.url + "/user/admin/waza/models",
            cookies,
            stack.url + "/api/models/",
            pat(stack.url),
            args.requests,
        )
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    shown = [r["models_shown_after_ready_s"] for r in rounds]
    ready = [r["lab_ready_s"] for r in rounds]
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {"rounds": args.rounds, "extra_models": args.models, "requests": args.requests},
        "first_lab_after_login_s": round(first, 2),
        "rounds": rounds,
        "models_shown_after_ready_s": {
            "median": round(statistics.median(shown), 3),
            "max": round(max(shown), 3),
        },
        "lab_ready_s": {"median": round(statistics.median(ready), 3), "max": round(max(ready), 3)},
        "models_route": latency,
        "bundle": bundle | {"fetched_by_the_browser": fetched},
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": load,
        },
    }


def print_report(report: dict[str, Any]) -> None:
    shown, ready = report["models_shown_after_ready_s"], report["lab_ready_s"]
    print(
        f"\nmodels list after Lab is ready: median {shown['median']:.2f} s, max "
        f"{shown['max']:.2f} s over {len(report['rounds'])} rounds "
        f"(page load to Lab ready: median {ready['median']:.2f} s)"
    )
    route = report["models_route"]
    for name, label in (
        ("extension", "GET <lab>/waza/models (server extension)"),
        ("platform", "GET /api/models (platform, PAT)"),
    ):
        row = route[name]
        print(f"{label:44} p50 {row['p50_ms']:7.2f} ms  p90 {row['p90_ms']:7.2f} ms")
    b = report["bundle"]
    print(
        f"bundle: {b['total_bytes'] / 1024:.1f} KB of JavaScript ({b['total_gzip'] / 1024:.1f} KB "
        f"gzip) in {len(b['files'])} files; the browser fetched "
        f"{b['fetched_by_the_browser'] / 1024:.1f} KB of it"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="Lab loads to time")
    parser.add_argument("--models", type=int, default=20, help="extra models to register")
    parser.add_argument("--requests", type=int, default=200, help="calls per route")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except SetupError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    save(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
