"""The waza sidebar in a real JupyterLab and browser (Debian chromium through Playwright).

A plain ``jupyter lab`` (the extension installed by scripts/setup.sh) is pointed at a live
`waza api` with an admin's personal access token, as outside JupyterHub. Checked: the sidebar
lists a model the test registered (and how long that takes after Lab is ready), search narrows
it, "Insert code" puts a `waza.client` cell in a notebook; with the "API URL override" setting
pointed at a port nobody listens on (a platform that is down) every section shows an error line,
and the panels recover when the setting is cleared. One Lab serves both tests. Screenshots go to
``$WAZA_TEST_ARTIFACTS`` (or the test's temporary folder). The full deploy/chat flow runs under
`waza up` (Ray) in test_lab_hub_browser.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, LiveServer, create_pat, free_port, login
from tests.e2e.conftest import CHROMIUM
from waza.client import Client

playwright_sync = pytest.importorskip("playwright.sync_api")
TOKEN = "lab-browser-test-token"

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="apt-get install -y chromium"),
]


def start_lab(root: Path, api_url: str, api_key: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = root.parent / f"config-{port}"
    overrides = config / "labconfig"
    overrides.mkdir(parents=True)
    env = {
        **os.environ,
        "WAZA_API_KEY": api_key,
        "WAZA_CLI_PROFILE": "",
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTERLAB_SETTINGS_DIR": str(config / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(config / "workspaces"),
    }
    env.pop("JUPYTERHUB_API_TOKEN", None)
    cmd = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        f"--port={port}",
        f"--ServerApp.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        f"--WazaJupyterApp.api_url={api_url}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = (root.parent / f"lab-{port}.log").open("wb")
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/status", params={"token": TOKEN}).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("jupyter lab did not start")


def stop_lab(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # a kernel still shutting down
        process.kill()
        process.wait()


def open_sidebar(browser: playwright_sync.Browser, url: str) -> tuple[playwright_sync.Page, float]:
    """Open Lab, wait until it is ready, open the waza tab; the time Lab became ready."""
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{url}/lab?token={TOKEN}&reset")
    page.wait_for_selector(".jp-LauncherCard", timeout=60_000)
    ready = time.perf_counter()
    page.click("li[data-id='waza-sidebar']")
    return page, ready


@pytest.fixture(scope="module")
def lab(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A plain `jupyter lab` on the live platform with an admin's PAT: (Lab URL, the PAT)."""
    with live_server.http() as http:
        admin_token = create_pat(http, login(http, "admin", ADMIN_PASSWORD), "admin")
    root = tmp_path_factory.mktemp("lab") / "root"
    root.mkdir()
    process, url = start_lab(root, live_server.api, admin_token)
    try:
        yield url, admin_token
    finally:
        stop_lab(process)


def test_sidebar_lists_searches_and_inserts_code(
    live_server: LiveServer,
    lab: tuple[str, str],
    browser: playwright_sync.Browser,
    tiny_chat_model: Path,
    artifacts: Path,
) -> None:
    url, admin_token = lab
    with Client(live_server.url, admin_token) as admin:
        model = admin.models.import_path(tiny_chat_model, name="tiny-lab-browser")
    page, ready = open_sidebar(browser, url)
    try:
        item = page.wait_for_selector("li[data-model='tiny-lab-browser']", timeout=30_000)
        shown = time.perf_counter() - ready
        print(f"models list shown {shown:.2f} s after Lab was ready")
        assert item is not None and "tiny-lab-browser" in item.inner_text()
        page.screenshot(path=str(artifacts / "lab-sidebar-models.png"))

        page.fill("input[aria-label='Search models']", "no-such-model-xyz")
        page.press("input[aria-label='Search models']", "Enter")
        page.wait_for_selector("li[data-model='tiny-lab-browser']", state="detached")
        page.fill("input[aria-label='Search models']", "tiny-lab")
        page.press("input[aria-label='Search models']", "Enter")
        page.wait_for_selector("li[data-model='tiny-lab-browser']")

        page.click("li[data-model='tiny-lab-browser'] button:has-text('Insert code')")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-Notebook .cm-content')]"
            ".some(e => e.textContent.includes('get_model'))",
            timeout=30_000,
        )
        code = " ".join(page.locator(".jp-Notebook .cm-content").all_inner_texts())
        assert "from waza.client import Client" in code and str(model.id) in code
        page.screenshot(path=str(artifacts / "lab-snippet.png"))
    finally:
        page.close()


def put_settings(url: str, values: dict[str, object]) -> None:
    """Save the waza plugin's user settings through Lab's settings REST API."""
    reply = httpx.put(
        f"{url}/lab/api/settings/waza-jupyter:plugin",
        json={"raw": json.dumps(values)},
        headers={"Authorization": f"token {TOKEN}"},
        timeout=30,
    )
    assert reply.status_code == 204, reply.text


def test_platform_down_shows_an_error_state(
    lab: tuple[str, str], browser: playwright_sync.Browser, artifacts: Path
) -> None:
    """The "API URL override" setting pointed at a port nobody listens on: every section
    shows an error line (the same path as a platform that went down)."""
    url, _ = lab
    put_settings(url, {"apiUrl": f"http://127.0.0.1:{free_port()}/api"})
    page = None
    try:
        page, _ = open_sidebar(browser, url)
        for section in ("models", "deployments", "vectors", "catalog"):
            error = page.wait_for_selector(
                f".waza-section[data-section='{section}'] .waza-error", timeout=30_000
            )
            assert error is not None and "Cannot reach waza" in error.inner_text()
        page.screenshot(path=str(artifacts / "lab-sidebar-platform-down.png"))

        put_settings(url, {})  # back to the server's platform: the panels recover
        page.goto(f"{url}/lab?token={TOKEN}&reset")  # reset: the waza tab starts closed
        page.wait_for_selector(".jp-LauncherCard", timeout=60_000)
        page.click("li[data-id='waza-sidebar']")
        page.wait_for_selector("[data-section='models'] .waza-list", timeout=30_000)
        assert page.locator(".waza-section .waza-error").count() == 0
    finally:
        put_settings(url, {})
        if page is not None:
            page.close()
