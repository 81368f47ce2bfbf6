"""What every waza widget shares: the client, inline messages, background work, HTML helpers.

Widgets never talk HTTP themselves: every call goes through `waza.client.Client`, created on
first use (zero-config inside the hub: ``WAZA_API_URL`` plus the notebook's hub token), so a
widget that cannot reach the platform still renders and shows why in its message line.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as w

from waza.client import Client, ConnectionFailed, WazaAPIError

# Deployment and download states, coloured the same way in every widget.
STATE_COLOURS = {
    "DEPLOYED": "#1a7f37",
    "FAILED": "#cf222e",
    "ERROR": "#cf222e",
    "STOPPED": "#6e7781",
    "STOPPING": "#6e7781",
}


def describe(exc: BaseException) -> str:
    """One readable line for an error: the platform's own reason, never a traceback."""
    if isinstance(exc, WazaAPIError):
        what = {
            401: "not signed in (or the token expired)",
            403: "not allowed",
            404: "not found",
            409: "conflict",
            429: "too many attempts",
        }.get(exc.status_code, f"error {exc.status_code}")
        return f"{what}: {exc.message}"
    if isinstance(exc, ConnectionFailed):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"timed out: {exc}"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def badge(state: str | None, text: str | None = None) -> str:
    """A coloured pill for a state such as ``DEPLOYED``."""
    colour = STATE_COLOURS.get(state or "", "#9a6700")
    label = esc(text if text is not None else state or "—")
    return (
        f"<span class='waza-badge' data-state='{esc(state)}' style='background:{colour};"
        f"color:white;border-radius:0.8em;padding:0.1em 0.6em;font-size:90%'>{label}</span>"
    )


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str = "") -> str:
    """An HTML table (every cell escaped); ``empty`` when there are no rows."""
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    if not body:
        return f"<p class='waza-empty'><i>{esc(empty)}</i></p>" if empty else ""
    head = "".join(f"<th style='text-align:left'>{esc(c)}</th>" for c in columns)
    return (
        "<table class='waza-table' style='border-collapse:collapse;font-size:90%'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def human_bytes(value: float | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def fill(choice: w.Dropdown, options: list[tuple[str, str]], select: str | None = None) -> None:
    """Set a dropdown's options; its value: ``select``, else the current one if still offered,
    else the first (ipywidgets leaves it empty when options change)."""
    current = choice.value
    choice.options = options
    values = [value for _, value in options]
    for wanted in (select, current):
        if wanted is not None and wanted in values:
            choice.value = wanted
            return
    if values:
        choice.value = values[0]


class WazaWidget(w.VBox):
    """Base of the waza panels: a title, the body, and a message line for errors and notices.

    ``client``: a `waza.client.Client`; by default one is created on first use. Long work runs
    in a background thread (`run_in_background`); `join()` waits for it (handy in notebooks
    and tests). Errors show in ``message`` as one readable line; ``last_error`` keeps it.
    """

    title = "waza"

    def __init__(self, client: Client | None = None, **kwargs: Any) -> None:
        self._client = client
        self._worker: threading.Thread | None = None
        self.last_error: str | None = None
        self.header = w.HTML(f"<b>{esc(self.title)}</b>")
        self.message = w.HTML("")
        self.message.add_class("waza-message")
        super().__init__(**kwargs)
        self.add_class("waza-widget")

    # ---- client ---------------------------------------------------------------------------------
    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client()
        return self._client

    # ---- messages -------------------------------------------------------------------------------
    def show_error(self, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else describe(error)
        self.last_error = text
        self.message.value = (
            f"<div class='waza-error' style='color:#cf222e'>&#9888; {esc(text)}</div>"
        )

    def show_info(self, text: str) -> None:
        self.message.value = f"<div class='waza-info' style='color:#57606a'>{esc(text)}</div>"

    def clear_message(self) -> None:
        self.last_error = None
        self.message.value = ""

    @contextmanager
    def guard(self) -> Any:
        """Run a block; any error becomes the inline message instead of a traceback."""
        try:
            yield
        except Exception as exc:
            self.show_error(exc)

    def safely(self, fn: Callable[..., Any]) -> Callable[..., None]:
        """``fn`` as a callback (button click, value change) whose errors show inline."""

        def call(*args: Any) -> None:
            with self.guard():
                fn(*args)

        return call

    # ---- background work ------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def run_in_background(self, fn: Callable[[], None]) -> threading.Thread:
        """Start ``fn`` in a thread (one at a time per widget); its errors show inline."""

        def work() -> None:
            with self.guard():
                fn()

        self._worker = threading.Thread(target=work, daemon=True, name=f"waza-{self.title}")
        self._worker.start()
        return self._worker

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running background task (if any) to end."""
        if self._worker is not None:
            self._worker.join(timeout)
