"""The waza sidebar's whole flow under `waza up`, in a real browser (Debian chromium, Playwright).

One `waza up` stack (Traefik, JupyterHub, the API; `tests.e2e.hubstack`) on the session's Ray
head. Its platform downloads "Hugging Face Hub" models from the stand-in hub of
`tests.fixtures.fake_hf_hub` (a mock of the one thing that cannot run here: huggingface.co).

alice, a plain user, logs in at the hub's form; the hub spawns her JupyterLab, whose server
extension calls the platform with her server's hub token. In her sidebar: a Hub import with its
progress bar, cancelled midway, and one that finishes; "Register as model" on the tiny model's
folder in her home (one of her data roots) from the file browser's context menu, and "Register
dataset" on a CSV file there (the catalog shows its columns); Deploy from the dialog (first
asking for more CPUs than the cluster has: refused, with the reason); the Deployments panel
follows it to DEPLOYED and shows only her deployments (an admin's, which the platform lists to
her too, is not shown); Open chat streams tokens; its logs; Stop; a collection she ingested is
searched; the collection's "Insert code" cell runs in her kernel. Then the admin logs in: his
panel shows his own by default, and with "all users" every user's, with owners.
Screenshots of each panel go to ``$WAZA_TEST_ARTIFACTS`` (or the module's temporary folder).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import CHROMIUM, WATCH_CHAT
from tests.e2e.hubstack import HubStack, api_login, create_user, hub_login, start_stack
from tests.fixtures.fake_hf_hub import BIG_REPO, TINY_REPO, FakeHub, hub_env
from tests.fixtures.ray import RayNode
from tests.integration.serving_helpers import deploy, import_model, serving_env, wait_status
from waza.client import Client

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="apt-get install -y chromium"),
]

DOCS = {
    "kek.md": "Rotate the key-encryption key with waza secrets rotate; old secrets stay readable.",
    "gpu.md": "Fractional GPUs: ask for 0.5 GPU per replica in the deploy dialog.",
    "tea.md": "Green tea is brewed at 80 degrees for two minutes.",
}
ADMINS_MODEL = "admins-broken-model"


@pytest.fixture(scope="module")
def hf() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, ray_head: RayNode, hf: FakeHub
) -> Iterator[HubStack]:
    env = {**serving_env(ray_head.address), **hub_env(hf)}
    started = start_stack(tmp_path_factory.mktemp("lab-hub"), extra_env=env)
    try:
        yield started
    finally:
        try:
            with Client(started.api, username="admin", password=started.admin_password) as c:
                for dep in c.serving.list():
                    if dep.status not in ("STOPPED", "FAILED"):
                        c.serving.stop(dep.id, force=True)
        finally:
            began = time.perf_counter()
            started.stop()
            print(f"waza up stopped in {time.perf_counter() - began:.1f} s")


@pytest.fixture(scope="module")
def admin(stack: HubStack) -> dict[str, str]:
    return api_login(stack.url, "admin", stack.admin_password)


@pytest.fixture(scope="module")
def admins_deployment(stack: HubStack, admin: dict[str, str], tiny_chat_model: Path) -> str:
    """An admin's (public) deployment that fails at once, without Ray: its files are gone."""
    folder = stack.home / "data" / "gone"
    shutil.copytree(tiny_chat_model, folder)
    with httpx.Client(base_url=stack.url, timeout=60) as api:
        model = import_model(api, admin, folder, ADMINS_MODEL, {"engine": "transformers"})
        shutil.rmtree(folder)
        dep_id = deploy(api, admin, model["id"], engine="transformers")
        dep = wait_status(api, admin, dep_id, timeout=60)
    assert dep["status"] == "FAILED" and dep["last_error_code"] == "MODEL_LOADING_FAILURE", dep
    return dep_id


def open_lab(
    browser: playwright_sync.Browser, stack: HubStack, user: str, password: str
) -> tuple[playwright_sync.Page, float]:
    """Log in at the hub's form, wait for the spawned Lab, open the waza tab; Lab's ready time."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(stack.url + "/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=120_000)
    page.wait_for_selector(".jp-LauncherCard", timeout=90_000)
    ready = time.perf_counter()
    page.click("li[data-id='waza-sidebar']")
    return page, ready


def section(name: str) -> str:
    return f".waza-section[data-section='{name}']"


def shot(page: playwright_sync.Page, artifacts: Path, name: str, selector: str | None) -> None:
    """A screenshot of the page, with ``selector`` (a panel) scrolled into view first."""
    if selector:
        page.locator(selector).first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"lab-hub-{name}.png"))


class Laps:
    """Wall time of each step, printed at the end (``pytest -s``)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.laps: list[str] = []

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.laps.append(f"{name} {now - self.last:.1f}")
        self.last = now

    def __str__(self) -> str:
        return ", ".join(self.laps)


