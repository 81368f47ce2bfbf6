"""`waza apps ...`: the App Garden through the platform API.

    waza apps templates                     # what you can deploy
    waza apps garden                        # the garden catalog (built-in + remote) and its state
    waza apps deploy waza-chat --name chat --env MODEL_DEPLOYMENT=SmolLM2-135M-Instruct
    waza apps list
    waza apps show ID | logs ID | stop ID | purge ID
    waza apps import                        # garden apps → templates (admins)

The platform and credentials come from `--url`/`--token`, `WAZA_API_URL`/`WAZA_API_KEY`, or the
CLI profile `waza up` writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from waza.cli.common import client, connection_options
from waza.client import Client
from waza.client.apps import AppFailed

app = typer.Typer(
    help="App Garden: templates, garden catalog, app deployments.", no_args_is_help=True
)
err = Console(stderr=True)
out = Console()

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


app.callback()(connection_options)


@contextmanager
def _client(ctx: typer.Context) -> Iterator[Client]:
    """A client for the command; a failed app becomes a red message and exit status 1."""
    with client(ctx) as api:
        try:
            yield api
        except AppFailed as exc:
            err.print(f"[red]app failed:[/] [{exc.code}] {escape(exc.reason)}")
            raise typer.Exit(1) from exc


def _json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


@app.command("templates")
def templates(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """App templates you can deploy."""
    with _client(ctx) as client:
        found = client.apps.templates()
    if as_json:
        _json([t.model_dump(mode="json", exclude={"compose_yml"}) for t in found])
        return
    table = Table("id", "name", "version", "visibility", "risk", "source", "description")
    for t in found:
        desc = (t.description or "").split(". ")[0][:60]
        table.add_row(
            str(t.id), t.name, t.version, t.visibility, str(t.risk_tier), t.source_type, desc
        )
    out.print(table)


@app.command("garden")
def garden(
    ctx: typer.Context,
    refresh: Annotated[bool, typer.Option(help="Re-read the remote catalog now.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The garden catalog and the remote catalog's state."""
    with _client(ctx) as client:
        apps = client.apps.garden(force_refresh=refresh)
        status = client.apps.garden_status()
    if as_json:
        _json({"apps": [a.model_dump(mode="json") for a in apps], "status": status})
        return
    table = Table("name", "version", "source", "description")
    for a in apps:
        table.add_row(a.name, a.version, a.source or "", a.description.split(". ")[0][:70])
    out.print(table)
    remote = status.get("remote", {})
    out.print(f"remote catalog: {remote.get('cache_status')} {remote.get('message') or ''}")
    if status.get("missing_apps"):
        out.print(f"not imported yet: {', '.join(status['missing_apps'])} (`waza apps import`)")


@app.command("import")
def import_garden(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Only these apps.")] = None,
) -> None:
    """Import garden apps as templates (admins)."""
    with _client(ctx) as client:
        result = client.apps.import_garden(names or None)
    out.print(
        f"imported {result.imported_count}, updated {result.updated_count} of {result.total_apps}"
    )
    for error in result.errors:
        err.print(f"[red]{escape(error)}[/]")
    if result.errors:
        raise typer.Exit(1)


def _env(pairs: list[str] | None) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


@app.command("deploy")
def deploy(
    ctx: typer.Context,
    template: Annotated[str, typer.Argument(help="Template name or id.")],
    name: Annotated[str | None, typer.Option(help="Deployment name (default: template's).")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE, repeat.")] = None,
    model: Annotated[str | None, typer.Option(help="Model deployment id or model name.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until it runs.")] = True,
) -> None:
    """Deploy an app template; prints where to open it."""
    with _client(ctx) as client:
        tpl = client.apps.find_template(template)
        template_id = tpl.id if tpl is not None else template
        app_dep = client.apps.deploy(
            template_id, name or (tpl.name if tpl else template), _env(env), model=model
        )
        out.print(f"deployment {app_dep.id}: {app_dep.status}")
        if wait:
            with out.status("starting…"):
                app_dep = client.apps.wait(app_dep.id)
    out.print(f"{app_dep.status}: open {app_dep.url}")


@app.command("list")
def list_apps(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Your app deployments (admins: everyone's)."""
    with _client(ctx) as client:
        found = client.apps.list()
    if as_json:
        _json([d.model_dump(mode="json") for d in found])
        return
    table = Table("id", "name", "status", "runtime", "url / error")
    for d in found:
        tail = d.url if d.status == "DEPLOYED" else (d.error_message or "")[:80]
        table.add_row(str(d.id), d.name, d.status, d.runtime, tail)
    out.print(table)


@app.command("show")
def show(ctx: typer.Context, deployment_id: str) -> None:
    """One deployment, as JSON."""
    with _client(ctx) as client:
        _json(client.apps.get(deployment_id).model_dump(mode="json"))


@app.command("logs")
def logs(
    ctx: typer.Context,
    deployment_id: str,
    lines: Annotated[int, typer.Option("-n", help="How many lines.")] = 100,
) -> None:
    """The app's recent output and the failure patterns in it."""
    with _client(ctx) as client:
        found = client.apps.logs(deployment_id, lines)
    for line in found.lines:
        out.print(escape(line), highlight=False)
    hits = [k for k, v in found.patterns_detected.items() if v]
    if hits:
        err.print(f"patterns: {', '.join(hits)}")


@app.command("stop")
def stop(ctx: typer.Context, deployment_id: str) -> None:
    """Stop an app (its route goes away)."""
    with _client(ctx) as client:
        client.apps.stop(deployment_id)
    out.print(f"stopped {deployment_id}")


@app.command("purge")
def purge(ctx: typer.Context, deployment_id: str) -> None:
    """Stop an app if needed and delete its records."""
    with _client(ctx) as client:
        client.apps.purge(deployment_id)
    out.print(f"purged {deployment_id}")
