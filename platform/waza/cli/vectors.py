"""`waza vectors ...`: vector DBs and collections on a running platform, and searches.

The API is reached at ``--url`` (``WAZA_API_URL``) with ``--token`` (``WAZA_API_KEY``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from waza.client import Client, WazaAPIError

app = typer.Typer(
    help="Vector DBs, collections and searches (Milvus or Qdrant).", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)
_state: dict[str, Any] = {}

DbOption = Annotated[
    str | None, typer.Option("--db", help="Vector DB id (default: your default DB).")
]


@app.callback()
def _connect(
    url: Annotated[str | None, typer.Option(envvar="WAZA_API_URL", help="Platform URL.")] = None,
    token: Annotated[
        str | None, typer.Option(envvar="WAZA_API_KEY", help="Access token (a PAT).")
    ] = None,
) -> None:
    _state["url"], _state["token"] = url, token


@contextmanager
def _client() -> Iterator[Client]:
    client = Client(_state.get("url"), _state.get("token"))
    try:
        yield client
    except WazaAPIError as exc:
        err.print(f"[red]error[/] {exc}")
        raise typer.Exit(1) from exc
    finally:
        client.close()


@app.command("dbs")
def list_dbs(
    engine: Annotated[str | None, typer.Option(help="Only this engine.")] = None,
) -> None:
    """List the vector DBs you may use."""
    with _client() as client:
        table = Table("id", "name", "engine", "status", "shared", "endpoint")
        for db in client.vectors.list_dbs(engine=engine):
            table.add_row(str(db.id), db.name, db.engine, db.status, str(db.shared), db.endpoint)
        out.print(table)


@app.command("create")
def create_db(
    name: str,
    engine: Annotated[str | None, typer.Option(help="milvus or qdrant.")] = None,
    shared: Annotated[bool, typer.Option(help="Let other users read and search it.")] = False,
    metric: Annotated[str | None, typer.Option(help="Default metric: COSINE, L2 or IP.")] = None,
) -> None:
    """Create a vector DB; prints its id."""
    with _client() as client:
        config = {"metric": metric} if metric else None
        db = client.vectors.create_db(name, engine=engine, shared=shared, config=config)
        err.print(f"created {db.engine} vector DB {db.name!r} at {db.endpoint}")
        typer.echo(str(db.id))


@app.command("delete")
def delete_db(
    db_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a vector DB and all its vectors."""
    if not yes:
        typer.confirm(f"Delete vector DB {db_id} and all its data?", abort=True)
    with _client() as client:
        done = client.vectors.delete_db(db_id)
        err.print(f"deleted vector DB {done.name!r}")


@app.command("collections")
def list_collections(db: DbOption = None) -> None:
    """List the collections of a vector DB."""
    with _client() as client:
        table = Table("name", "dimension", "metric", "vectors", "description")
        for c in client.vectors.list_collections(db):
            table.add_row(c.name, str(c.dimension), c.metric, str(c.count), c.description)
        out.print(table)


def _read_vectors(path: str) -> list[list[float]]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    data = json.loads(text)
    if isinstance(data, dict):
        data = data.get("vectors") or data.get("embedding") or data.get("vector")
    if isinstance(data, list) and data and all(isinstance(x, int | float) for x in data):
        data = [data]
    if not isinstance(data, list) or not data or not all(isinstance(v, list) for v in data):
        raise typer.BadParameter("expected a JSON list of numbers or a list of such lists")
    return [[float(x) for x in v] for v in data]


def _db_or_default(client: Client, db: str | None) -> str:
    """``--db``, or the caller's default vector DB (exit 1 when there is none)."""
    if db is not None:
        return db
    me = client.auth.me().sub
    dbs = [d for d in client.vectors.list_dbs() if d.name == "default" and str(d.owner_id) == me]
    if not dbs:
        err.print("[red]error[/] no --db given and you have no default vector DB")
        raise typer.Exit(1)
    return str(dbs[0].id)


@app.command("search")
def search(
    collection: str,
    db: DbOption = None,
    vector_file: Annotated[
        str | None,
        typer.Option("--vector-file", "-f", help="JSON file ('-' for stdin) with query vectors."),
    ] = None,
    text: Annotated[
        str | None, typer.Option("--text", "-t", help="Embed this text (embedding service).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Hits per query vector.")] = 10,
    filter_json: Annotated[
        str | None, typer.Option("--filter", help='Metadata filter, e.g. {"source": "a.txt"}.')
    ] = None,
    fields: Annotated[
        str | None, typer.Option(help="Comma-separated metadata fields to show.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")] = False,
) -> None:
    """Search a collection with query vectors from a file, or with a text to embed."""
    if (vector_file is None) == (text is None):
        raise typer.BadParameter("give exactly one of --vector-file or --text")
    flt = json.loads(filter_json) if filter_json else None
    with _client() as client:
        if text is not None:
            reply = client.transport.json("POST", "embedding/generate", json={"text": text})
            vectors = [[float(x) for x in reply["embedding"]]]
        else:
            assert vector_file is not None
            vectors = _read_vectors(vector_file)
        hits = client.vectors.search(
            _db_or_default(client, db),
            collection,
            vectors,
            limit=limit,
            filter=flt,
            output_fields=fields.split(",") if fields else None,
        )
    if as_json:
        typer.echo(json.dumps([h.model_dump() for h in hits], indent=2))
        return
    table = Table("query", "score", "id", "metadata")
    for h in hits:
        table.add_row(str(h.query_index), f"{h.score:.4f}", h.id, json.dumps(h.metadata)[:120])
    out.print(table)


@app.command("remove")
def remove_vectors(
    collection: str,
    db: DbOption = None,
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="A vector id to delete (repeatable).")
    ] = None,
    filter_json: Annotated[
        str | None,
        typer.Option("--filter", help='Delete the vectors matching, e.g. {"source": "a.md"}.'),
    ] = None,
) -> None:
    """Delete vectors from a collection by id and/or metadata filter."""
    if not ids and not filter_json:
        raise typer.BadParameter("give --id (repeatable), --filter, or both")
    flt = json.loads(filter_json) if filter_json else None
    with _client() as client:
        deleted = client.vectors.delete_vectors(
            _db_or_default(client, db), collection, ids=ids or None, filter=flt
        )
    out.print(f"deleted {deleted} vector{'s' if deleted != 1 else ''} from {collection}")
