"""`waza deploy | deployments | deployment ... | serving status | chat`: models served by Ray.

    waza chat SmolLM2-135M-Instruct "What is the capital of France?"   # deploys first if needed
    waza chat SmolLM2-135M-Instruct                                    # a conversation (REPL)
    waza deploy tiny-random-chat --cpus 0.5       # progress until DEPLOYED; prints the id
    waza deployments                              # what runs
    waza deployment logs ID --follow
    waza deployment stop ID

The API is reached at ``--url`` (``WAZA_API_URL``) with ``--token`` (``WAZA_API_KEY``). A MODEL
is a model id, name or Hub repo id (a built-in that is not registered yet is registered first).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from waza.client import Client
from waza.client.errors import AuthenticationError, ConnectionFailed, NotFoundError, WazaAPIError
from waza.client.models import ModelsAPI
from waza.client.serving import DeploymentFailed, ServingAPI
from waza.services.models.schemas import Model
from waza.services.serving.schemas import UIModelDeployment

out = Console()
err = Console(stderr=True)

deployment_app = typer.Typer(
    help="One deployment: show, logs, stop.", no_args_is_help=True, add_completion=False
)
serving_app = typer.Typer(
    help="The serving cluster (Ray): status, usage.", no_args_is_help=True, add_completion=False
)

UrlOption = Annotated[str | None, typer.Option(envvar="WAZA_API_URL", help="Platform URL.")]
TokenOption = Annotated[
    str | None, typer.Option(envvar="WAZA_API_KEY", help="Access token (a PAT).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TimeoutOption = Annotated[
    float, typer.Option(help="Seconds to wait for DEPLOYED before giving up.")
]
IN_PROGRESS = ("REQUESTED", "DEPLOYING", "INITIALIZING")
SERVING = ("DEPLOYED", "UNHEALTHY")  # UNHEALTHY: a replica is being replaced, others answer
STEPS = {
    "REQUESTED": "queued",
    "DEPLOYING": "placing the replicas on Ray",
    "INITIALIZING": "loading the model",
    "DEPLOYED": "ready",
    "UNHEALTHY": "a replica is unhealthy",
}


def register(root: typer.Typer) -> None:
    """Add these commands to the `waza` app."""
    root.command("deploy")(deploy)
    root.command("deployments")(deployments)
    root.command("chat")(chat)
    root.add_typer(deployment_app, name="deployment")
    root.add_typer(serving_app, name="serving")


# ---- helpers ------------------------------------------------------------------------------------
def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error[/] {escape(message)}")
    return typer.Exit(code)


def _describe(exc: WazaAPIError) -> str:
    detail = exc.detail
    if isinstance(detail, dict) and "message" in detail:
        reason = detail.get("reason")
        return f"{detail['message']} ({reason})" if reason else str(detail["message"])
    return exc.message


@contextmanager
def _session(url: str | None, token: str | None) -> Iterator[tuple[ServingAPI, ModelsAPI]]:
    client = Client(url, token, timeout=120)
    try:
        yield ServingAPI(client.transport), ModelsAPI(client.transport)
    except AuthenticationError as exc:
        hint = "" if token else " (set WAZA_API_KEY: `waza admin create-token admin`)"
        raise _fail(f"{exc.status_code}: {_describe(exc)}{hint}") from exc
    except WazaAPIError as exc:
        raise _fail(f"{exc.status_code}: {_describe(exc)}") from exc
    except ConnectionFailed as exc:
        raise _fail(f"{exc} (set WAZA_API_URL or --url)") from exc
    finally:
        client.close()


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def resolve_model(models: ModelsAPI, key: str) -> Model:
    """A model by id, repo id or name (case-insensitive when unambiguous); an unregistered
    built-in (by key, name or repo id) is registered first."""
    model_id = _uuid(key)
    if model_id is not None:
        return models.get_model(model_id)
    known = [m for m in models.list_models() if m.id is not None]
    low = key.casefold()
    for matches in (
        lambda m: m.repo_modelId == key,
        lambda m: m.name == key,
        lambda m: low in {m.name.casefold(), (m.repo_modelId or "").casefold()},
    ):
        found = [m for m in known if matches(m)]
        if len(found) == 1:
            return found[0]
        if found:
            ids = ", ".join(f"{m.name} {m.id}" for m in found)
            raise _fail(f"{key!r} names several models ({ids}): give the model id")
    for b in models.builtins():
        if low in {b.key.casefold(), b.name.casefold(), b.repo_modelId.casefold()}:
            if not b.installed:
                raise _fail(f"built-in model {b.name} is not installed here: {b.reason}")
            err.print(f"registering the built-in model {escape(b.name)} …")
            return models.add_builtin(b.key)
    raise _fail(
        f"no model {key!r}: `waza models list` shows the models, `waza models builtin` "
        "the built-ins"
    )


def _config_id(models: ModelsAPI, model: Model, key: str | None) -> str | None:
    if key is None:
        return None
    try:
        return str(uuid.UUID(key))
    except ValueError:
        assert model.id is not None
        for config in models.configs(model.id):
            if config.name == key:
                return str(config.id)
    raise _fail(f"model {model.name} has no config {key!r} (`waza models configs` lists them)")


def _replicas(dep: UIModelDeployment) -> str:
    live = sum(1 for i in dep.instances if i.status == "DEPLOYED")
    return f"{live}/{max(dep.starting_copies, dep.min_copies, 1)}"


def follow(serving: ServingAPI, dep_id: uuid.UUID, timeout: float) -> UIModelDeployment:
    """Show the deployment's progress until DEPLOYED; exit non-zero with its error otherwise."""
    started = time.monotonic()
    with err.status(f"deployment {dep_id}: requested") as spinner:

        def on_status(dep: UIModelDeployment) -> None:
            step = STEPS.get(dep.status, dep.status.lower())
            err.print(f"  {time.monotonic() - started:5.1f} s  {dep.status:<13} {step}")
            spinner.update(f"{dep.m_name}: {step} ({dep.status})")

        try:
            dep = serving.wait(dep_id, timeout, on_status=on_status)
        except DeploymentFailed as exc:
            status = exc.deployment.status
            raise _fail(f"deployment {dep_id} {status}: [{exc.code}] {exc.reason}") from exc
        except TimeoutError as exc:
            raise _fail(f"{exc}; it goes on: `waza deployment show {dep_id}`") from exc
        except KeyboardInterrupt:
            err.print(
                f"still deploying in the background: `waza deployment stop {dep_id}` stops it"
            )
            raise typer.Exit(130) from None
    device = dep.resources.get("device") or "cpu"
    err.print(
        f"[green]deployed[/] {escape(dep.m_name)} in {time.monotonic() - started:.1f} s "
        f"({dep.engine_name} on {device}, {_replicas(dep)} replicas)"
    )
    return dep


