"""`waza models ...`: the model repository on a running platform.

    waza models builtin                      # the built-in models; `builtin <key>` registers one
    waza models search SmolLM2               # local models and the Hugging Face Hub
    waza models download org/name --file model-Q4_K_M.gguf
    waza models import /srv/models/my-model --engine transformers
    waza models list

The API is reached at ``--url`` (``WAZA_API_URL``) with ``--token`` (``WAZA_API_KEY``). A MODEL
argument is a model id or a Hub repo id (``org/name``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from waza.client import Client, WazaAPIError
from waza.client.models import DownloadFailed, ModelsAPI
from waza.services.models import schemas

app = typer.Typer(
    help="Models: list, search the Hub, download, import, upload, built-ins.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)
_state: dict[str, Any] = {}

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.callback()
def _connect(
    url: Annotated[str | None, typer.Option(envvar="WAZA_API_URL", help="Platform URL.")] = None,
    token: Annotated[
        str | None, typer.Option(envvar="WAZA_API_KEY", help="Access token (a PAT).")
    ] = None,
) -> None:
    _state["url"], _state["token"] = url, token


@contextmanager
def _client() -> Iterator[ModelsAPI]:
    client = Client(_state.get("url"), _state.get("token"), timeout=120)
    try:
        yield ModelsAPI(client.transport)
    except WazaAPIError as exc:
        err.print(f"[red]error[/] {exc}")
        raise typer.Exit(1) from exc
    finally:
        client.close()


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


def _resolve(client: ModelsAPI, key: str) -> schemas.Model:
    """A model by id or by Hub repo id."""
    try:
        return client.get_model(uuid.UUID(key))
    except ValueError:
        found = client.by_repo(key)
        if found is None or found.id is None:
            err.print(f"[red]error[/] no model {key!r} (give a model id or a registered repo id)")
            raise typer.Exit(1) from None
        return client.get_model(found.id)


def _config(engine: str | None, config_json: str | None) -> dict[str, Any] | None:
    config: dict[str, Any] = json.loads(config_json) if config_json else {}
    if not isinstance(config, dict):
        raise typer.BadParameter("--config must be a JSON object")
    if engine:
        config["engine"] = engine
    return config or None


def _dump(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command("list")
def list_models(as_json: JsonOption = False) -> None:
    """List the models you may use."""
    with _client() as client:
        models = client.list_models(load_files=True)
        if as_json:
            _dump([m.model_dump(mode="json") for m in models])
            return
        table = Table("id", "name", "repo", "source", "purpose", "files", "size", "private")
        for m in models:
            size = sum(f.size or 0 for f in m.m_files if f.storage_location)
            table.add_row(
                str(m.id),
                m.name,
                m.repo_modelId or "",
                m.source or "",
                m.purpose or "",
                str(len(m.m_files)),
                _size(size),
                "yes" if m.private else "",
            )
        out.print(table)


@app.command("show")
def show(model: str, as_json: JsonOption = False) -> None:
    """Show a model with its files and configs."""
    with _client() as client:
        m = _resolve(client, model)
        assert m.id is not None
        configs = client.configs(m.id)
        if as_json:
            _dump(
                {
                    **m.model_dump(mode="json"),
                    "configs": [c.model_dump(mode="json") for c in configs],
                }
            )
            return
        out.print(f"[bold]{m.name}[/]  {m.id}")
        for label, value in (
            ("repo", m.repo_modelId),
            ("source", m.source),
            ("purpose", m.purpose),
            ("path", m.local_path),
            ("private", m.private),
            ("description", m.description),
        ):
            if value not in (None, ""):
                out.print(f"  {label}: {value}")
        files = Table("file", "size", "state", "location", title="files")
        for f in m.m_files:
            state = (
                "downloading" if f.is_downloading else ("on disk" if f.storage_location else "-")
            )
            files.add_row(f.name, _size(f.size), state, f.storage_location or "")
        out.print(files)
        _print_configs(configs)


def _print_configs(configs: list[schemas.ModelConfig]) -> None:
    table = Table("id", "name", "default", "config", title="configs")
    for c in configs:
        table.add_row(str(c.id), c.name or "", "yes" if c.default else "", json.dumps(c.config))
    out.print(table)


@app.command("configs")
def configs(model: str, as_json: JsonOption = False) -> None:
    """List a model's serving configs."""
    with _client() as client:
        m = _resolve(client, model)
        assert m.id is not None
        found = client.configs(m.id)
        if as_json:
            _dump([c.model_dump(mode="json") for c in found])
        else:
            _print_configs(found)


