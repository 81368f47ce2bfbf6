"""`waza logs ...`: deployment and app logs through the logger service.

    waza logs list                    # yours (an admin: everyone's), newest first
    waza logs list --type llamacpp --errors
    waza logs show ID --tail 50
    waza logs patterns ID
    waza logs stats
    waza logs cleanup --days 30       # admin; a dry run unless --yes

The platform and credentials come from `--url`/`--token` or `WAZA_API_URL`/`WAZA_API_KEY`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from waza.cli.common import client, connection_options

app = typer.Typer(help="Deployment and app logs: list, read, analyse, clean up.",
                  no_args_is_help=True)  # fmt: skip
err = Console(stderr=True)
out = Console()

TypeOption = Annotated[
    str | None, typer.Option("--type", "-t", help="Deployment type, e.g. llamacpp, app_garden.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


app.callback()(connection_options)
_client = client


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


@app.command("list")
def list_logs(
    ctx: typer.Context,
    deployment_type: TypeOption = None,
    orphaned: Annotated[bool, typer.Option(help="Only logs whose deployment is gone.")] = False,
    errors: Annotated[bool, typer.Option("--errors", help="Check each log for errors.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List the logs you may see, newest first."""
    with _client(ctx) as client:
        found = client.logs.list(deployment_type, orphaned=orphaned, analyze=errors)
    if as_json:
        typer.echo(found.model_dump_json())
        return
    columns = ["deployment", "type", "size", "modified", "state"] + (["errors"] if errors else [])
    table = Table(*columns, title=f"{found.total_count} log(s), {found.orphaned_count} orphaned")
    for log in found.logs:
        state = "running" if log.capture_active else ("orphaned" if log.is_orphaned else "")
        row = [log.deployment_id, log.deployment_type, _size(log.file_size),
               log.modified_at.strftime("%Y-%m-%d %H:%M"), state]  # fmt: skip
        if errors:
            row.append("[red]yes[/]" if log.has_errors else "no")
        table.add_row(*row)
    out.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    deployment_id: str,
    deployment_type: TypeOption = None,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.")] = None,
) -> None:
    """Print a log's lines (then the failure patterns found, on stderr)."""
    with _client(ctx) as client:
        content = client.logs.get(deployment_id, deployment_type, tail=tail)
    for line in content.logs:
        typer.echo(line)
    found = [k for k, v in (content.patterns_detected or {}).items() if v]
    if found:
        err.print(f"[yellow]patterns:[/] {', '.join(found)}")


@app.command("patterns")
def patterns(
    ctx: typer.Context, deployment_id: str, deployment_type: TypeOption = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """The failure patterns in a log and the lines that show them."""
    with _client(ctx) as client:
        analysis = client.logs.patterns(deployment_id, deployment_type)
    if as_json:
        typer.echo(analysis.model_dump_json())
        return
    found = [k for k, v in analysis.patterns_detected.items() if v]
    out.print(
        f"{analysis.total_errors_found} error line(s); patterns: {', '.join(found) or 'none'}"
    )
    for item in analysis.failure_lines:
        tags = ", ".join(item.get("patterns") or [])
        out.print(f"{item['line_number']:>6}  {escape(str(item['line']))}"
                  + (f"  [dim]({tags})[/]" if tags else ""))  # fmt: skip


@app.command("stats")
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Counts and sizes of the logs you may see, by type."""
    with _client(ctx) as client:
        result = client.logs.stats()
    if as_json:
        typer.echo(result.model_dump_json())
        return
    title = f"{result.total_logs} log(s), {_size(result.total_size_bytes)}"
    table = Table("type", "logs", "size", "orphaned", "running", title=title)
    for name, row in sorted(result.by_type.items()):
        table.add_row(name, str(row["count"]), _size(int(row["size_bytes"])),
                      str(row["orphaned_count"]), str(row["active_count"]))  # fmt: skip
    out.print(table)


@app.command("cleanup")
def cleanup(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(help="Remove logs not written for this many days.")] = 30,
    deployment_type: TypeOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete (default: dry run).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Admin: remove old logs (running deployments' logs are kept)."""
    with _client(ctx) as client:
        result = client.logs.cleanup(days, deployment_type, dry_run=not yes)
    if as_json:
        typer.echo(result.model_dump_json())
        return
    for log in result.logs:
        out.print(f"{log.deployment_type}/{log.deployment_id}  {_size(log.file_size)}")
    for problem in result.errors:
        err.print(f"[red]failed:[/] {escape(problem)}")
    err.print(("[yellow]dry run:[/] " if result.dry_run else "[green]done:[/] ") + result.message)
