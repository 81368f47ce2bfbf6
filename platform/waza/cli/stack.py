"""`waza up | down | status`: the whole stack (Traefik, JupyterHub, the platform API)."""

from __future__ import annotations

import json
import signal
import time
from dataclasses import asdict
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import waza
from waza.hub.runner import Stack, StackError, prepare_database, save_cli_profile, stop_recorded
from waza.hub.status import stack_status
from waza.settings import Settings

console = Console()
errors = Console(stderr=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # `waza down` sends SIGTERM: stop like Ctrl-C


def _credentials(settings: Settings, password: str | None) -> str:
    user = settings.admin_username
    if password:
        return (
            f"  admin     {user}\n  password  {password}\n"
            "  [yellow]shown once: change it with `waza admin reset-password`[/]"
        )
    if settings.admin_password is not None:
        return f"  admin     {user} (password from WAZA_ADMIN_PASSWORD)"
    return f"  admin     {user} (password set at the first start)"


def up(
    port: Annotated[int, typer.Option(help="Public port (Traefik).")] = 8000,
    host: Annotated[str, typer.Option(help="Public bind address.")] = "127.0.0.1",
    timeout: Annotated[float, typer.Option(help="Seconds to wait until ready.")] = 120.0,
) -> None:
    """Start the whole platform on one port: Traefik, JupyterHub and the platform API."""
    started = time.monotonic()
    settings = Settings()
    stack = Stack.plan(settings, port=port, host=host)
    try:
        stack.check_not_running()
    except StackError as exc:
        errors.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    # Handlers (not SIG_IGN inherited from a background shell): children get the defaults back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    code = 0
    try:
        with console.status("Preparing the database…") as progress:
            password = prepare_database(settings)
            progress.update("Starting Traefik, JupyterHub and the platform API…")
            stack.start()
            stack.wait_ready(timeout, progress=lambda path: progress.update(f"Waiting for {path}…"))
        ready = time.monotonic() - started
        stack.record_ready(ready)
        url = stack.url
        try:
            save_cli_profile(settings, f"{url}/api")
        except Exception as exc:  # the stack runs anyway; the CLI then needs WAZA_API_KEY
            errors.print(f"[yellow]warning:[/] no CLI profile written: {exc}")
        console.print(
            f"[bold green]waza {waza.__version__} is ready[/] in {ready:.1f} s\n"
            f"  URL       {url}/hub/\n  API       {url}/api  (docs {url}/api/docs)\n"
            f"{_credentials(settings, password)}\n"
            f"  state     {settings.home}\n  log       {stack.log_path}\n"
            "Chat with the built-in SmolLM2 from another terminal: "
            "`waza chat SmolLM2-135M-Instruct`\n"
            "Stop with Ctrl-C or `waza down`.",
            highlight=False,
        )
        code = stack.wait()
        errors.print(f"[red]JupyterHub exited ({code})[/]; last lines of the log:")
        errors.print(stack.log_tail(), markup=False, highlight=False)
        code = code or 1
    except KeyboardInterrupt:
        console.print("Stopping…")
    except StackError as exc:
        errors.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with console.status("Stopping JupyterHub, Traefik and the platform API…"):
            stack.stop()
            _stop_ray(settings)
    console.print("waza stopped.")
    raise typer.Exit(code)


def _stop_ray(settings: Settings) -> None:
    """End the local Ray head deploys started (none with WAZA_RAY_ADDRESS); the next `up`
    redeploys what was running."""
    from waza.services.serving.ray_cluster import RayCluster

    try:
        if RayCluster(settings).stop_head():
            console.print("stopped the local Ray head (deployments come back with the next up)")
    except Exception as exc:
        errors.print(f"[yellow]warning:[/] the local Ray head may still run: {exc}")


def down(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a clean stop.")] = 40.0,
) -> None:
    """Stop the stack `waza up` started (for this WAZA_HOME)."""
    settings = Settings()
    with console.status("Stopping waza…"):
        recorded = stop_recorded(settings.home, timeout)
        _stop_ray(settings)
    if recorded is None:
        console.print("waza is not running.")
        return
    console.print(f"stopped waza at {recorded.url}")


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show what of the stack runs: hub, API, Traefik, services, notebook servers."""
    settings = Settings()
    result = stack_status(settings.home)
    if as_json:
        data = {
            "running": result.running,
            "healthy": result.healthy,
            "url": result.state.url if result.state else None,
            "components": [asdict(c) for c in result.components],
            "servers": result.servers,
        }
        typer.echo(json.dumps(data, indent=2))
    elif not result.running:
        console.print("waza is not running.")
    else:
        assert result.state is not None
        state = result.state
        console.print(
            f"waza at [bold]{state.url}[/] (pid {state.pid}, ready in {state.ready_seconds} s)",
            highlight=False,
        )
        table = Table("component", "", "details")
        for c in result.components:
            table.add_row(c.name, "[green]up[/]" if c.ok else "[red]DOWN[/]", c.detail)
        console.print(table)
        if result.servers:
            servers = Table("user", "server", "ready", "last activity", "url")
            for s in result.servers:
                servers.add_row(
                    s["user"], s["server"], "yes" if s["ready"] else "no",
                    str(s["last_activity"]), s["url"],
                )  # fmt: skip
            console.print(servers)
        else:
            console.print("no notebook servers running")
    raise typer.Exit(0 if result.healthy else 1)
