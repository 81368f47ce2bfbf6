"""Shared by the web UI browser tests: the built UI, a browser, sign-in, console errors, axe."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright import sync_api as playwright_sync

from waza.webui import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
# axe-core from the UI's npm dev dependencies (injected into the page; nothing downloaded)
AXE = ROOT / "frontend/node_modules/axe-core/axe.min.js"
# what fails the audit; `moderate`/`minor` findings are not counted
AXE_FAILS = ("serious", "critical")


def require_build() -> None:
    """The UI must be built (scripts/setup.sh does it): say so instead of testing a 503 page."""
    if not (STATIC_DIR / "index.html").is_file():
        pytest.fail(f"the web UI is not built in {STATIC_DIR}: run scripts/setup.sh")


@dataclass
class Console:
    """Console errors and uncaught exceptions of a page (the tests fail on any)."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: playwright_sync.Page) -> None:
        def on_console(msg: playwright_sync.ConsoleMessage) -> None:
            if msg.type == "error":
                self.errors.append(f"{msg.type}: {msg.text} at {msg.location}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))


_AXE_RUN = """async (fails) => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations
    .filter(v => fails.includes(v.impact))
    .map(v => `${v.impact} ${v.id} (${v.help}): ` +
      v.nodes.slice(0, 3)
        .map(n => `${n.target.join(' ')} [${(n.any[0] || n.all[0] || {}).message || ''}]`)
        .join(', '));
}"""


_SETTLED = """() => document.getAnimations().every(a =>
  a.playState !== 'running' || a.effect?.getComputedTiming().endTime === Infinity)"""


def axe_audit(page: playwright_sync.Page, where: str) -> list[str]:
    """The page's serious and critical accessibility violations as it is now (axe-core)."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run npm ci in frontend/ (scripts/setup.sh does)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    # colours are measured as drawn: wait for fades and ripples to end (endless ones, such as
    # an indeterminate progress bar, are left running)
    page.wait_for_function(_SETTLED, timeout=5_000)
    found: list[str] = page.evaluate(_AXE_RUN, list(AXE_FAILS))
    return [f"{where}: {line}" for line in found]


@contextmanager
def signed_in(
    browser: playwright_sync.Browser,
    base: str,
    username: str,
    password: str,
    audit: list[str] | None = None,
) -> Iterator[tuple[playwright_sync.Page, Console]]:
    """A fresh browser context signed in through the UI's sign-in page; no console errors.

    With ``audit``, the sign-in page's accessibility violations are added to it.
    """
    # reduced motion (which the UI honours): no fades or ripples to wait for before an audit
    context = browser.new_context(viewport={"width": 1280, "height": 860}, reduced_motion="reduce")
    page = context.new_page()
    console = Console()
    console.attach(page)
    try:
        page.goto(f"{base}/ui/")
        page.wait_for_selector("h1:has-text('Sign in to waza')")
        if audit is not None:
            audit += axe_audit(page, "sign-in")
        page.fill("input[name='username']", username)
        page.fill("input[name='password']", password)
        page.press("input[name='password']", "Enter")
        page.wait_for_selector("[data-testid='user-role']")
        yield page, console
        assert console.errors == [], console.errors
    finally:
        context.close()
