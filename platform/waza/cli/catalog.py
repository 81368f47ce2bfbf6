"""`waza catalog ...`: datasets, containers and secrets through the platform API.

The platform and credentials come from `--url`/`--token` or `WAZA_API_URL`/`WAZA_API_KEY`.
Secret values are read from a hidden prompt, never from the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from waza.cli.common import client, connection_options

app = typer.Typer(help="Datasets, containers and secrets in the catalog.", no_args_is_help=True)
datasets_app = typer.Typer(help="Datasets.", no_args_is_help=True)
containers_app = typer.Typer(help="Containers (admin).", no_args_is_help=True)
secrets_app = typer.Typer(help="Secrets (values are never shown).", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(containers_app, name="containers")
app.add_typer(secrets_app, name="secrets")

err = Console(stderr=True)
out = Console()


app.callback()(connection_options)
_client = client


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*row)
    out.print(table)


# ---- datasets -----------------------------------------------------------------------------------
@datasets_app.command("list")
def datasets_list(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Search text.")] = None,
) -> None:
    """List your datasets (an admin: all)."""
    with _client(ctx) as client:
        found = client.catalog.datasets(query=query)
    rows = [[d.urn, d.name, d.platform, ", ".join(d.tags), d.created_by or ""] for d in found]
    _table(f"{len(found)} dataset(s)", ["URN", "name", "platform", "tags", "owner"], rows)


@datasets_app.command("show")
def datasets_show(ctx: typer.Context, urn: str) -> None:
    """Show one dataset as JSON."""
    with _client(ctx) as client:
        dataset = client.catalog.dataset(urn)
    out.print_json(dataset.model_dump_json())


@datasets_app.command("register")
def datasets_register(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file or folder on this machine.")],
    name: Annotated[str | None, typer.Option(help="Dataset name; default: the path.")] = None,
    platform: Annotated[str, typer.Option(help="DataHub platform.")] = "file",
    description: Annotated[str | None, typer.Option()] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Repeatable.")] = None,
) -> None:
    """Register a file or folder as a dataset and print its URN."""
    resolved = path.expanduser().resolve()
    if not resolved.exists():
        err.print(f"[red]error:[/] {resolved} does not exist")
        raise typer.Exit(1)
    properties: dict[str, Any] = {
        "path": str(resolved),
        "kind": "folder" if resolved.is_dir() else "file",
    }
    if resolved.is_file():
        properties["size_bytes"] = resolved.stat().st_size
        if resolved.suffix:
            properties["format"] = resolved.suffix.lstrip(".").lower()
    with _client(ctx) as client:
        urn = client.catalog.create_dataset(
            name or str(resolved),
            platform,
            description=description,
            tags=list(tag or []),
            properties=properties,
        )
    err.print(f"[green]registered[/] {resolved}")
    typer.echo(urn)


# ---- containers ---------------------------------------------------------------------------------
@containers_app.command("list")
def containers_list(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Search text.")] = None,
) -> None:
    """List containers with their number of datasets (admin)."""
    with _client(ctx) as client:
        found = client.catalog.containers(query=query)
    rows = [
        [c.urn, c.name, c.platform or "", str(len(c.datasets)), c.parent_urn or ""] for c in found
    ]
    _table(f"{len(found)} container(s)", ["URN", "name", "platform", "datasets", "parent"], rows)


# ---- secrets ------------------------------------------------------------------------------------
@secrets_app.command("list")
def secrets_list(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Search text.")] = None,
) -> None:
    """List your secrets (names and owners only)."""
    with _client(ctx) as client:
        found = client.catalog.secrets(query=query)
    rows = [[s.urn, s.name, s.owner or "", s.description or ""] for s in found]
    _table(f"{len(found)} secret(s)", ["URN", "name", "owner", "description"], rows)


@secrets_app.command("set")
def secrets_set(
    ctx: typer.Context,
    name: str,
    description: Annotated[str | None, typer.Option()] = None,
    owner: Annotated[str | None, typer.Option(help="corpuser URN (admin only).")] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite an existing secret of this name.")
    ] = False,
) -> None:
    """Store a secret; the value is asked for with a hidden prompt. Prints the URN."""
    value: str = typer.prompt("Value", hide_input=True, confirmation_prompt=True, err=True)
    if not value:
        err.print("[red]error:[/] the value is empty")
        raise typer.Exit(1)
    with _client(ctx) as client:
        urn = client.catalog.create_secret(
            name, value, owner=owner, description=description, clobber=replace
        )
    err.print(f"[green]stored[/] {name}")
    typer.echo(urn)


@secrets_app.command("delete")
def secrets_delete(ctx: typer.Context, urn: str) -> None:
    """Delete a secret."""
    with _client(ctx) as client:
        client.catalog.delete_secret(urn)
    err.print(f"[green]deleted[/] {urn}")


@secrets_app.command("rotate-key")
def secrets_rotate_key(ctx: typer.Context) -> None:
    """Re-encrypt every secret from the previous key to the current one (admin)."""
    with _client(ctx) as client:
        result = client.catalog.rotate_key()
    err.print(
        f"rotated {result.rotated}, already current {result.already_current}, "
        f"failed {len(result.failed)}"
    )
    for urn in result.failed:
        err.print(f"  [red]cannot decrypt[/] {urn}")
    if result.failed:
        raise typer.Exit(1)
