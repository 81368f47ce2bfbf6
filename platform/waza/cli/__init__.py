"""The `waza` command line: run the platform, administer it on this machine, diagnose it."""

from __future__ import annotations

import os

# Before anything loads numpy (the client modules do): numpy's OpenBLAS keeps its worker threads
# spinning for ~0.1 s of CPU after every call (2^28 cycles) unless told otherwise. In the API
# server that burns a core after each vector search (Qdrant local computes with BLAS) and slows
# the response and the caller on a small machine; 2^4 cycles lets the threads sleep at once, at
# no measurable cost to the search (docs/performance.md, vector search). An explicit setting wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import uuid
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import waza
from waza.settings import Settings

app = typer.Typer(
    help="waza: a Jupyter-native AI platform.", no_args_is_help=True, add_completion=False
)
admin_app = typer.Typer(help="Administer users and tokens directly in the database.")
app.add_typer(admin_app, name="admin")
console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


@app.command()
def version() -> None:
    """Print the waza version."""
    typer.echo(waza.__version__)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (WAZA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (WAZA_PORT).")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Run the platform API alone (embedded defaults unless configured)."""
    import uvicorn

    from waza.gateway.logging import write_logs_before_signal_exit

    settings = _settings(host=host, port=port)
    if host is not None:
        os.environ["WAZA_HOST"] = host
    if port is not None:
        os.environ["WAZA_PORT"] = str(port)
    write_logs_before_signal_exit()
    uvicorn.run(
        "waza.gateway.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        access_log=False,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations (the API also does this at start-up)."""
    from waza.db import Database
    from waza.db.migrate import current_revision, upgrade

    settings = _settings()
    settings.ensure_home()
    db = Database(settings.effective_database_url)
    upgrade(db)
    console.print(f"[green]database at revision {current_revision(db)}[/]")
    db.dispose()


def _auth_service() -> tuple[object, Settings]:
    from waza.db.migrate import upgrade
    from waza.gateway.context import WazaContext

    settings = _settings()
    ctx = WazaContext.build(settings)
    upgrade(ctx.db)
    return ctx, settings


def _password(given: str | None, prompt: str = "Password") -> str:
    if given:
        return given
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


@admin_app.command("create-user")
def create_user(
    username: str,
    password: Annotated[str | None, typer.Option(help="Prompted for when omitted.")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Give the admin role.")] = False,
) -> None:
    """Create a local user."""
    from pydantic import ValidationError

    from waza.errors import WazaError
    from waza.services.auth.schemas import LocalUserCreate

    ctx, _ = _auth_service()
    try:
        body = LocalUserCreate(
            username=username,
            password=_password(password),
            email=email,
            roles=["admin", "user"] if admin else ["user"],
        )
        user = ctx.auth.create_user(body)  # type: ignore[attr-defined]
    except (ValidationError, WazaError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"[green]created[/] {user.username} ({user.id}) roles={','.join(user.roles)}")


@admin_app.command("reset-password")
def reset_password(
    username: str,
    password: Annotated[str | None, typer.Option(help="Prompted for when omitted.")] = None,
) -> None:
    """Set a user's password (also clears a login lock-out)."""
    from waza.errors import WazaError

    ctx, _ = _auth_service()
    new = _password(password, "New password")
    if len(new) < 8:
        console.print("[red]error:[/] the password must have at least 8 characters")
        raise typer.Exit(1)
    try:
        ctx.auth.reset_password_by_name(username, new)  # type: ignore[attr-defined]
    except WazaError as exc:
        console.print(f"[red]error:[/] {exc.detail}")
        raise typer.Exit(1) from exc
    console.print(f"[green]password reset for[/] {username}")


@admin_app.command("create-token")
def create_token(
    username: str,
    name: Annotated[str, typer.Option(help="A label for the token.")] = "cli",
    scope: Annotated[str, typer.Option(help="admin | write | read")] = "admin",
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 30 * 24 * 3600,
) -> None:
    """Create a personal access token for a user and print it (shown only once)."""
    from waza.errors import WazaError
    from waza.services.auth.schemas import validate_scope

    ctx, _ = _auth_service()
    try:
        scope = validate_scope(scope)
        user_id: uuid.UUID = ctx.auth.user_id_for(username)  # type: ignore[attr-defined]
        created = ctx.auth.issue_pat(user_id, name, ttl, scope, "kamiwaza-platform")  # type: ignore[attr-defined]
    except (ValueError, WazaError) as exc:
        console.print(f"[red]error:[/] {getattr(exc, 'detail', exc)}")
        raise typer.Exit(1) from exc
    console.print(f"token for {username} (scope {scope}, id {created.pat.jti}):")
    typer.echo(created.token)


@dataclass
class Check:
    name: str
    ok: bool
    message: str


def run_checks(settings: Settings, url: str | None = None) -> list[Check]:
    """Every configured backend, checked with a clear message each (used by `waza doctor`)."""
    from waza.db import Database
    from waza.db.migrate import MIGRATIONS_DIR, current_revision

    checks: list[Check] = []
    try:
        home = settings.ensure_home()
        probe = home / ".doctor"
        probe.write_text("ok")
        probe.unlink()
        checks.append(Check("home", True, f"{home} is writable"))
    except OSError as exc:
        checks.append(Check("home", False, f"{settings.home} is not writable: {exc}"))

    try:
        db = Database(settings.effective_database_url)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        head = sorted(p.name[:4] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))[-1]
        rev = current_revision(db)
        state = "up to date" if rev == head else f"at {rev or 'nothing'}, head is {head}"
        checks.append(Check("database", True, f"{db.dialect} reachable; schema {state}"))
        db.dispose()
    except Exception as exc:
        checks.append(Check("database", False, f"cannot use the database: {exc}"))

    try:
        from waza.kv import open_kv

        kv = open_kv(settings)
        kv.put("doctor/probe", "ok")
        ok = kv.get("doctor/probe") == "ok"
        kv.delete("doctor/probe")
        kv.close()
        where = settings.etcd_url or str(settings.home / "kv.sqlite")
        checks.append(Check("kv", ok, f"{settings.effective_kv_backend} store at {where}"))
    except Exception as exc:
        checks.append(Check("kv", False, f"config store unavailable: {exc}"))

    target = url or settings.effective_public_url
    try:
        import httpx

        reply = httpx.get(target.rstrip("/") + "/api/ping", timeout=3)
        checks.append(Check("api", reply.status_code == 200, f"{target}/api answers"))
    except Exception as exc:
        checks.append(Check("api", False, f"no API at {target}/api ({type(exc).__name__})"))
    return checks


@app.command()
def doctor(
    url: Annotated[str | None, typer.Option(help="Platform URL to probe.")] = None,
    show_config: Annotated[bool, typer.Option("--config", help="Print the settings.")] = False,
) -> None:
    """Check the configuration and every configured backend."""
    settings = _settings()
    if show_config:
        for key, value in settings.redacted().items():
            console.print(f"  {key} = {value}")
    table = Table("check", "", "details")
    checks = run_checks(settings, url)
    for check in checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAIL[/]", check.message)
    Console().print(table)
    if not all(c.ok for c in checks if c.name != "api"):
        raise typer.Exit(1)


def _register_service_commands() -> None:
    """Command groups of the data plane live in their own modules (one per service)."""
    from waza.cli import catalog, ingest, logs, models, prompts, serving, vectors

    app.add_typer(models.app, name="models")
    serving.register(app)  # deploy, deployments, chat, `deployment ...`, `serving ...`
    app.add_typer(vectors.app, name="vectors")
    app.add_typer(catalog.app, name="catalog")
    from waza.cli import apps as apps_cli

    app.add_typer(apps_cli.app, name="apps")
    app.add_typer(prompts.app, name="prompts")
    app.add_typer(logs.app, name="logs")
    app.command("ingest")(ingest.ingest)

    from waza.cli import stack

    app.command()(stack.up)
    app.command()(stack.down)
    app.command()(stack.status)


_register_service_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