@app.command("search")
def search(
    query: str,
    exact: Annotated[bool, typer.Option(help="Exact name or repo id.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many results.")] = 20,
    local: Annotated[bool, typer.Option("--local", help="Only the local registry.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Search the local registry and the Hugging Face Hub."""
    with _client() as client:
        hubs = ["local"] if local else ["*"]
        found = client.search(query, exact=exact, limit=limit, hubs=hubs)
        if as_json:
            _dump(found.model_dump(mode="json"))
            return
        table = Table("where", "repo / name", "id", "purpose")
        for r in found.results:
            where = "local" if r.id else (r.model.hub or "hub")
            table.add_row(
                where, r.model.repo_modelId or r.model.name, str(r.id or ""), r.model.purpose or ""
            )
        out.print(table)
        for problem in found.errors:
            err.print(f"[yellow]warning[/] {problem}")


def _watch(
    client: ModelsAPI, model_id: uuid.UUID, poll: float
) -> list[schemas.ModelDownloadStatus]:
    """A progress bar per file until nothing of the model downloads any more."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    tasks: dict[uuid.UUID, TaskID] = {}
    with Progress(*columns, console=err, transient=False) as bar:
        while True:
            statuses = client.download_status(model_id)
            for s in statuses:
                if s.id not in tasks:
                    tasks[s.id] = bar.add_task(s.name, total=s.size)
                done = s.size if (s.download and not s.is_downloading) else s.downloaded_bytes
                bar.update(tasks[s.id], completed=done or 0, total=s.size)
            if not any(s.is_downloading for s in statuses):
                return statuses
            time.sleep(poll)


@app.command("download")
def download(
    repo: str,
    file: Annotated[
        list[str] | None, typer.Option("--file", "-f", help="Only this file (repeatable).")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Branch, tag or commit.")] = None,
    wait: Annotated[bool, typer.Option(help="Show progress until done.")] = True,
    poll: Annotated[float, typer.Option(help="Seconds between progress checks.")] = 0.5,
) -> None:
    """Download a Hugging Face Hub repo (or some of its files) into the shared cache."""
    with _client() as client:
        started = client.download(repo, files=file, version=version)
        err.print(started.message)
        if wait:
            statuses = _watch(client, started.model_id, poll)
            failed = [s for s in statuses if not s.download]
            if failed:
                err.print(f"[red]error[/] {DownloadFailed(statuses).message}")
                raise typer.Exit(1)
        typer.echo(str(started.model_id))


@app.command("cancel")
def cancel(
    file_id: Annotated[str | None, typer.Argument(help="A model file id.")] = None,
    model: Annotated[str | None, typer.Option(help="Every download of this model.")] = None,
) -> None:
    """Stop a file's download, or every download (of one model with --model)."""
    with _client() as client:
        if file_id:
            one = client.cancel_download(file_id)
            err.print(one.message)
            return
        model_id = _resolve(client, model).id if model else None
        bulk = client.cancel_all_downloads(model_id)
        err.print(bulk.message)


def _meta(
    name: str | None, purpose: str | None, description: str | None, private: bool
) -> dict[str, Any]:
    return {
        k: v
        for k, v in {
            "name": name,
            "purpose": purpose,
            "description": description,
            "private": private,
        }.items()
        if v is not None
    }


NameOption = Annotated[str | None, typer.Option(help="Model name (default: the file name).")]
PurposeOption = Annotated[str | None, typer.Option(help="e.g. chat or embedding.")]
DescriptionOption = Annotated[str | None, typer.Option(help="A description.")]
PrivateOption = Annotated[bool, typer.Option(help="Only you (and admins) see it.")]
EngineOption = Annotated[
    str | None, typer.Option(help="Engine of the default config (transformers, llamacpp ...).")
]
ConfigOption = Annotated[
    str | None, typer.Option("--config", help="The default config as a JSON object.")
]


@app.command("import")
def import_model(
    path: str,
    name: NameOption = None,
    purpose: PurposeOption = None,
    description: DescriptionOption = None,
    private: PrivateOption = False,
    engine: EngineOption = None,
    config_json: ConfigOption = None,
) -> None:
    """Register a folder or file on the server as a model (it stays where it is)."""
    with _client() as client:
        m = client.import_path(
            path,
            config=_config(engine, config_json),
            **_meta(name, purpose, description, private),
        )
        err.print(f"imported {m.name} ({len(m.m_files)} files)")
        typer.echo(str(m.id))


@app.command("upload")
def upload(
    paths: list[Path],
    name: NameOption = None,
    purpose: PurposeOption = None,
    description: DescriptionOption = None,
    private: PrivateOption = False,
    engine: EngineOption = None,
    config_json: ConfigOption = None,
) -> None:
    """Upload files, or one folder, as a new model."""
    with _client() as client:
        meta = _meta(None, purpose, description, private)
        m = client.upload(list(paths), name=name, config=_config(engine, config_json), **meta)
        err.print(f"uploaded {m.name} ({len(m.m_files)} files)")
        typer.echo(str(m.id))


@app.command("builtin")
def builtin(
    key: Annotated[str | None, typer.Argument(help="Register this built-in (admin).")] = None,
) -> None:
    """List the built-in models, or register one (the tiny model is built first)."""
    with _client() as client:
        if key:
            err.print(f"registering {key} ...")
            m = client.add_builtin(key)
            err.print(f"{m.name} is ready to deploy")
            typer.echo(str(m.id))
            return
        table = Table("key", "name", "installed", "registered", "model id", "note")
        for b in client.builtins():
            table.add_row(
                b.key,
                b.name,
                "yes" if b.installed else "no",
                "yes" if b.registered else "no",
                str(b.model_id or ""),
                b.reason or b.description,
            )
        out.print(table)


@app.command("delete")
def delete(
    model: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a model, its configs and its downloaded or uploaded files."""
    with _client() as client:
        m = _resolve(client, model)
        if not yes:
            typer.confirm(f"Delete model {m.name} ({m.id})?", abort=True)
        assert m.id is not None
        done = client.delete_model(m.id)
        err.print(done.message)
