"""What the command groups that talk to a running platform share: the `--url`/`--token`
options (or `WAZA_API_URL`/`WAZA_API_KEY`, else the CLI profile) and a client whose API and
connection errors become one red line and exit status 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from waza.client import Client, WazaAPIError
from waza.client.errors import ConnectionFailed

err = Console(stderr=True)


def connection_options(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(envvar="WAZA_API_URL", help="Platform URL.")] = None,
    token: Annotated[
        str | None, typer.Option(envvar="WAZA_API_KEY", help="Access token.", show_default=False)
    ] = None,
) -> None:
    """Register on a Typer group with `app.callback()(connection_options)`."""
    ctx.obj = {"url": url, "token": token}


@contextmanager
def client(ctx: typer.Context) -> Iterator[Client]:
    """A client for the command; API errors become a red message and exit status 1."""
    options: dict[str, Any] = ctx.find_root().obj or ctx.obj or {}
    try:
        with Client(options.get("url"), options.get("token")) as api:
            yield api
    except WazaAPIError as exc:
        err.print(f"[red]error {exc.status_code}:[/] {escape(str(exc.message))}")
        raise typer.Exit(1) from exc
    except ConnectionFailed as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
