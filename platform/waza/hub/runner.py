"""Start, watch and stop the whole stack: JupyterHub, which runs Traefik and the platform API.

`Stack.start` prepares the database (migrations, first admin: its generated password is
returned once), picks free loopback ports for the internal pieces, and starts JupyterHub in its
own session, so a Ctrl-C in the terminal reaches only `waza up`, which then stops the hub in
order: the hub stops its services (the API, the culler), the single-user servers and Traefik.
`waza up` is also made a child subreaper (Linux), so processes orphaned by a crashed hub are
still its descendants and `Stack.stop` ends them too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import psutil

import waza
from waza.hub import state as stack_state
from waza.hub.options import HubOptions
from waza.hub.state import StackState
from waza.settings import Settings

PR_SET_CHILD_SUBREAPER = 36
READY_PATHS = ("/hub/api/", "/api/ping", "/services/waza/api/ping")


class StackError(RuntimeError):
    """The stack could not start (or stopped on its own)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def hub_config_file(home: Path) -> Path:
    """``WAZA_HUB_CONFIG``, else ``hub_config/`` (of the checkout, or packaged in the wheel),
    else a generated one (without the page templates)."""
    explicit = os.environ.get("WAZA_HUB_CONFIG")
    if explicit:
        return Path(explicit).expanduser().resolve()
    package = Path(waza.__file__).resolve().parent
    for folder in (package.parents[1] / "hub_config", package / "hub" / "hub_config"):
        if (folder / "jupyterhub_config.py").is_file():
            return folder / "jupyterhub_config.py"
    generated = home / "hub" / "jupyterhub_config.py"
    generated.parent.mkdir(parents=True, exist_ok=True)
    generated.write_text(
        "from waza.hub.config import configure\n\nconfigure(get_config())  # noqa: F821\n"
    )
    return generated


def prepare_database(settings: Settings) -> str | None:
    """Migrate and create the first admin; returns its generated password the first time."""
    from waza.crypto import Envelope
    from waza.db import Database
    from waza.db.migrate import upgrade
    from waza.services.auth.service import AuthService
    from waza.services.auth.tokens import KeyRing

    settings.ensure_home()
    db = Database(settings.effective_database_url)
    try:
        upgrade(db)
        envelope = Envelope(settings.key_encryption_key())
        keys = KeyRing(db, envelope, settings.jwt_issuer, settings.jwt_audience)
        return AuthService(db, settings, keys).ensure_admin()
    except Exception as exc:
        raise StackError(f"cannot prepare the database {db.dialect}: {exc}") from exc
    finally:
        db.dispose()


