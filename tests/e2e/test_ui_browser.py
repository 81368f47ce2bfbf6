"""The web UI (``frontend/``, served at ``/ui/``) in a real browser against a live platform.

One `waza api` process for the module (``live_server``), Debian chromium through Playwright (no
browser download). An admin signs in through the UI and sees every page (a screenshot of each,
light and dark, to ``$WAZA_TEST_ARTIFACTS`` or the test's temporary folder); a collection the
test filled with platform embeddings is searched from the Vector stores page; a dataset is
registered from the Catalog page and its schema shown; a normal user gets no Admin page (the
UI hides it and the API refuses it with the same session). Every page must leave the browser
console free of errors, and pass an axe-core audit (no serious or critical violation) in light
and dark. A Hugging Face Hub import shows its progress bar and can be cancelled midway; the
hub is ``tests/fixtures/fake_hf_hub.py``, a local stand-in for the internet (the tests have
none), which the module's one platform downloads from. An expired session is renewed without
the user noticing; one that cannot be renewed returns to sign-in and then to the page. The
deploy-and-chat flow, which needs Ray, is in ``test_ui_chat_browser.py``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, LiveServer, create_user, live_platform, login
from tests.e2e.conftest import CHROMIUM
from tests.e2e.webui import (
    axe_audit,
    playwright_sync,
    require_build,
    signed_in,
)
from tests.fixtures.fake_hf_hub import BIG_REPO, TINY_REPO, FakeHub, hub_env
from waza.client import Client

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="apt-get install -y chromium"),
]

DOCS = {
    "kek.md": "Rotate the key-encryption key with waza secrets rotate; old secrets stay readable.",
    "tea.md": "Green tea is brewed at 80 degrees for two minutes.",
}
PAGES = ["models", "deployments", "chat", "vectors", "catalog", "apps", "admin"]


@pytest.fixture(scope="module")
def hf_hub() -> Iterator[FakeHub]:
    """The stand-in for huggingface.co (a local server; the tests have no internet)."""
    with FakeHub() as hub:
        yield hub


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, hf_hub: FakeHub) -> Iterator[LiveServer]:
    """The module's one `waza api`, downloading from the stand-in hub."""
    with live_platform(tmp_path_factory.mktemp("live"), hub_env(hf_hub)) as server:
        yield server


@pytest.fixture(scope="module")
def alice(live_server: LiveServer) -> tuple[str, str]:
    with live_server.http() as http:
        create_user(http, login(http, "admin", ADMIN_PASSWORD), "uialice")
    return "uialice", "pw-uialice-123"


@pytest.fixture(scope="module", autouse=True)
def built_ui() -> None:
    require_build()


def test_the_server_serves_the_spa(live_server: LiveServer) -> None:
    require_build()
    with live_server.http() as http:
        index = http.get("/ui/")
        assert index.status_code == 200 and '<div id="root">' in index.text
        assert index.headers["cache-control"] == "no-cache"
        deep = http.get("/ui/deployments")  # a client route: the app, not a 404
        assert deep.status_code == 200 and deep.text == index.text
        asset = index.text.split('src="/ui/assets/', 1)[1].split('"', 1)[0]
        js = http.get(f"/ui/assets/{asset}")
        assert js.status_code == 200 and "immutable" in js.headers["cache-control"]
        assert http.get("/ui/assets/missing-0000.js").status_code == 404
        assert http.get("/ui", follow_redirects=True).status_code == 200