def hub_import(page: playwright_sync.Page, hf: FakeHub, artifacts: Path) -> None:
    """A slow import cancelled midway (progress bar, bytes, Cancel), then one that finishes,
    then the same again (nothing to download)."""
    box = "input[aria-label='Hub repo to import']"
    progress = f"{section('models')} .waza-progress"
    with hf.slow(128 * 1024):  # 3 MB at 128 KB/s: 24 s unless cancelled
        page.fill(box, BIG_REPO)
        page.press(box, "Enter")
        moving = page.locator(f"{progress}[data-state='downloading']")
        expect(moving).to_contain_text(" of 3.0 MB", timeout=30_000)
        expect(moving.locator("progress")).to_have_attribute("max", "1")
        shot(page, artifacts, "1-models-hub-import", section("models"))
        moving.locator("button:has-text('Cancel')").click()
        expect(page.locator(f"{progress}[data-state='cancelled']")).to_contain_text(
            "Cancelled", timeout=30_000
        )
    page.fill(box, TINY_REPO)
    page.press(box, "Enter")
    expect(page.locator(f"{progress}[data-state='done']")).to_contain_text(
        "Imported", timeout=60_000
    )
    page.wait_for_selector("li[data-model*='tiny-files']", timeout=30_000)
    page.press(box, "Enter")  # again: every file is here already, nothing to follow
    expect(page.locator(f"{section('models')} [role='status']")).to_contain_text(
        "already downloaded", timeout=30_000
    )


def ingest(stack: HubStack, token: str, collection: str) -> None:
    """A vector DB with ``collection`` holding DOCS, embedded by the platform's default model."""
    with Client(stack.api, token) as client:
        db = client.vectors.create_db(f"alicedb-{uuid.uuid4().hex[:6]}")
        vectors = client.embedding.batch(list(DOCS.values()))
        meta = [{"text": t, "source": name} for name, t in DOCS.items()]
        client.vectors.insert(db.id, collection, vectors, meta)


def spawn(stack: HubStack, user: str, password: str) -> None:
    """Ask the hub to start the user's Lab now (it starts in the background meanwhile)."""
    client, reply = hub_login(stack.url, user, password)
    try:
        assert reply.status_code in (200, 302), reply.text
        started = client.post(
            f"/hub/api/users/{user}/server",
            headers={"X-XSRFToken": client.cookies.get("_xsrf", "")},
        )
        assert started.status_code in (201, 202), started.text
    finally:
        client.close()


@pytest.fixture(scope="module")
def alice(stack: HubStack, admin: dict[str, str], tiny_chat_model: Path) -> tuple[str, str]:
    """A plain user with the tiny model's folder in her home (one of her data roots); her Lab
    and the admin's are started now, so they are ready by the time the browser logs in."""
    password = create_user(stack.url, admin, "alice")
    home = stack.home / "users" / "alice"  # her Lab's root
    home.mkdir(parents=True, exist_ok=True)
    shutil.copytree(tiny_chat_model, home / "tiny-chat")
    (home / "sales.csv").write_text("region,amount\nnorth,3\nsouth,4.5\n")
    spawn(stack, "alice", password)
    spawn(stack, "admin", stack.admin_password)
    return "alice", password