def _print_deployment(serving: ServingAPI, dep: UIModelDeployment) -> None:
    out.print(f"[bold]{escape(dep.m_name)}[/]  {dep.id}  [bold]{dep.status}[/]")
    rows: list[tuple[str, Any]] = [
        ("model id", dep.m_id),
        ("config id", dep.m_config_id),
        ("engine", dep.engine_name),
        ("resources", ", ".join(f"{k}={v}" for k, v in dep.resources.items() if v is not None)),
        ("replicas", _replicas(dep)),
        ("autoscaling", f"{dep.min_copies}..{dep.max_copies}" if dep.autoscaling else None),
        ("requested", dep.requested_at),
        ("deployed", dep.deployed_at),
        ("stopped", dep.stopped_at),
        (
            "error",
            f"[{dep.last_error_code}] {dep.last_error_message}" if dep.last_error_code else None,
        ),
        ("OpenAI base URL", serving.runtime_url(dep.id)),
        ("private", "yes" if dep.private else None),
    ]
    for label, value in rows:
        if value not in (None, ""):
            out.print(f"  {label}: {escape(str(value))}")
    if dep.instances:
        table = Table("instance", "status", "node", "pid", "since", title="instances")
        for i in dep.instances:
            table.add_row(
                str(i.id), i.status or "", i.host_name or "", str(i.pid or ""), str(i.deployed_at)
            )
        out.print(table)


def _deployment_id(serving: ServingAPI, key: str) -> uuid.UUID:
    """A full deployment id, or a unique prefix of one."""
    try:
        return uuid.UUID(key)
    except ValueError:
        found = [d.id for d in serving.list() if str(d.id).startswith(key.lower())]
        if len(found) == 1:
            return found[0]
        raise _fail(f"{'several' if found else 'no'} deployments match {key!r}") from None