def test_admin_sees_every_page(
    live_server: LiveServer, browser: playwright_sync.Browser, artifacts: Path
) -> None:
    base = live_server.url
    violations: list[str] = []  # axe: serious and critical, every page, light and dark
    with signed_in(browser, base, "admin", ADMIN_PASSWORD, violations) as (page, _console):
        assert page.inner_text("[data-testid='user-role']") == "admin"
        assert page.inner_text("[data-testid='user-name']") == "admin"
        nav = page.locator("nav[aria-label='Pages']")
        for name in ("Models", "Deployments", "Chat", "Vector stores", "Catalog", "App Garden"):
            assert nav.get_by_role("link", name=name).is_visible()
        assert nav.get_by_role("link", name="Admin").is_visible()
        for name in PAGES:
            nav.locator(f"a[href='/ui/{name}']").click()
            page.wait_for_url(f"**/ui/{name}")
            page.wait_for_selector("main h1")
            page.wait_for_load_state("networkidle")
            assert page.query_selector(".waza-error") is None, page.inner_text("main")
            page.screenshot(path=str(artifacts / f"ui-{name}.png"), full_page=True)
            violations += axe_audit(page, name)
        # the built-in models are listed; a model's page has its files and configs
        nav.locator("a[href='/ui/models']").click()
        page.wait_for_selector("table[aria-label='Models'] tbody tr")
        page.locator("table[aria-label='Models'] tbody tr a").first.click()
        page.wait_for_selector("h2:has-text('Files')")
        page.wait_for_selector("h2:has-text('Configs')")
        page.screenshot(path=str(artifacts / "ui-model-detail.png"), full_page=True)
        violations += axe_audit(page, "model details")
        # the catalog's other tabs
        nav.locator("a[href='/ui/catalog']").click()
        for tab in ("Containers", "Secrets"):
            page.get_by_role("tab", name=tab).click()
            page.wait_for_selector(".waza-empty, table")
            page.screenshot(path=str(artifacts / f"ui-catalog-{tab.lower()}.png"), full_page=True)
            violations += axe_audit(page, f"catalog {tab}")
        # every admin tab, the cluster chart among them
        nav.locator("a[href='/ui/admin']").click()
        page.wait_for_selector("table[aria-label='Users'] tr[data-user='admin']")
        for tab in ("Tokens", "Activity", "Cluster"):
            page.get_by_role("tab", name=tab).click()
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(artifacts / f"ui-admin-{tab.lower()}.png"), full_page=True)
            violations += axe_audit(page, f"admin {tab}")
        page.wait_for_selector(".waza-chart svg")
        violations += axe_audit(page, "admin Cluster chart")
        assert "CPU" in page.inner_text(".waza-cluster-summary")
        page.get_by_role("tab", name="Activity").click()
        page.wait_for_selector("table[aria-label='Activity'] tbody tr")
        # dark theme, kept across a reload
        page.click("button[aria-label='Toggle light/dark theme']")
        page.reload()
        page.wait_for_selector("[data-testid='user-role']")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background in ("rgb(18, 18, 18)", "rgb(0, 0, 0)"), background
        page.screenshot(path=str(artifacts / "ui-admin-dark.png"), full_page=True)
        nav = page.locator("nav[aria-label='Pages']")
        for name in PAGES:
            nav.locator(f"a[href='/ui/{name}']").click()
            page.wait_for_url(f"**/ui/{name}")
            page.wait_for_selector("main h1")
            page.wait_for_load_state("networkidle")
            violations += axe_audit(page, f"{name} (dark)")
        # the dialogs, in dark: deploy and import
        nav.locator("a[href='/ui/models']").click()
        page.locator("table[aria-label='Models'] tbody tr").first.get_by_role(
            "button", name="Deploy"
        ).click()
        page.wait_for_selector("form[aria-label='Deploy model']")
        violations += axe_audit(page, "deploy dialog (dark)")
        page.keyboard.press("Escape")
        page.get_by_role("dialog").wait_for(state="detached")
        page.get_by_role("button", name="Import", exact=True).click()
        page.get_by_role("tab", name="Hugging Face Hub").click()
        violations += axe_audit(page, "import dialog (dark)")
        page.keyboard.press("Escape")
        page.get_by_role("dialog").wait_for(state="detached")
        page.click("button[aria-label='Sign out']")
        page.wait_for_selector("h1:has-text('Sign in to waza')")
        violations += axe_audit(page, "sign-in (dark)")
    assert violations == [], "\n".join(violations)


