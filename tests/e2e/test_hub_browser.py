"""End to end in a real browser (Debian chromium through Playwright, no browser download).

`waza up` on free ports → the hub's login form → JupyterLab → a notebook cell that uses
`waza.client.Client()` with zero configuration → the platform API answers as that user through
the public ``/api`` root. Admins see the "Platform" menu and the platform status on the hub home
page; normal users see neither, nor the hub's admin page.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import CHROMIUM
from tests.e2e.hubstack import HubStack, api_login, create_user, start_stack

playwright_sync = pytest.importorskip("playwright.sync_api")
CELL = (
    "import os\n"
    "from waza.client import Client\n"
    "print('WHO', Client().auth.me().username, os.environ['WAZA_API_URL'])"
)

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="apt-get install -y chromium"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStack]:
    started = start_stack(tmp_path_factory.mktemp("e2e"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def alice(stack: HubStack) -> tuple[str, str]:
    admin = api_login(stack.url, "admin", stack.admin_password)
    return "alice", create_user(stack.url, admin, "alice")


def login(
    browser: playwright_sync.Browser, url: str, user: str, password: str
) -> playwright_sync.Page:
    page = browser.new_context().new_page()
    page.goto(url + "/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    return page


def run_first_cell(page: playwright_sync.Page, code: str, expect: str) -> playwright_sync.Locator:
    """Type ``code`` into the first cell and run it in place until its output shows ``expect``.

    A new notebook may swap its kernel right after opening, which loses an execute request
    sent meanwhile: a cell that did not start (prompt ``[ ]``) is run again.
    """
    cell = page.locator(".jp-Notebook .jp-Cell").first
    cell.locator(".cm-content").click(timeout=60_000)
    page.keyboard.insert_text(code)
    output = cell.locator(".jp-OutputArea-output").filter(has_text=expect)
    for _ in range(5):
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000
        )
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+Enter")
        for tick in range(60):
            if output.count():
                return output
            if tick >= 6 and "[ ]" in cell.locator(".jp-InputPrompt").inner_text():
                break  # not started after 3 s: run it again
            page.wait_for_timeout(500)
    pytest.fail("no output; the notebook shows:\n" + page.locator(".jp-Notebook").inner_text())


def test_notebook_client_works_as_the_logged_in_user(
    stack: HubStack, alice: tuple[str, str], browser: playwright_sync.Browser
) -> None:
    page = login(browser, stack.url, *alice)
    page.wait_for_url("**/user/alice/lab**", timeout=120_000)
    page.wait_for_selector("#jp-left-stack", timeout=60_000)
    page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click(timeout=60_000)
    output = run_first_cell(page, CELL, expect="WHO")
    assert output.inner_text().split() == ["WHO", "alice", stack.api]
    assert "busy kernels count as activity" in stack.log()  # the culler spares busy kernels

    # The same user's token from the browser side: the service page through hub OAuth.
    page.goto(stack.url + "/services/waza/")
    assert "Signed in as alice" in page.locator("#waza-whoami").inner_text()
    page.context.close()


def test_admin_sees_the_platform_menu_and_status(
    stack: HubStack, browser: playwright_sync.Browser
) -> None:
    page = login(browser, stack.url, "admin", stack.admin_password)
    page.goto(stack.url + "/hub/home")
    api = page.locator('#waza-platform-status [data-waza="api"]')
    playwright_sync.expect(api).to_contain_text("up (waza", timeout=30_000)
    playwright_sync.expect(page.locator('[data-waza="database"]')).to_have_text("ok")
    assert page.locator("a.nav-link", has_text="Admin").count() == 1
    nav = page.locator("#waza-platform-nav")
    nav.locator("a.dropdown-toggle").click()
    assert nav.locator("#waza-nav-docs").get_attribute("href") == "/api/docs"
    assert nav.locator("#waza-nav-ui").get_attribute("href") == "/ui/"
    assert nav.locator("#waza-nav-admin").get_attribute("href") == "/services/waza-admin/"
    nav.locator("#waza-nav-admin").click()  # the Panel dashboard, through hub OAuth
    page.wait_for_selector("text=signed in as", timeout=60_000)
    page.context.close()


def test_normal_user_sees_no_admin_items(
    stack: HubStack, alice: tuple[str, str], browser: playwright_sync.Browser
) -> None:
    page = login(browser, stack.url, *alice)
    page.goto(stack.url + "/hub/home")
    page.wait_for_selector("#start")
    assert page.locator("#waza-platform-nav").count() == 0
    assert page.locator("#waza-platform-status").count() == 0
    assert page.locator("a.nav-link", has_text="Admin").count() == 0
    page.context.close()