# ---- commands -----------------------------------------------------------------------------------
def deploy(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="Model id, name or repo id.")],
    config: Annotated[
        str | None, typer.Option(help="Config id or name (default: the model's).")
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="transformers, llamacpp, embedding or vllm.")
    ] = None,
    replicas: Annotated[int | None, typer.Option(min=1, help="Replicas to start.")] = None,
    cpus: Annotated[float | None, typer.Option(help="CPUs per replica (e.g. 0.5).")] = None,
    gpus: Annotated[
        float | None, typer.Option(help="GPUs per replica (0.5 shares a card).")
    ] = None,
    force_cpu: Annotated[bool, typer.Option("--force-cpu", help="Never use a GPU.")] = False,
    node_resource: Annotated[
        str | None, typer.Option(help="A custom Ray resource the replicas must run on.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Show progress until DEPLOYED.")] = True,
    timeout: TimeoutOption = 600.0,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Deploy a model; prints the deployment id (and its OpenAI base URL once DEPLOYED)."""
    with _session(url, token) as (serving, models):
        m = resolve_model(models, model)
        assert m.id is not None
        options: dict[str, Any] = {
            "starting_copies": replicas,
            "cpu_allocation": cpus,
            "gpu_allocation": gpus,
            "node_resource_type": node_resource,
        }
        options = {k: v for k, v in options.items() if v is not None}
        if force_cpu:
            options["force_cpu"] = True
        dep_id = serving.deploy(m.id, _config_id(models, m, config), engine, **options)
        err.print(f"deploying {escape(m.name)} as {dep_id}")
        if wait:
            follow(serving, dep_id, timeout)
            err.print(f"OpenAI base URL: {serving.runtime_url(dep_id)}")
        typer.echo(str(dep_id))


def deployments(
    model: Annotated[str | None, typer.Option(help="Only this model's (id, name or repo).")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include stopped ones.")] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List deployments (running and failed; --all also stopped ones), newest first."""
    with _session(url, token) as (serving, models):
        model_id = resolve_model(models, model).id if model else None
        found = [
            d for d in serving.list(model_id) if show_all or d.status not in ("STOPPED", "STOPPING")
        ]
    if as_json:
        typer.echo(json.dumps([d.model_dump(mode="json") for d in found], indent=2))
        return
    table = Table("id", "model", "status", "engine", "device", "replicas", "requested", "error")
    for d in found:
        table.add_row(
            str(d.id),
            d.m_name,
            d.status,
            d.engine_name,
            str(d.resources.get("device") or ""),
            _replicas(d),
            d.requested_at.strftime("%Y-%m-%d %H:%M:%S"),
            d.last_error_code or "",
        )
    out.print(table)


