"""The admin dashboard (`waza_widgets.admin`, Panel) as the hub service ``waza-admin``.

A real `waza up` stack: Traefik, JupyterHub, the API and the Panel service the hub starts. An
admin who logged in to the hub reaches ``/services/waza-admin/`` through the hub's OAuth and gets
the dashboard; a normal user gets 403; nobody gets in without a hub login. In headless Chromium
(Debian chromium through Playwright) the admin sees the users table and the cluster charts
(a screenshot is saved: ``$WAZA_TEST_ARTIFACTS`` or the test's temporary folder). The
dashboard's actions are driven in Python against the same stack, as its buttons do.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import CHROMIUM, FLAGS
from tests.e2e.hubstack import HubStack, api_login, create_user, hub_login, start_stack
from waza.client import Client
from waza_widgets.admin import AdminDashboard

DASHBOARD = "/services/waza-admin/"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStack]:
    started = start_stack(tmp_path_factory.mktemp("admin-dashboard"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def alice(stack: HubStack) -> tuple[str, str]:
    admin = api_login(stack.url, "admin", stack.admin_password)
    return "alice", create_user(stack.url, admin, "alice")


def open_dashboard(stack: HubStack, user: str, password: str) -> httpx.Response:
    client, reply = hub_login(stack.url, user, password)
    assert reply.status_code in (200, 302), reply.text
    try:
        return client.get(DASHBOARD, follow_redirects=True)
    finally:
        client.close()


def test_admin_gets_the_dashboard_others_403(stack: HubStack, alice: tuple[str, str]) -> None:
    page = open_dashboard(stack, "admin", stack.admin_password)
    assert page.status_code == 200, page.text[:2000]
    assert page.url.path == DASHBOARD and "<title>waza admin</title>" in page.text
    assert "bokeh" in page.text.lower()  # the Panel document, not a placeholder

    denied = open_dashboard(stack, *alice)
    assert denied.status_code == 403
    assert "alice" in denied.text and "not authorized" in denied.text

    # no hub session: the hub's login page, not the dashboard
    anonymous = httpx.get(stack.url + DASHBOARD, follow_redirects=True, timeout=30)
    assert anonymous.url.path == "/hub/login" and "waza admin" not in anonymous.text


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="apt-get install -y chromium")
def test_admin_sees_users_and_charts_in_a_browser(
    stack: HubStack, alice: tuple[str, str], tmp_path: Path
) -> None:
    sync = pytest.importorskip("playwright.sync_api")
    artifacts = Path(os.environ.get("WAZA_TEST_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(stack.url + "/hub/login")
            page.fill("#username_input", "admin")
            page.fill("#password_input", stack.admin_password)
            page.click("#login_submit")
            page.wait_for_url("**/hub/**", timeout=60_000)
            page.goto(stack.url + DASHBOARD)
            page.wait_for_selector("text=signed in as", timeout=60_000)
            users = page.locator(".tabulator-cell[tabulator-field='username']")
            sync.expect(users.filter(has_text="alice")).to_have_count(1, timeout=30_000)
            assert users.filter(has_text="admin").count() >= 1
            page.screenshot(path=str(artifacts / "admin-dashboard-users.png"), full_page=True)
            page.locator(".bk-tab", has_text="Cluster").click()
            page.wait_for_selector("canvas", state="attached", timeout=30_000)
            live = page.get_by_text(re.compile(r"\b[3-9] samples"))  # the charts update live
            sync.expect(live).to_be_visible(timeout=30_000)
            shot = artifacts / "admin-dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            print(f"screenshot: {shot}")
        finally:
            browser.close()


def test_dashboard_actions_against_the_stack(stack: HubStack) -> None:
    with Client(stack.api, username="admin", password=stack.admin_password) as admin:
        dash = AdminDashboard(admin)
        assert "admin" in set(dash.users.value["username"])
        assert len(dash.samples) == 1 and len(dash.use_source.data["cpu"]) == 1

        # create a user with the form, then disable, reset the password and make admin
        name = f"bob-{uuid.uuid4().hex[:6]}"
        dash.new_username.value, dash.new_password.value = name, "pw-bob-12345"
        dash.create_button.clicks += 1
        assert dash.status.alert_type == "success", dash.status.object
        row = list(dash.users.value["username"]).index(name)
        dash.users.selection = [row]
        dash.toggle_button.clicks += 1
        assert "disabled" in dash.status.object
        user = next(u for u in admin.auth.list_users() if u.username == name)
        assert not user.active
        dash.toggle_button.clicks += 1  # enabled again
        dash.reset_password.value = "pw-bob-67890"
        dash.reset_button.clicks += 1
        dash.admin_button.clicks += 1
        assert "admin" in next(u for u in admin.auth.list_users() if u.username == name).roles
        with Client(stack.api, username=name, password="pw-bob-67890") as bob:
            assert bob.auth.me().username == name
            bob_token = bob.auth.create_token("bob-notebook", scope="read").pat.jti

        # revoke bob's token from the tokens tab
        dash.refresh_tokens()
        dash.tokens.selection = [list(dash.tokens.value["jti"]).index(bob_token)]
        dash.revoke_button.clicks += 1
        assert "revoked" in dash.status.object
        assert {t.jti: t.revoked for t in admin.auth.list_tokens(all_users=True)}[bob_token]

        # the audit log: filter by module, export as CSV
        dash.module.value = "auth"
        dash.filter_button.clicks += 1
        modules = set(dash.activity.value["module"])
        assert modules == {"auth"}, modules
        csv = dash.activity_csv().getvalue()
        assert csv.startswith("when,user,module,action") and csv.count("\n") > 3

        # a refused action shows a readable line, never a traceback
        dash.users.selection = []
        dash.toggle_button.clicks += 1
        assert dash.status.alert_type == "danger" and "select a user" in dash.status.object
        dash.new_username.value, dash.new_password.value = "x", "short"
        dash.create_button.clicks += 1
        assert dash.status.alert_type == "danger" and "Traceback" not in dash.status.object