def test_user_imports_registers_deploys_chats_searches_and_runs_a_snippet(
    stack: HubStack,
    alice: tuple[str, str],
    admins_deployment: str,
    hf: FakeHub,
    browser: playwright_sync.Browser,
    artifacts: Path,
) -> None:
    laps = Laps()
    token = api_login(stack.url, *alice)["Authorization"].removeprefix("Bearer ")
    with Client(stack.api, token) as client:
        # the platform lists the admin's public deployment to her: the panel must filter it
        assert admins_deployment in {str(d.id) for d in client.serving.list()}
    collection = f"labdocs_{uuid.uuid4().hex[:6]}"
    # her own collection (platform embeddings), ingested while her Lab loads
    ingesting = ThreadPoolExecutor(1).submit(ingest, stack, token, collection)

    page, ready = open_lab(browser, stack, *alice)
    laps("login and Lab")
    try:
        page.wait_for_selector(f"{section('models')} :is(.waza-empty, .waza-list)", timeout=30_000)
        print(f"under the hub: models list shown {time.perf_counter() - ready:.2f} s after Lab")
        expect(page.locator(".waza-connection")).to_have_text("alice", timeout=30_000)
        assert page.locator("input[aria-label='All users']").count() == 0  # not an admin

        hub_import(page, hf, artifacts)
        laps("hub import")

        # register the folder from the file browser's context menu
        page.click("li[data-id='filebrowser']")
        page.click(".jp-DirListing-item[title^='Name: tiny-chat']", button="right")
        page.click(".lm-Menu-item:has-text('Register as model')")
        page.wait_for_selector(".jp-Dialog:has-text('Model registered')", timeout=30_000)
        page.click(".jp-Dialog .jp-mod-accept")
        page.wait_for_selector("li[data-model='tiny-chat']", timeout=30_000)
        shot(page, artifacts, "2-models-registered", "li[data-model='tiny-chat']")

        # register a CSV file as a dataset: the catalog shows it with its columns
        page.click("li[data-id='filebrowser']")
        page.click(".jp-DirListing-item[title^='Name: sales.csv']", button="right")
        page.click(".lm-Menu-item:has-text('Register dataset')")
        page.wait_for_selector(".jp-Dialog:has-text('Dataset registered')", timeout=30_000)
        page.click(".jp-Dialog .jp-mod-accept")
        dataset = page.locator(f"{section('catalog')} li[data-dataset$='/sales.csv']")
        dataset.locator("button.waza-link:text-is('sales.csv')").click(timeout=30_000)
        expect(dataset.locator("table.waza-schema")).to_contain_text("amount", timeout=30_000)
        assert dataset.locator("table.waza-schema tr").count() == 2  # region, amount
        laps("register")

        # a deployment that cannot fit is refused with the platform's reason
        page.click("li[data-model='tiny-chat'] button:has-text('Deploy')")
        page.fill(".waza-deploy-form input[name='cpu']", "256")
        page.click(".jp-Dialog .jp-mod-accept")
        refused = page.locator(".jp-Dialog:has-text('Cannot deploy tiny-chat')")
        expect(refused).to_contain_text("not enough CPUs: one replica needs 256", timeout=30_000)
        shot(page, artifacts, "3-deploy-no-fit", None)
        refused.get_by_role("button", name="Close").click()
        expect(refused).to_have_count(0)

        # deploy from the dialog
        page.click("li[data-model='tiny-chat'] button:has-text('Deploy')")
        page.fill(".waza-deploy-form input[name='engine']", "transformers")
        page.fill(".waza-deploy-form input[name='cpu']", "0.5")
        shot(page, artifacts, "4-deploy-dialog", None)
        page.click(".jp-Dialog .jp-mod-accept")
        dep = "li[data-deployment]:has-text('tiny-chat')"
        page.wait_for_selector(dep, timeout=30_000)
        badge = page.wait_for_selector(f"{dep} .waza-badge-ok", timeout=300_000)
        assert badge is not None and badge.inner_text() == "DEPLOYED"
        laps("deploy")
        # only hers, stopped and failed ones included: not the admin's failed deployment
        page.check(f"{section('deployments')} .waza-toggle:has-text('include stopped') input")
        expect(page.locator(f"{section('deployments')} li[data-deployment]")).to_have_count(1)
        assert page.locator(f"li[data-deployment='{admins_deployment}']").count() == 0
        shot(page, artifacts, "5-deployments", section("deployments"))

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
        shot(page, artifacts, "6-chat", None)
        laps("chat")

        # its logs in the main area: the platform's events and the replica's lines
        page.click(f"{dep} button:has-text('Logs')")
        expect(page.locator(".waza-logs pre")).to_contain_text("requested by alice", timeout=30_000)
        shot(page, artifacts, "6-logs", None)

        # stop: the badge follows it to STOPPED (stopped ones are shown)
        page.click(f"{dep} button:has-text('Stop')")
        expect(page.locator(f"{dep} .waza-badge")).to_have_text("STOPPED", timeout=120_000)
        laps("stop")

        # search her collection
        ingesting.result(timeout=120)
        page.click(".waza-header button[title='Refresh']")
        box = f"input[aria-label='Search {collection}']"
        page.fill(box, "How do I rotate the encryption key?")
        page.press(box, "Enter")
        hit = page.wait_for_selector(f"[data-collection='{collection}'] .waza-hit", timeout=30_000)
        assert hit is not None and "kek.md" in hit.inner_text()
        shot(page, artifacts, "7-vector-search", f"[data-collection='{collection}']")
        shot(page, artifacts, "8-catalog", section("catalog"))
        laps("search")

        # insert the collection's snippet into a notebook and run it in her kernel
        page.click(f"[data-collection='{collection}'] button:has-text('Insert code')")
        run_inserted_cell(page, "client.vectors.search", expect_text="source")
        output = page.locator(".jp-Notebook .jp-CodeCell .jp-OutputArea-output").last
        assert all(name in output.inner_text() for name in DOCS)
        shot(page, artifacts, "9-snippet-run", None)
        laps("snippet")
        print(f"lab flow under the hub, seconds: {laps}")
    except BaseException:
        page.screenshot(path=str(artifacts / "lab-hub-failed.png"))
        raise
    finally:
        page.context.close()