def save_cli_profile(settings: Settings, api_url: str, ttl: int = 7 * 24 * 3600) -> Path:
    """Give this machine's CLI a token of the first admin (see `waza.client.profile`)."""
    from waza.client.profile import save_profile
    from waza.crypto import Envelope
    from waza.db import Database
    from waza.services.auth.service import AuthService
    from waza.services.auth.tokens import KeyRing

    db = Database(settings.effective_database_url)
    try:
        keys = KeyRing(db, Envelope(settings.key_encryption_key()), settings.jwt_issuer,
                       settings.jwt_audience)  # fmt: skip
        auth = AuthService(db, settings, keys)
        admin = auth.user_id_for(settings.admin_username)
        created = auth.issue_pat(
            admin, "waza up (CLI profile)", ttl, "admin", settings.jwt_audience
        )
    finally:
        db.dispose()
    return save_profile(api_url, created.token, settings.home)


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux only; elsewhere a no-op)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def end_processes(processes: list[psutil.Process], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what is left after ``timeout`` seconds."""
    processes = [p for p in {p.pid: p for p in processes}.values() if p.is_running()]
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, left = psutil.wait_procs(processes, timeout=timeout)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=5)


class Stack:
    """One stack on this machine, owned by the process that started it."""

    def __init__(self, settings: Settings, options: HubOptions) -> None:
        self.settings = settings
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None
        self.state: StackState | None = None
        self.log_path = settings.home / "logs" / "stack.log"

    @classmethod
    def plan(cls, settings: Settings, port: int = 8000, host: str = "127.0.0.1") -> Stack:
        """A stack on public ``host:port``; internal ports are free ones unless configured
        (``WAZA_HUB_PORT``, ``WAZA_TRAEFIK_API_PORT``, ``WAZA_PORT`` for the API,
        ``WAZA_ADMIN_PORT`` for the admin dashboard)."""
        base = HubOptions.from_env(settings)
        env = os.environ
        options = replace(
            base,
            public_host=host,
            public_port=port,
            hub_port=int(env.get("WAZA_HUB_PORT") or free_port()),
            traefik_api_port=int(env.get("WAZA_TRAEFIK_API_PORT") or free_port()),
            api_port=settings.port if "port" in settings.model_fields_set else free_port(),
            admin_port=int(env.get("WAZA_ADMIN_PORT") or free_port()),
            stack_token=secrets.token_hex(32),
        )
        return cls(settings, options)

    @property
    def url(self) -> str:
        return self.options.url

    def check_not_running(self) -> None:
        current = stack_state.load(self.settings.home)
        if current is not None and _is_ours(current.pid, "waza", current.started_at):
            raise StackError(f"waza is already running at {current.url} (pid {current.pid})")
        if not port_is_free(self.options.public_host, self.options.public_port):
            raise StackError(
                f"port {self.options.public_port} on {self.options.public_host} is in use "
                "(choose another with --port)"
            )

    def start(self) -> None:
        """Start JupyterHub (which starts Traefik and the API) and record the stack."""
        become_subreaper()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.options.env()}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        config = hub_config_file(self.settings.home)
        runtime = self.options.runtime_dir
        runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self.log_path.open("ab") as log:
            log.write(f"\n==== waza up {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                cwd=runtime,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        o = self.options
        self.state = StackState(
            pid=os.getpid(),
            hub_pid=self.process.pid,
            url=o.url,
            public_port=o.public_port,
            hub_port=o.hub_port,
            api_port=o.api_port,
            traefik_api_port=o.traefik_api_port,
            traefik_api_password=o.traefik_api_password,
            stack_token=o.stack_token,
            proxy=o.proxy_flavour,
            etcd_url=o.etcd_url,
            log_path=str(self.log_path),
            started_at=time.time(),
        )
        stack_state.save(self.settings.home, self.state)

    def wait_ready(
        self, timeout: float = 120.0, progress: Callable[[str], None] | None = None
    ) -> None:
        """Poll the public URL until the hub and the API answer through Traefik."""
        deadline = time.monotonic() + timeout
        pending = list(READY_PATHS)
        with httpx.Client(timeout=2.0) as http:
            while pending:
                if self.process is None or self.process.poll() is not None:
                    raise StackError(f"JupyterHub exited during start-up:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise StackError(
                        f"not ready after {timeout:.0f} s (waiting for {pending[0]}):\n"
                        f"{self.log_tail()}"
                    )
                try:
                    if http.get(self.url + pending[0]).status_code == 200:
                        pending.pop(0)
                        if progress and pending:
                            progress(pending[0])
                        continue
                except httpx.TransportError:
                    pass
                time.sleep(0.1)

    def record_ready(self, seconds: float) -> None:
        if self.state is not None:
            self.state.ready_seconds = round(seconds, 2)
            stack_state.save(self.settings.home, self.state)

    def wait(self) -> int:
        """Block until the hub exits; returns its exit status."""
        assert self.process is not None
        return self.process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the hub (it stops Traefik, services and servers), then anything left over."""
        proc = self.process
        leftovers: list[psutil.Process] = []
        if proc is not None and proc.poll() is None:
            leftovers = _descendants(proc.pid)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        leftovers += _descendants(os.getpid())  # orphans adopted as subreaper
        end_processes(leftovers)
        stack_state.remove(self.settings.home)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _is_ours(pid: int, marker: str, started_at: float) -> bool:
    """``pid`` runs, was started no later than the stack, and its command line has ``marker``
    (a recycled pid belongs to someone else)."""
    try:
        proc = psutil.Process(pid)
        return (
            proc.status() != psutil.STATUS_ZOMBIE
            and proc.create_time() <= started_at + 1
            and marker in " ".join(proc.cmdline())
        )
    except psutil.Error:
        return False


def stop_recorded(home: Path, timeout: float = 40.0) -> StackState | None:
    """`waza down`: stop the stack recorded in ``home``; returns its record (None if none)."""
    recorded = stack_state.load(home)
    if recorded is None:
        return None
    owner = recorded.pid if _is_ours(recorded.pid, "waza", recorded.started_at) else None
    if owner is not None and owner != os.getpid():
        os.kill(owner, signal.SIGTERM)  # `waza up` stops its hub and cleans up
        deadline = time.monotonic() + timeout
        while stack_state.alive(owner) and time.monotonic() < deadline:
            time.sleep(0.1)  # not our child: poll (a zombie counts as gone)
    if _is_ours(recorded.hub_pid, "jupyterhub", recorded.started_at):
        # `waza up` is gone or stuck: stop its hub and the hub's processes from here
        tree = _descendants(recorded.hub_pid)
        with contextlib.suppress(psutil.Error):
            end_processes([psutil.Process(recorded.hub_pid)], timeout=timeout)
        end_processes(tree)
    if owner is not None and owner != os.getpid() and stack_state.alive(owner):
        with contextlib.suppress(psutil.Error):
            psutil.Process(owner).kill()
    stack_state.remove(home)
    return recorded
