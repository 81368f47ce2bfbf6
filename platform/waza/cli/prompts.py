"""`waza prompts ...`: roles, system prompts, elements and templates through the platform API.

    waza prompts list systems
    waza prompts create systems terse --content "Answer in one sentence."
    waza prompts create templates capital --file capital.j2
    waza prompts show templates ID
    waza prompts render ID --var country=France --system ID

KIND is `roles`, `systems`, `elements` or `templates` (singular works too). The platform and
credentials come from `--url`/`--token` or `WAZA_API_URL`/`WAZA_API_KEY`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from waza.cli.common import client, connection_options
from waza.client import Client
from waza.client.prompts import PromptKindAPI

app = typer.Typer(help="Prompt library: roles, systems, elements, templates.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()

KindArg = Annotated[str, typer.Argument(help="roles | systems | elements | templates")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


app.callback()(connection_options)
_client = client


def _kind(client: Client, kind: str) -> PromptKindAPI[Any]:
    try:
        return client.prompts.kind(kind)
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


def _preview(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@app.command("list")
def list_prompts(
    ctx: typer.Context,
    kind: KindArg,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Text in the name.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List your prompts of a kind, and shared ones (an admin: all)."""
    with _client(ctx) as client:
        found = _kind(client, kind).list(search=search, limit=limit)
    if as_json:
        typer.echo("[" + ",".join(p.model_dump_json() for p in found) + "]")
        return
    table = Table("id", "name", "v", "tags", "shared", "content", title=f"{len(found)} {kind}")
    for p in found:
        table.add_row(
            str(p.id), escape(p.name), str(p.version), escape(", ".join(p.tags)),
            "yes" if p.shared else "", escape(_preview(p.content)),
        )  # fmt: skip
    out.print(table)


@app.command("show")
def show(ctx: typer.Context, kind: KindArg, prompt_id: str) -> None:
    """Show one prompt as JSON."""
    with _client(ctx) as client:
        prompt = _kind(client, kind).get(prompt_id)
    out.print_json(prompt.model_dump_json())


@app.command("create")
def create(
    ctx: typer.Context,
    kind: KindArg,
    name: str,
    content: Annotated[str | None, typer.Option(help="The text.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the text from a file ('-': stdin).")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Repeatable.")] = None,
    shared: Annotated[bool, typer.Option(help="Readable by every user.")] = False,
) -> None:
    """Create a prompt and print its id."""
    if (content is None) == (file is None):
        err.print("[red]error:[/] give the text with exactly one of --content or --file")
        raise typer.Exit(2)
    if file is not None:
        text = typer.get_text_stream("stdin").read() if str(file) == "-" else None
        if text is None:
            if not file.is_file():
                err.print(f"[red]error:[/] {file} is not a file")
                raise typer.Exit(2)
            text = file.read_text()
    else:
        text = content or ""
    with _client(ctx) as client:
        prompt = _kind(client, kind).create(name, text, tags=list(tag or []), shared=shared)
    err.print(f"[green]created[/] {kind} {escape(prompt.name)} (version {prompt.version})")
    typer.echo(str(prompt.id))


@app.command("delete")
def delete(ctx: typer.Context, kind: KindArg, prompt_id: str) -> None:
    """Delete a prompt and its versions."""
    with _client(ctx) as client:
        _kind(client, kind).delete(prompt_id)
    err.print(f"[green]deleted[/] {prompt_id}")


@app.command("render")
def render(
    ctx: typer.Context,
    template_id: str,
    var: Annotated[
        list[str] | None, typer.Option("--var", "-v", help="NAME=VALUE (repeatable).")
    ] = None,
    system: Annotated[str | None, typer.Option(help="A system prompt id.")] = None,
    role: Annotated[str | None, typer.Option(help="A role id.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Fill a template in and print the text (or, with --json, the chat messages too)."""
    variables: dict[str, Any] = {}
    for item in var or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            err.print(f"[red]error:[/] --var takes NAME=VALUE, not {item!r}")
            raise typer.Exit(2)
        variables[key] = value
    with _client(ctx) as client:
        result = client.prompts.templates.render(
            template_id, variables, system_id=system, role_id=role
        )
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        typer.echo(result.text)
