"""`CatalogBrowser`: datasets and containers as a tree, a dataset's schema, register a path."""

from __future__ import annotations

import ipywidgets as w

from waza.client import Client, PermissionDenied
from waza.services.catalog import schemas
from waza_widgets._base import WazaWidget, esc, table


class CatalogBrowser(WazaWidget):
    """The data catalog: containers with their datasets, each dataset's schema.

        from waza_widgets import CatalogBrowser
        CatalogBrowser()

    Select a dataset to see its properties and schema table. **Register** catalogs a file or
    folder on the server (each file becomes a dataset, its schema read from the file).
    ``datasets`` and ``containers`` hold what is listed; ``registered`` the last URNs added.
    """

    title = "Data catalog"

    def __init__(self, client: Client | None = None, *, query: str = "") -> None:
        super().__init__(client)
        self.datasets: dict[str, schemas.Dataset] = {}
        self.containers: dict[str, schemas.Container] = {}
        self.registered: list[str] = []
        self.filter = w.Text(value=query, placeholder="filter by name, description or tag")
        self.refresh_button = w.Button(description="", icon="refresh", tooltip="Reload")
        self.tree = w.Select(options=[], rows=10, layout=w.Layout(width="100%"))
        self.details = w.HTML("")
        self.path = w.Text(placeholder="/absolute/path/on/the/server", description="Path")
        self.register_button = w.Button(description="Register", icon="plus", button_style="primary")
        self.filter.continuous_update = False
        self.filter.observe(self.safely(lambda _: self.refresh()), names="value")
        self.refresh_button.on_click(self.safely(lambda _: self.refresh()))
        self.tree.observe(self.safely(lambda _: self._selected()), names="value")
        self.register_button.on_click(self.safely(lambda _: self.register()))
        self.children = [
            self.header,
            w.HBox([self.filter, self.refresh_button]),
            self.tree,
            self.details,
            w.HBox([self.path, self.register_button]),
            self.message,
        ]
        with self.guard():
            self.refresh()

    def refresh(self) -> None:
        """Reload datasets (and containers, for admins) into the tree."""
        query = self.filter.value.strip() or None
        datasets = self.client.catalog.datasets(query=query)
        try:
            containers = self.client.catalog.containers()
        except PermissionDenied:  # containers are admin-only: users see their datasets
            containers = []
        self.datasets = {d.urn: d for d in datasets}
        self.containers = {c.urn: c for c in containers}
        options: list[tuple[str, str]] = []
        placed: set[str] = set()
        for container in containers:
            members = [
                d
                for d in datasets
                if d.urn in container.datasets or d.container_urn == container.urn
            ]
            options.append((f"▸ {container.name} ({len(members)})", container.urn))
            for dataset in members:
                options.append((f"    {dataset.name}", dataset.urn))
                placed.add(dataset.urn)
        loose = [d for d in datasets if d.urn not in placed]
        if containers and loose:
            options.append(("▸ (no container)", ""))
        options += [((f"    {d.name}" if containers else d.name), d.urn) for d in loose]
        self.tree.options = options
        self.details.value = "" if options else "<i>No datasets yet: register a path below.</i>"

    def _selected(self) -> None:
        urn = self.tree.value or ""
        if urn in self.containers:
            c = self.containers[urn]
            self.details.value = (
                f"<div><b>{esc(c.name)}</b> container · {len(c.datasets)} dataset(s)"
                f"<br><code>{esc(urn)}</code><br>{esc(c.description or '')}</div>"
            )
            return
        dataset = self.datasets.get(urn)
        if dataset is None:
            self.details.value = ""
            return
        schema = dataset.dataset_schema
        if schema is None:
            try:
                schema = self.client.catalog.schema(urn)
            except Exception:
                schema = None
        props = table(["property", "value"], sorted(dataset.properties.items()))
        fields = (
            table(
                ["field", "type", "description"],
                [(f.name, f.type, f.description or "") for f in schema.fields],
            )
            if schema is not None and schema.fields
            else "<i>no schema recorded</i>"
        )
        tags = ", ".join(dataset.tags)
        self.details.value = (
            f"<div><b>{esc(dataset.name)}</b> · {esc(dataset.platform)} · "
            f"{esc(dataset.environment)}"
            f"<br><code>{esc(urn)}</code>"
            + (f"<br>tags: {esc(tags)}" if tags else "")
            + (f"<br>{esc(dataset.description)}" if dataset.description else "")
            + "</div><div class='waza-schema'><b>Schema</b>"
            + fields
            + "</div>"
            + props
        )

    def select(self, urn: str) -> None:
        self.tree.value = urn

    def register(self, path: str | None = None) -> list[str]:
        """Catalog the file or folder at ``path`` (default: the Path box); returns new URNs."""
        target = (path if path is not None else self.path.value).strip()
        if not target:
            self.show_error("Type the absolute path of a file or folder on the server.")
            return []
        self.clear_message()
        result = self.client.ingestion.run_files(target)
        self.registered = list(result.urns)
        problems = result.errors + [f"skipped {s}" for s in result.skipped]
        self.refresh()
        if self.registered:
            self.tree.value = self.registered[0]
        if result.status == "failed" or not self.registered:
            self.show_error("Nothing registered: " + ("; ".join(problems) or "no files found"))
        elif problems:
            self.show_info(f"Registered {len(self.registered)} dataset(s); " + "; ".join(problems))
        else:
            self.show_info(f"Registered {len(self.registered)} dataset(s).")
        return self.registered