@deployment_app.command("show")
def show(
    deployment_id: Annotated[
        str, typer.Argument(metavar="ID", help="Deployment id (or a unique prefix).")
    ],
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show a deployment: status, resources, error, instances, OpenAI base URL."""
    with _session(url, token) as (serving, _):
        dep = serving.get(_deployment_id(serving, deployment_id))
        if as_json:
            typer.echo(json.dumps(dep.model_dump(mode="json"), indent=2))
        else:
            _print_deployment(serving, dep)


@deployment_app.command("logs")
def logs(
    deployment_id: Annotated[
        str, typer.Argument(metavar="ID", help="Deployment id (or a unique prefix).")
    ],
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C stops).")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print a deployment's lifecycle events and its replica's recent log lines."""
    with _session(url, token) as (serving, _):
        dep_id = _deployment_id(serving, deployment_id)
        if not follow_:
            for line in serving.logs(dep_id).logs:
                typer.echo(line)
            return
        lines = serving.stream_logs(dep_id)
        try:
            for line in lines:
                typer.echo(line)
        except KeyboardInterrupt:
            pass
        finally:
            lines.close()


@deployment_app.command("stop")
def stop(
    deployment_id: Annotated[
        str, typer.Argument(metavar="ID", help="Deployment id (or a unique prefix).")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Kill the replicas now (no draining).")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Stop a deployment (in-flight requests finish first unless --force)."""
    with _session(url, token) as (serving, _):
        dep_id = _deployment_id(serving, deployment_id)
        serving.stop(dep_id, force=force)
        err.print(f"stopped {dep_id} ({serving.status(dep_id)})")


@serving_app.command("status")
def status(as_json: JsonOption = False, url: UrlOption = None, token: TokenOption = None) -> None:
    """Whether Ray runs, its resources (total and free) and the active deployments."""
    with _session(url, token) as (serving, _):
        state = serving.cluster_status()
    if as_json:
        typer.echo(json.dumps(state.model_dump(mode="json"), indent=2))
        return
    colour = "green" if state.status == "running" else "yellow"
    managed = "started by waza" if state.managed else "external cluster"
    out.print(f"Ray: [{colour}]{state.status}[/] {escape(state.address or '')} ({managed})")
    if state.resources:
        table = Table("resource", "total", "free")
        for key, total in sorted(state.resources.items()):
            if key in {"CPU", "GPU", "memory"} or not key.startswith(("node:", "object_store")):
                free = state.available.get(key, 0.0)
                table.add_row(key, f"{total:g}", f"{free:g}")
        out.print(table)
    out.print(f"active deployments: {state.deployments_active}")


@serving_app.command("usage")
def usage(
    all_users: Annotated[bool, typer.Option("--all-users", help="Everyone's (admin).")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Runtime token usage per deployment."""
    with _session(url, token) as (serving, _):
        rows = serving.usage(all_users=all_users)
    table = Table("deployment", "user", "requests", "prompt tok", "completion tok", "tok/s")
    for r in rows:
        speed = f"{r.avg_tokens_per_s:.1f}" if r.avg_tokens_per_s else ""
        table.add_row(
            str(r.deployment_id),
            str(r.user_id),
            str(r.requests),
            str(r.prompt_tokens),
            str(r.completion_tokens),
            speed,
        )
    out.print(table)


def _chat_target(
    serving: ServingAPI, models: ModelsAPI, key: str, timeout: float
) -> UIModelDeployment:
    """The deployment to talk to: the one named, else a DEPLOYED one of the model named, else
    one being deployed, else a new one (with progress)."""
    dep: UIModelDeployment | None = None
    dep_id = _uuid(key)
    if dep_id is not None:
        with contextlib.suppress(NotFoundError):  # else a model id
            dep = serving.get(dep_id)
    if dep is not None:
        if dep.status in IN_PROGRESS:
            return follow(serving, dep.id, timeout)
        if dep.status not in SERVING:
            raise _fail(f"deployment {dep.id} is {dep.status}: `waza chat {dep.m_name}` redeploys")
        return dep
    m = resolve_model(models, key)
    assert m.id is not None
    found = serving.list(m.id)
    for wanted in (SERVING, IN_PROGRESS):
        for d in found:
            if d.status in wanted:
                return d if d.status in SERVING else follow(serving, d.id, timeout)
    err.print(f"{escape(m.name)} is not deployed: deploying it")
    return follow(serving, serving.deploy(m.id), timeout)


def _answer(
    serving: ServingAPI, dep_id: uuid.UUID, messages: list[dict[str, Any]], **kw: Any
) -> str:
    """Stream one answer to stdout and return its text (Ctrl-C stops it early)."""
    pieces: list[str] = []
    stream = serving.chat(dep_id, messages, stream=True, **kw)
    try:
        for piece in stream:
            pieces.append(piece)
            sys.stdout.write(piece)
            sys.stdout.flush()
    except KeyboardInterrupt:
        err.print("[yellow](interrupted)[/]")
    finally:
        stream.close()
        sys.stdout.write("\n")
        sys.stdout.flush()
    return "".join(pieces)


def chat(
    target: Annotated[
        str,
        typer.Argument(metavar="MODEL_OR_DEPLOYMENT", help="Model id/name/repo or deployment id."),
    ],
    prompt: Annotated[
        str | None,
        typer.Argument(metavar="[PROMPT]", help="One question; none: a conversation."),
    ] = None,
    system: Annotated[str | None, typer.Option(help="A system message.")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Longest answer in tokens.")] = None,
    temperature: Annotated[
        float | None, typer.Option(min=0.0, help="Sampling temperature.")
    ] = None,
    timeout: TimeoutOption = 600.0,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Chat with a model (deployed first when it is not): one answer to PROMPT, or a
    conversation read line by line from the terminal (/exit or Ctrl-D ends it, /reset forgets)."""
    sampling = {
        k: v
        for k, v in {"max_tokens": max_tokens, "temperature": temperature}.items()
        if v is not None
    }
    with _session(url, token) as (serving, models):
        dep = _chat_target(serving, models, target, timeout)
        start = [{"role": "system", "content": system}] if system else []
        if prompt is not None:
            _answer(serving, dep.id, [*start, {"role": "user", "content": prompt}], **sampling)
            return
        err.print(
            f"chatting with {escape(dep.m_name)} ({dep.id}); /exit or Ctrl-D ends, /reset forgets"
        )
        messages = list(start)
        while True:
            typer.echo("you> ", err=True, nl=False)
            try:
                line = sys.stdin.readline()
            except KeyboardInterrupt:
                break
            if not line:
                break
            text = line.strip()
            if text in ("/exit", "/quit"):
                break
            if text == "/reset":
                messages = list(start)
                continue
            if not text:
                continue
            messages.append({"role": "user", "content": text})
            try:
                answer = _answer(serving, dep.id, messages, **sampling)
            except WazaAPIError as exc:
                if exc.status_code in (401, 403, 404, 409):
                    raise
                err.print(f"[red]error[/] {escape(_describe(exc))}")
                messages.pop()
                continue
            messages.append({"role": "assistant", "content": answer})
