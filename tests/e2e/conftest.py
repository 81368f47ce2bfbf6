"""What the browser tests share: Debian's chromium driven by Playwright (no browser download),
one browser per test module, and the folder screenshots go to."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright_sync

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

# Both chat UIs (Lab panel, web UI) render `.waza-chat-log` with `.waza-msg-assistant` messages:
# this records each distinct text the last answer shows while it streams (`window.__wazaChunks`).
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


def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$WAZA_TEST_ARTIFACTS`` (CI keeps it), else a temporary folder."""
    path = Path(os.environ.get("WAZA_TEST_ARTIFACTS") or tmp_path_factory.mktemp("shots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_sync.Browser]:
    with playwright_sync.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()