def test_search_a_collection(
    live_server: LiveServer, browser: playwright_sync.Browser, artifacts: Path
) -> None:
    collection = f"uidocs_{uuid.uuid4().hex[:6]}"
    with Client(live_server.api, username="admin", password=ADMIN_PASSWORD) as admin:
        db = admin.vectors.create_db(f"uidb-{uuid.uuid4().hex[:6]}")
        texts = list(DOCS.values())
        meta = [{"text": t, "source": name} for name, t in DOCS.items()]
        admin.vectors.insert(db.id, collection, admin.embedding.batch(texts), meta)
    with signed_in(browser, live_server.url, "admin", ADMIN_PASSWORD) as (page, _):
        page.locator("nav[aria-label='Pages'] a[href='/ui/vectors']").click()
        page.get_by_role("button", name=db.name).click()
        box = f"input[aria-label='Search {collection}']"
        page.fill(box, "How do I rotate the encryption key?")
        page.press(box, "Enter")
        hit = page.wait_for_selector(f"[data-collection='{collection}'] .waza-hit", timeout=30_000)
        assert hit is not None and "kek.md" in hit.inner_text()
        assert "score" in hit.inner_text()
        page.screenshot(path=str(artifacts / "ui-vectors-search.png"), full_page=True)


def test_register_a_dataset(
    live_server: LiveServer,
    browser: playwright_sync.Browser,
    artifacts: Path,
    alice: tuple[str, str],
) -> None:
    name = f"/data/ui-{uuid.uuid4().hex[:6]}.csv"
    with signed_in(browser, live_server.url, *alice) as (page, _):
        page.locator("nav[aria-label='Pages'] a[href='/ui/catalog']").click()
        page.get_by_role("button", name="Register dataset").click()
        page.fill("input[name='name']", name)
        page.fill("input[name='description']", "sales by day")
        page.fill("input[name='tags']", "sales, daily")
        page.fill("textarea[name='fields']", "day:date\namount:double")
        page.get_by_role("button", name="Register", exact=True).click()
        page.wait_for_selector(f"tr[data-dataset='{name}']")
        page.wait_for_selector(".waza-schema td:has-text('amount')")
        assert "double" in page.inner_text(".waza-schema")
        page.screenshot(path=str(artifacts / "ui-catalog-registered.png"), full_page=True)
    with live_server.http() as http:
        found = http.get("/api/catalog/datasets/", headers=login(http, *alice)).json()
    mine = [d for d in found if d["name"] == name]
    assert mine and mine[0]["tags"] == ["sales", "daily"]
    assert [f["name"] for f in mine[0]["dataset_schema"]["fields"]] == ["day", "amount"]


def test_a_normal_user_gets_no_admin_page(
    live_server: LiveServer,
    browser: playwright_sync.Browser,
    artifacts: Path,
    alice: tuple[str, str],
) -> None:
    with signed_in(browser, live_server.url, *alice) as (page, _):
        assert page.inner_text("[data-testid='user-role']") == "user"
        nav = page.locator("nav[aria-label='Pages']")
        assert nav.get_by_role("link", name="Models").is_visible()
        assert nav.get_by_role("link", name="Admin").count() == 0  # hidden
        page.goto(f"{live_server.url}/ui/admin")  # typed in: refused
        page.wait_for_selector("text=Admin pages are for administrators")
        assert page.query_selector("table[aria-label='Users']") is None
        page.screenshot(path=str(artifacts / "ui-user-admin-refused.png"), full_page=True)
        # the API refuses the same session's cookie too
        for path in ("/api/auth/users/", "/api/cluster/clusters", "/api/catalog/containers/"):
            reply = page.request.get(f"{live_server.url}{path}")
            assert reply.status == 403, (path, reply.status, reply.text())
        me = page.request.get(f"{live_server.url}/api/auth/users/me").json()
        assert me["username"] == alice[0]
        # sign out: back to the sign-in page, and the cookie no longer works
        page.click("button[aria-label='Sign out']")
        page.wait_for_selector("h1:has-text('Sign in to waza')")
        assert page.request.get(f"{live_server.url}/api/auth/users/me").status == 401
    # without any session the API answers 401, never the data
    assert httpx.get(f"{live_server.url}/api/auth/users/", timeout=10).status_code == 401


