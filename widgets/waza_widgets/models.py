"""`ModelBrowser`: search the model registry and the Hub, import a Hub model with progress."""

from __future__ import annotations

import time
import uuid

import ipywidgets as w

from waza.client import Client, DownloadFailed
from waza.services.models import schemas
from waza_widgets._base import WazaWidget, badge, esc, human_bytes, table

IDLE, SEARCHING, DOWNLOADING, IMPORTED, CANCELLED, FAILED = (
    "idle",
    "searching",
    "downloading",
    "imported",
    "cancelled",
    "failed",
)


class ModelBrowser(WazaWidget):
    """Search registered models and the Hugging Face Hub; import a Hub repo's files.

        from waza_widgets import ModelBrowser
        ModelBrowser()                      # or ModelBrowser(query="SmolLM2")

    Pick a result: a registered model shows its files; a Hub repo lists its files, of which
    the selected ones are imported with **Import** (progress bar; **Cancel** stops it).
    ``state`` is ``idle``, ``searching``, ``downloading``, ``imported``, ``cancelled`` or
    ``failed``; ``imported_id`` the imported model.
    """

    title = "Models"

    def __init__(self, client: Client | None = None, *, query: str = "", poll: float = 0.5):
        super().__init__(client)
        self.poll = poll
        self.state = IDLE
        self.imported_id: uuid.UUID | None = None
        self.found: dict[str, schemas.ModelSearchResult] = {}
        self.query = w.Text(value=query, placeholder="search models, e.g. SmolLM2", description="")
        self.search_button = w.Button(description="Search", icon="search")
        self.results = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self.details = w.HTML("")
        self.files = w.SelectMultiple(options=[], rows=5, layout=w.Layout(width="100%"))
        self.import_button = w.Button(
            description="Import", icon="download", button_style="primary", disabled=True
        )
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = w.FloatProgress(value=0, min=0, max=100, description="")
        self.progress_label = w.HTML("")
        self.search_button.on_click(self.safely(lambda _: self.search()))
        self.query.continuous_update = False
        self.query.observe(self.safely(lambda _: self.search()), names="value")
        self.results.observe(self.safely(lambda _: self._selected()), names="value")
        self.import_button.on_click(self.safely(lambda _: self.start_import()))
        self.cancel_button.on_click(self.safely(lambda _: self.cancel()))
        self.children = [
            self.header,
            w.HBox([self.query, self.search_button]),
            self.results,
            self.details,
            self.files,
            w.HBox([self.import_button, self.cancel_button, self.progress]),
            self.progress_label,
            self.message,
        ]
        with self.guard():
            self.search() if query else self.list_registered()

    # ---- listing and search ---------------------------------------------------------------------
    def list_registered(self) -> None:
        """Show the registered models (no Hub search)."""
        models = self.client.models.list_models()
        results = [schemas.ModelSearchResult(id=m.id, model=m) for m in models]
        self._show_results(results, empty="No models registered yet: search the Hub.")

    def search(self) -> None:
        """Search the registry and the Hub for ``query.value``."""
        text = self.query.value.strip()
        if not text:
            self.list_registered()
            return
        self.state = SEARCHING
        self.clear_message()
        found = self.client.models.search(text)
        self.state = IDLE
        self._show_results(found.results, empty=f"Nothing found for {text!r}.")
        if found.errors:
            self.show_error("Hub search failed: " + "; ".join(found.errors))

    def _show_results(self, results: list[schemas.ModelSearchResult], empty: str) -> None:
        self.found = {}
        options: list[tuple[str, str]] = []
        for result in results:
            model = result.model
            if result.id is not None:
                key, label = f"local:{result.id}", f"registered · {model.name}"
            else:
                repo = model.repo_modelId or model.name
                key, label = f"hub:{repo}", f"hub · {repo}"
            self.found[key] = result
            options.append((label, key))
        self.results.options = options
        self.details.value = "" if options else f"<i>{esc(empty)}</i>"
        self.files.options = []
        self.import_button.disabled = True

    def _selected(self) -> None:
        key = self.results.value
        result = self.found.get(key) if key else None
        self.files.options = []
        self.import_button.disabled = True
        if result is None:
            self.details.value = ""
            return
        model = result.model
        if key.startswith("local:"):
            full = self.client.models.get_model(model.id) if model.id else model
            rows = [
                (f.name, human_bytes(f.size), "yes" if f.download else "no") for f in full.m_files
            ]
            self.details.value = (
                f"<div><b>{esc(full.name)}</b> {esc(full.purpose or '')} "
                f"<code>{esc(full.id)}</code><br>{esc(full.description or '')}</div>"
                + table(["file", "size", "on disk"], rows, empty="no files")
            )
            return
        repo = model.repo_modelId or model.name
        files = self.client.models.hub_files(repo)
        self.files.options = [(f"{f.name} ({human_bytes(f.size)})", f.name) for f in files]
        self.files.value = tuple(f.name for f in files)
        self.details.value = f"<div><b>{esc(repo)}</b> on the Hub: {len(files)} file(s)</div>"
        self.import_button.disabled = not files

    def select(self, key: str) -> None:
        """Select a result by key (``hub:<repo>`` or ``local:<id>``)."""
        self.results.value = key

    # ---- import ---------------------------------------------------------------------------------
    def start_import(self) -> None:
        """Import the selected Hub repo's selected files in the background."""
        key = self.results.value or ""
        if not key.startswith("hub:"):
            self.show_error("Select a Hub model to import.")
            return
        files = list(self.files.value)
        if not files:
            self.show_error("Select at least one file to import.")
            return
        started = self.client.models.download(key[4:], files=files)
        self.imported_id = started.model_id
        self.state = DOWNLOADING
        self.clear_message()
        self.progress.value = 0
        self.progress.bar_style = "info"
        self.import_button.disabled = True
        self.cancel_button.disabled = False
        self.progress_label.value = badge("DOWNLOADING", f"importing {key[4:]}")
        self.run_in_background(self._follow)

    def _follow(self) -> None:
        assert self.imported_id is not None
        began = time.monotonic()
        try:
            self.client.models.wait_for_download(
                self.imported_id, poll=self.poll, progress=self._on_progress
            )
        except DownloadFailed as exc:
            cancelled = any(s.download_cancelled_at for s in exc.statuses)
            self.state = CANCELLED if cancelled else FAILED
            self.progress.bar_style = "warning" if cancelled else "danger"
            if cancelled:
                self.progress_label.value = badge("STOPPED", "import cancelled")
            else:
                self.progress_label.value = badge("FAILED", "import failed")
                self.show_error(exc)
            return
        except Exception:
            self.state = FAILED
            self.progress.bar_style = "danger"
            self.progress_label.value = badge("FAILED", "import failed")
            raise
        finally:
            self.cancel_button.disabled = True
            self.import_button.disabled = False
        self.state = IMPORTED
        self.progress.value = 100
        self.progress.bar_style = "success"
        self.progress_label.value = badge(
            "DEPLOYED", f"imported in {time.monotonic() - began:.1f} s · model {self.imported_id}"
        )

    def _on_progress(self, statuses: list[schemas.ModelDownloadStatus]) -> None:
        total = sum(s.size or 0 for s in statuses)
        done = sum(
            (s.size or 0) if s.download and not s.is_downloading else (s.downloaded_bytes or 0)
            for s in statuses
        )
        if total:
            self.progress.value = min(100.0, 100.0 * done / total)
        speed = next((s.download_throughput for s in statuses if s.download_throughput), None)
        left = next((s.download_remaining for s in statuses if s.download_remaining), None)
        extra = " · ".join(x for x in (speed, f"{left} left" if left else None) if x)
        self.progress_label.value = badge(
            "DOWNLOADING",
            f"{human_bytes(done)} of {human_bytes(total)}" + (f" · {extra}" if extra else ""),
        )

    def cancel(self) -> None:
        """Cancel the running import."""
        if self.imported_id is None or self.state != DOWNLOADING:
            return
        self.client.models.cancel_all_downloads(self.imported_id)
        self.show_info("Cancelling the import…")
