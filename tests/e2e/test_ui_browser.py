"""The web UI (``frontend/``, served at ``/ui/``) in a real browser against a live platform.

One `waza api` process for the module (``live_server``), Debian chromium through Playwright (no
browser download). An admin signs in through the UI and sees every page (a screenshot of each,
light and dark, to ``$WAZA_TEST_ARTIFACTS`` or the test's temporary folder); a collection the
test filled with platform embeddings is searched from the Vector stores page; a dataset is
registered from the Catalog page and its schema shown; a normal user gets no Admin page (the
UI hides it and the API refuses it with the same session). Every page must leave the browser
console free of errors. The deploy-and-chat flow, which needs Ray, is in
``test_ui_chat_browser.py``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, LiveServer, create_user, login
from tests.e2e.webui import (
    CHROMIUM,
    FLAGS,
    artifacts_dir,
    playwright_sync,
    require_build,
    signed_in,
)
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
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_sync.Browser]:
    require_build()
    with playwright_sync.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def alice(live_server: LiveServer) -> tuple[str, str]:
    with live_server.http() as http:
        create_user(http, login(http, "admin", ADMIN_PASSWORD), "uialice")
    return "uialice", "pw-uialice-123"


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
    with signed_in(browser, base, "admin", ADMIN_PASSWORD) as (page, _console):
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
        # the built-in models are listed; a model's page has its files and configs
        nav.locator("a[href='/ui/models']").click()
        page.wait_for_selector("table[aria-label='Models'] tbody tr")
        page.locator("table[aria-label='Models'] tbody tr a").first.click()
        page.wait_for_selector("h2:has-text('Files')")
        page.wait_for_selector("h2:has-text('Configs')")
        page.screenshot(path=str(artifacts / "ui-model-detail.png"), full_page=True)
        # the catalog's other tabs
        nav.locator("a[href='/ui/catalog']").click()
        for tab in ("Containers", "Secrets"):
            page.get_by_role("tab", name=tab).click()
            page.wait_for_selector(".waza-empty, table")
            page.screenshot(path=str(artifacts / f"ui-catalog-{tab.lower()}.png"), full_page=True)
        # every admin tab, the cluster chart among them
        nav.locator("a[href='/ui/admin']").click()
        page.wait_for_selector("table[aria-label='Users'] tr[data-user='admin']")
        for tab in ("Tokens", "Activity", "Cluster"):
            page.get_by_role("tab", name=tab).click()
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(artifacts / f"ui-admin-{tab.lower()}.png"), full_page=True)
        page.wait_for_selector(".waza-chart svg")
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
