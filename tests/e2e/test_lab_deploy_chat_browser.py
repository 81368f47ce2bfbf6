"""The waza sidebar's whole flow in a real JupyterLab and browser (Debian chromium, Playwright).

A plain ``jupyter lab`` (not the `waza up` hub stack: a hub login and spawn would add ~20 s and
test nothing of the extension that this does not) is pointed at a live `waza api` on the
session's Ray head with ``WAZA_API_URL`` + an admin's personal access token, as outside
JupyterHub. In the browser: "Register as model" on the tiny model's folder in the file browser,
Deploy from the dialog (transformers, 0.5 CPU), the Deployments panel follows it to DEPLOYED,
Open chat streams tokens (more than one update reaches the screen before the answer ends), Stop;
a collection the test ingested (platform embeddings) is searched; the collection's "Insert code"
cell runs in a kernel and prints the hits. Screenshots of each step to ``$WAZA_TEST_ARTIFACTS``
(or the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    ADMIN_PASSWORD,
    LiveServer,
    create_database,
    create_pat,
    login,
    start_server,
    stop_server,
)
from tests.e2e.test_lab_sidebar_browser import (
    CHROMIUM,
    FLAGS,
    open_sidebar,
    start_lab,
    stop_lab,
)
from tests.fixtures.ray import RayNode
from tests.integration.serving_helpers import serving_env
from waza.client import Client
from waza.settings import Settings

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.timeout(420),
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="apt-get install -y chromium"),
]

DOCS = {
    "kek.md": "Rotate the key-encryption key with waza secrets rotate; old secrets stay readable.",
    "gpu.md": "Fractional GPUs: ask for 0.5 GPU per replica in the deploy dialog.",
    "tea.md": "Green tea is brewed at 80 degrees for two minutes.",
}

# counts the distinct texts the last assistant message shows while the answer streams
WATCH_CHAT = """() => {
  window.__wazaChunks = [];
  const log = document.querySelector('.waza-chat-log');
  new MutationObserver(() => {
    const msgs = log.querySelectorAll('.waza-msg-assistant');
    const text = msgs.length ? msgs[msgs.length - 1].textContent : '';
    const seen = window.__wazaChunks;
    if (text && seen[seen.length - 1] !== text) { seen.push(text); }
  }).observe(log, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(os.environ.get("WAZA_TEST_ARTIFACTS") or tmp_path_factory.mktemp("shots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_sync.Browser]:
    with playwright_sync.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ray_head: RayNode) -> Iterator[LiveServer]:
    """A live API on the session's Ray head; its deployments are force-stopped at the end."""
    home = tmp_path_factory.mktemp("lab-flow")
    url, drop = create_database(home)
    live = start_server(Settings(home=home, database_url=url), serving_env(ray_head.address))  # type: ignore[call-arg]
    try:
        yield live
    finally:
        try:
            with Client(live.api, username="admin", password=ADMIN_PASSWORD) as client:
                for dep in client.serving.list():
                    if dep.status != "STOPPED":
                        client.serving.stop(dep.id, force=True)
        finally:
            stop_server(live)
            drop()


def test_register_deploy_chat_stop_search_and_run_a_snippet(
    server: LiveServer,
    tmp_path: Path,
    tiny_chat_model: Path,
    artifacts: Path,
    browser: playwright_sync.Browser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with server.http() as http:
        token = create_pat(http, login(http, "admin", ADMIN_PASSWORD), "admin")
    collection = f"labdocs_{uuid.uuid4().hex[:6]}"
    with Client(server.api, token) as admin:  # ingest: platform embeddings into a vector DB
        db = admin.vectors.create_db(f"labdb-{uuid.uuid4().hex[:6]}")
        texts = list(DOCS.values())
        vectors = admin.embedding.batch(texts)
        meta = [{"text": t, "source": name} for name, t in DOCS.items()]
        admin.vectors.insert(db.id, collection, vectors, meta)

    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(tiny_chat_model, root / "tiny-chat")
    monkeypatch.setenv("WAZA_API_URL", server.api)  # for the kernel that runs the snippet
    lab, url = start_lab(root, server.api, token)
    started = time.perf_counter()
    page = None
    try:
        page, _ = open_sidebar(browser, url)
        page.wait_for_selector(
            "[data-section='models'] :is(.waza-empty, .waza-list)", timeout=30_000
        )

        # register the folder from the file browser's context menu
        page.click("li[data-id='filebrowser']")
        page.click(".jp-DirListing-item[title^='Name: tiny-chat']", button="right")
        page.click(".lm-Menu-item:has-text('Register as model')")
        page.wait_for_selector(".jp-Dialog:has-text('Model registered')")
        page.click(".jp-Dialog .jp-mod-accept")
        item = page.wait_for_selector("li[data-model='tiny-chat']", timeout=30_000)
        assert item is not None
        page.screenshot(path=str(artifacts / "lab-flow-1-registered.png"))

        # deploy from the dialog
        page.click("li[data-model='tiny-chat'] button:has-text('Deploy')")
        page.fill(".waza-deploy-form input[name='engine']", "transformers")
        page.fill(".waza-deploy-form input[name='cpu']", "0.5")
        page.screenshot(path=str(artifacts / "lab-flow-2-deploy-dialog.png"))
        page.click(".jp-Dialog .jp-mod-accept")
        dep = "li[data-deployment]:has-text('tiny-chat')"
        page.wait_for_selector(dep, timeout=30_000)
        badge = page.wait_for_selector(f"{dep} .waza-badge-ok", timeout=240_000)
        assert badge is not None and badge.inner_text() == "DEPLOYED"
        deployed_at = time.perf_counter()
        page.check("input[aria-label='All users']")  # an admin: everyone's, with owners
        page.wait_for_selector(f"{dep} .waza-owner:text-is('admin')", timeout=10_000)
        page.screenshot(path=str(artifacts / "lab-flow-3-deployed.png"))

        # chat: streamed tokens
        page.click(f"{dep} button:has-text('Open chat')")
        page.wait_for_selector(".waza-chat-log")
        page.evaluate(WATCH_CHAT)
        page.fill("textarea[aria-label='Message']", "Say something")
        page.press("textarea[aria-label='Message']", "Enter")
        page.wait_for_selector(".waza-chat-header:has-text('tok/s')", timeout=120_000)
        chunks = page.evaluate("window.__wazaChunks")
        assert len(chunks) > 1, chunks  # more than one update before the end: streamed
        assert all(chunks[i + 1].startswith(chunks[i]) for i in range(len(chunks) - 1))
        assert page.query_selector(".waza-chat .waza-error") is None
        page.screenshot(path=str(artifacts / "lab-flow-4-chat.png"))

        # stop
        page.click(f"{dep} button:has-text('Stop')")
        page.wait_for_selector(dep, state="detached", timeout=120_000)
        with Client(server.api, token) as admin:  # STOPPING until Ray lets it go
            deadline = time.monotonic() + 120
            while {d.status for d in admin.serving.list()} != {"STOPPED"}:
                assert time.monotonic() < deadline, admin.serving.list()
                time.sleep(0.5)

        # search the ingested collection
        box = f"input[aria-label='Search {collection}']"
        page.fill(box, "How do I rotate the encryption key?")
        page.press(box, "Enter")
        hit = page.wait_for_selector(f"[data-collection='{collection}'] .waza-hit", timeout=30_000)
        assert hit is not None and "kek.md" in hit.inner_text()
        page.screenshot(path=str(artifacts / "lab-flow-5-search.png"))

        # insert the collection's snippet into a notebook and run it
        page.click(f"[data-collection='{collection}'] button:has-text('Insert code')")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-Notebook .cm-content')]"
            ".some(e => e.textContent.includes('client.vectors.search'))",
            timeout=30_000,
        )
        page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')", timeout=60_000)
        code_cell = ".jp-Notebook .jp-CodeCell:has-text('client.vectors.search')"
        output = None
        for _ in range(3):  # a key press can be lost while the kernel connects
            page.click(f"{code_cell} .cm-content")
            page.keyboard.press("Control+Enter")
            try:
                output = page.wait_for_selector(
                    f"{code_cell} .jp-OutputArea-output:has-text('source')", timeout=20_000
                )
                break
            except playwright_sync.TimeoutError:
                continue
        assert output is not None and all(name in output.inner_text() for name in DOCS)
        page.screenshot(path=str(artifacts / "lab-flow-6-snippet-run.png"))
        print(
            f"lab flow {time.perf_counter() - started:.1f} s: DEPLOYED after "
            f"{deployed_at - started:.1f} s, the rest {time.perf_counter() - deployed_at:.1f} s"
        )
    except BaseException:
        if page is not None:
            page.screenshot(path=str(artifacts / "lab-flow-failed.png"))
        raise
    finally:
        stop_lab(lab)
