"""`VectorSearch`: pick a vector DB and collection, type a query, see ranked hits."""

from __future__ import annotations

import json
import uuid

import ipywidgets as w

from waza.client import Client
from waza.services.ingestion.schemas import Passage
from waza_widgets._base import WazaWidget, esc, fill


class VectorSearch(WazaWidget):
    """Semantic search over a collection (the query is embedded with the collection's model).

        from waza_widgets import VectorSearch
        VectorSearch()                            # your default vector DB
        VectorSearch(collection="handbook", query="How do I rotate keys?")

    Hits are ranked best first with their score, source, text and metadata; ``hits`` holds them.
    """

    title = "Vector search"

    def __init__(
        self,
        client: Client | None = None,
        *,
        vectordb_id: uuid.UUID | str | None = None,
        collection: str | None = None,
        query: str = "",
        top_k: int = 5,
    ) -> None:
        super().__init__(client)
        self.hits: list[Passage] = []
        self.db = w.Dropdown(options=[], description="Vector DB")
        self.collection = w.Dropdown(options=[], description="Collection")
        self.query = w.Text(value=query, placeholder="what are you looking for?")
        self.top_k = w.IntSlider(value=top_k, min=1, max=50, description="Top k")
        self.search_button = w.Button(description="Search", icon="search", button_style="primary")
        self.results = w.HTML("")
        self.db.observe(self.safely(lambda _: self.load_collections()), names="value")
        self.search_button.on_click(self.safely(lambda _: self.search()))
        self.children = [
            self.header,
            w.HBox([self.db, self.collection]),
            w.HBox([self.query, self.top_k, self.search_button]),
            self.results,
            self.message,
        ]
        with self.guard():
            self.load_dbs(vectordb_id, collection)
            if query and self.collection.value:
                self.search()

    def load_dbs(
        self, select: uuid.UUID | str | None = None, collection: str | None = None
    ) -> None:
        """List the vector DBs you may read (then their collections)."""
        dbs = self.client.vectors.list_dbs()
        fill(self.db, [(f"{d.name} ({d.engine})", str(d.id)) for d in dbs], _str(select))
        self.load_collections(collection)
        if not dbs:
            self.show_info("No vector DB yet: ingest documents to create one.")

    def load_collections(self, select: str | None = None) -> None:
        if not self.db.value:
            self.collection.options = []
            return
        collections = self.client.vectors.list_collections(self.db.value)
        if select is not None and select not in {c.name for c in collections}:
            raise LookupError(f"no collection {select!r} in this vector DB")
        fill(self.collection, [(f"{c.name} ({c.count})", c.name) for c in collections], select)

    def search(self) -> None:
        """Run the query and show the ranked hits."""
        text = self.query.value.strip()
        if not text:
            self.show_error("Type a query first.")
            return
        if not self.collection.value:
            self.show_error("Choose a collection first.")
            return
        self.clear_message()
        found = self.client.ingestion.rag.search(
            text, self.collection.value, self.top_k.value, vectordb_id=self.db.value or None
        )
        self.hits = list(found.results)
        rows = []
        for rank, hit in enumerate(self.hits, 1):
            meta = {k: v for k, v in hit.metadata.items() if k != "text"}
            rows.append(
                "<tr>"
                f"<td>{rank}</td><td>{hit.score:.3f}</td>"
                f"<td>{esc(hit.filename or hit.source or '')}</td>"
                f"<td style='white-space:pre-wrap'>{esc(hit.text[:600])}</td>"
                f"<td><code>{esc(json.dumps(meta, default=str)[:300])}</code></td>"
                "</tr>"
            )
        if not rows:
            self.results.value = f"<i>No hits for {esc(text)!s}.</i>"
            return
        self.results.value = (
            "<table class='waza-table waza-hits' style='font-size:90%'><thead><tr>"
            "<th>#</th><th>score</th><th>source</th><th>text</th><th>metadata</th>"
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )


def _str(value: object) -> str | None:
    return None if value is None else str(value)
