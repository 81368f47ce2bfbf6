"""The web UI's model flow on Ray: import the tiny local model, deploy it, chat (streamed), stop.

One `waza api` process on the session's Ray head for the module; Debian chromium through
Playwright. Everything is done in the browser: Models → Import (local path) → Deploy
(transformers, 0.5 CPU) → Deployments follows it to DEPLOYED → Chat streams the answer (more
than one update reaches the screen before it ends; tok/s shown) → Logs → Stop. The console must
stay free of errors. Screenshots to ``$WAZA_TEST_ARTIFACTS`` or the test's temporary folder.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, LiveServer, create_database
from tests.e2e.conftest import CHROMIUM, WATCH_CHAT
from tests.e2e.webui import (
    playwright_sync,
    require_build,
    signed_in,
)
from tests.fixtures.ray import RayNode
from tests.integration.serving_helpers import serving_server
from waza.settings import Settings

pytestmark = [
    pytest.mark.timeout(480),
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="apt-get install -y chromium"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ray_head: RayNode) -> Iterator[LiveServer]:
    """A live API on the session's Ray head; its deployments are force-stopped at the end."""
    home = tmp_path_factory.mktemp("ui-chat")
    url, drop = create_database(home)
    try:
        with serving_server(Settings(home=home, database_url=url), ray_head.address) as live:
            yield live
    finally:
        drop()


@pytest.fixture(scope="module", autouse=True)
def built_ui() -> None:
    require_build()


def test_import_deploy_chat_and_stop_in_the_browser(
    server: LiveServer,
    browser: playwright_sync.Browser,
    tiny_chat_model: Path,
    artifacts: Path,
) -> None:
    started = time.perf_counter()
    with signed_in(browser, server.url, "admin", ADMIN_PASSWORD) as (page, _console):
        try:
            # import from a local path
            page.get_by_role("button", name="Import").click()
            page.fill("input[name='path']", str(tiny_chat_model))
            page.fill("input[name='name']", "ui-tiny-chat")
            page.locator("form[aria-label='Import model'] button[type='submit']").click()
            row = "tr[data-model='ui-tiny-chat']"
            page.wait_for_selector(row, timeout=30_000)
            page.screenshot(path=str(artifacts / "ui-chat-1-imported.png"), full_page=True)

            # deploy from the dialog: transformers, 0.5 CPU
            page.click(f"{row} button:has-text('Deploy')")
            page.get_by_label("Engine").click()
            page.get_by_role("option", name="transformers").click()
            page.fill("input[name='cpu']", "0.5")
            page.screenshot(path=str(artifacts / "ui-chat-2-deploy-dialog.png"))
            page.locator("form[aria-label='Deploy model'] button[type='submit']").click()
            page.wait_for_url("**/ui/deployments")
            dep = "tr[data-model='ui-tiny-chat']"
            deployed = f"{dep} .waza-status[data-status='DEPLOYED']"
            chip = page.wait_for_selector(deployed, timeout=400_000)
            assert chip is not None
            deployed_at = time.perf_counter()
            page.screenshot(path=str(artifacts / "ui-chat-3-deployed.png"), full_page=True)

            # chat: streamed tokens, tok/s
            page.click(f"{dep} button:has-text('Chat')")
            page.wait_for_selector(".waza-chat-log")
            page.evaluate(WATCH_CHAT)
            page.fill("textarea[aria-label='Message']", "Say something")
            page.press("textarea[aria-label='Message']", "Enter")
            page.wait_for_selector(".waza-chat-stats:has-text('tok/s')", timeout=120_000)
            chunks = page.evaluate("window.__wazaChunks")
            assert len(chunks) > 1, chunks  # more than one update before the end: streamed
            assert all(chunks[i + 1].startswith(chunks[i]) for i in range(len(chunks) - 1))
            assert page.query_selector(".waza-error") is None
            page.screenshot(path=str(artifacts / "ui-chat-4-answer.png"), full_page=True)

            # logs, then stop
            page.locator("nav[aria-label='Pages'] a[href='/ui/deployments']").click()
            page.click(f"{dep} button:has-text('Logs')")
            page.wait_for_selector("[role='dialog'] :is(.waza-logs, :text('No log lines yet'))")
            page.screenshot(path=str(artifacts / "ui-chat-5-logs.png"))
            page.get_by_role("button", name="Close").click()
            page.click(f"{dep} button:has-text('Stop')")
            page.wait_for_selector(dep, state="detached", timeout=120_000)  # STOPPED: hidden
            print(
                f"ui flow {time.perf_counter() - started:.1f} s: DEPLOYED after "
                f"{deployed_at - started:.1f} s, the rest {time.perf_counter() - deployed_at:.1f} s"
            )
        except BaseException:
            page.screenshot(path=str(artifacts / "ui-chat-failed.png"), full_page=True)
            raise