def _import_from_hub(page: playwright_sync.Page, repo: str) -> playwright_sync.Locator:
    page.locator("nav[aria-label='Pages'] a[href='/ui/models']").click()
    page.get_by_role("button", name="Import", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Hugging Face Hub").click()
    dialog.locator("input[name='repo']").fill(repo)
    dialog.get_by_role("button", name="Import", exact=True).click()
    return dialog


def test_hub_import_progress_and_cancel(
    live_server: LiveServer,
    browser: playwright_sync.Browser,
    artifacts: Path,
    hf_hub: FakeHub,
    alice: tuple[str, str],
) -> None:
    with signed_in(browser, live_server.url, *alice) as (page, _):
        with hf_hub.slow(256 * 1024):  # 3 MB at 256 KB/s: about 12 s unless cancelled
            dialog = _import_from_hub(page, BIG_REPO)
            progress = dialog.get_by_role("progressbar", name="Download progress")
            dialog.locator(".waza-download[data-state='downloading']").wait_for(timeout=20_000)
            page.wait_for_function(  # some bytes in, far from all
                "() => { const v = Number(document.querySelector("
                "'[role=progressbar][aria-label=\"Download progress\"]')"
                "?.getAttribute('aria-valuenow')); return v > 0 && v < 100; }",
                timeout=20_000,
            )
            assert "downloading" in dialog.get_by_role("status").inner_text()
            violations = axe_audit(page, "import dialog")
            assert violations == [], violations
            page.screenshot(path=str(artifacts / "ui-models-hub-progress.png"))
            dialog.get_by_role("button", name="Cancel download").click()
            dialog.locator(".waza-download[data-state='cancelled']").wait_for(timeout=15_000)
            assert float(progress.get_attribute("aria-valuenow") or 0) < 100
            assert dialog.get_by_role("button", name="Cancel download").count() == 0
            page.screenshot(path=str(artifacts / "ui-models-hub-cancelled.png"))
        with Client(live_server.api, username=alice[0], password=alice[1]) as client:
            model = client.models.by_repo(BIG_REPO)
            assert model is not None and model.id
            status = client.models.download_status([model.id])
        assert status and all(not f.is_downloading and f.download_cancelled_at for f in status)
        dialog.get_by_role("button", name="Close").click()
        # a small repo at full speed: the bar fills, the model is listed
        dialog = _import_from_hub(page, TINY_REPO)
        dialog.locator(".waza-download[data-state='done']").wait_for(timeout=30_000)
        assert dialog.get_by_role("progressbar").get_attribute("aria-valuenow") == "100"
        dialog.get_by_role("button", name="Close").click()
        page.wait_for_selector("table[aria-label='Models'] tbody tr a", timeout=10_000)
        assert TINY_REPO.split("/")[1] in page.inner_text("table[aria-label='Models']")


def test_an_expired_session_is_renewed(
    live_server: LiveServer, browser: playwright_sync.Browser, alice: tuple[str, str]
) -> None:
    base = live_server.url
    with signed_in(browser, base, *alice) as (page, console):
        # the access cookie expires (the browser drops it after its max-age, 1 h by default)
        page.context.clear_cookies(name="access_token")
        # (a client-side navigation does not reset the page's load state: wait for the renewal
        # itself, not for "networkidle", which the first page load already reached)
        with page.expect_response(lambda r: r.url.endswith("/api/auth/refresh")) as renewal:
            page.locator("nav[aria-label='Pages'] a[href='/ui/catalog']").click()
        assert renewal.value.status == 200
        page.wait_for_selector("main h1:has-text('Catalog')")
        page.wait_for_load_state("networkidle")
        assert page.query_selector(".waza-error") is None, page.inner_text("main")
        assert page.inner_text("[data-testid='user-role']") == "user"  # still signed in
        names = {c["name"] for c in page.context.cookies()}
        assert {"access_token", "refresh_token"} <= names
        # the refused calls are in the console (the browser logs every 401); nothing else
        refused = [e for e in console.errors if "401" in e]
        assert refused and len(refused) == len(console.errors), console.errors
        console.errors.clear()

        # a session that cannot be renewed (ended elsewhere): sign in again, back to the page
        page.context.clear_cookies()
        page.locator("nav[aria-label='Pages'] a[href='/ui/apps']").click()
        page.wait_for_selector("text=Your session has ended")
        page.fill("input[name='username']", alice[0])
        page.fill("input[name='password']", alice[1])
        page.press("input[name='password']", "Enter")
        page.wait_for_url("**/ui/apps")
        page.wait_for_selector("main h1")
        # the refused calls (401) and the renewal with no cookie left (400) are in the console
        console.errors[:] = [
            e
            for e in console.errors
            if "401" not in e and not ("400" in e and "/api/auth/refresh" in e)
        ]