def run_inserted_cell(page: playwright_sync.Page, contains: str, expect_text: str) -> None:
    """Run the notebook cell holding ``contains`` until its output shows ``expect_text``.

    A new notebook may swap its kernel right after opening, which loses an execute request
    sent meanwhile: a cell that has not started after 3 s (prompt ``[ ]``) is run again.
    """
    page.wait_for_function(
        "(s) => [...document.querySelectorAll('.jp-Notebook .cm-content')]"
        ".some(e => e.textContent.includes(s))",
        arg=contains,
        timeout=30_000,
    )
    cell = page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=contains).first
    output = cell.locator(".jp-OutputArea-output").filter(has_text=expect_text)
    for _ in range(5):
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000
        )
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+Enter")
        for tick in range(120):
            if output.count():
                return
            if tick >= 6 and "[ ]" in cell.locator(".jp-InputPrompt").inner_text():
                break  # not started after 3 s: run it again
            page.wait_for_timeout(500)
    pytest.fail("the snippet printed nothing:\n" + page.locator(".jp-Notebook").inner_text())


def test_admin_sees_every_users_deployments_with_owners(
    stack: HubStack,
    alice: tuple[str, str],
    admins_deployment: str,
    browser: playwright_sync.Browser,
    artifacts: Path,
) -> None:
    laps = Laps()
    with Client(stack.api, username="admin", password=stack.admin_password) as client:
        if "tiny-chat" not in {d.m_name for d in client.serving.list()}:
            pytest.skip("needs alice's deployment: run the whole module")
    page, _ = open_lab(browser, stack, "admin", stack.admin_password)
    deployments = section("deployments")
    try:
        expect(page.locator(".waza-connection")).to_have_text("admin (admin)", timeout=30_000)
        page.check(f"{deployments} .waza-toggle:has-text('include stopped') input")
        mine = page.locator(f"{deployments} li[data-deployment]")
        expect(mine).to_have_count(1, timeout=30_000)  # his own only, by default
        failed = page.locator(f"li[data-deployment='{admins_deployment}']")
        expect(failed.locator(".waza-badge")).to_have_text("FAILED")
        expect(failed.locator(".waza-item-meta")).to_contain_text("MODEL_LOADING_FAILURE")
        expect(failed.locator(".waza-item-error")).to_contain_text("model files not found")

        page.check("input[aria-label='All users']")
        alices = page.locator(f"{deployments} li[data-deployment]:has-text('tiny-chat')")
        expect(alices.locator(".waza-owner")).to_have_text("alice", timeout=30_000)
        expect(failed.locator(".waza-owner")).to_have_text("admin")
        shot(page, artifacts, "10-admin-all-deployments", deployments)

        # the same panel in JupyterLab's dark theme (the sidebar uses the theme's variables)
        page.click(".lm-MenuBar-itemLabel:text-is('Settings')")
        page.click(".lm-Menu-itemLabel:text-is('Theme')")
        page.click(".lm-Menu-itemLabel:text-is('JupyterLab Dark')")
        page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
        page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
        shot(page, artifacts, "11-admin-dark-theme", deployments)
        laps("admin")
        print(f"admin's view, seconds: {laps}")
    except BaseException:
        page.screenshot(path=str(artifacts / "lab-hub-admin-failed.png"))
        raise
    finally:
        page.context.close()
