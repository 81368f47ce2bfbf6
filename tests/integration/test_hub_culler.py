"""Idle culling: `jupyterhub-idle-culler` stops idle notebook servers, sparing busy kernels.

A stack with a short idle timeout and two users' servers: one with a kernel computing quietly
(no output), one untouched. The untouched server is culled; the busy one keeps running,
because `waza.hub.activity` reports its busy kernel as activity to the hub.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.hubstack import HubStack, api_login, create_user, hub_login, hub_token, start_stack

pytestmark = pytest.mark.timeout(900)
IDLE_TIMEOUT = 12


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStack]:
    started = start_stack(
        tmp_path_factory.mktemp("culler"),
        extra_env={
            "WAZA_HUB_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
            "WAZA_HUB_CULL_EVERY": "2",
            "WAZA_BUSY_CHECK_SECONDS": "1",
            "JUPYTERHUB_ACTIVITY_INTERVAL": "2",
            "WAZA_HUB_SPAWN_TIMEOUT": "400",  # two Lab servers at once on a loaded CI machine
        },
    )
    try:
        yield started
    finally:
        started.stop()


def server_of(admin: httpx.Client, user: str) -> dict[str, object]:
    servers = admin.get(f"/hub/api/users/{user}").json().get("servers", {})
    return dict(servers.get("", {}))


def spawn_log(stack: HubStack) -> str:
    """The hub's log lines about starting servers (the tail is all polling otherwise)."""
    words = ("spawn", "server", "timeout", "error", "traceback")
    lines = [line for line in stack.log().splitlines() if any(w in line.lower() for w in words)]
    return "\n".join(line for line in lines if "GET /hub/api/users" not in line)[-4000:]


def execute_quietly(url: str, token: str, user: str, code: str) -> None:
    """Start a kernel on ``user``'s server and send it ``code`` (no waiting for the result)."""
    headers = {"Authorization": f"token {token}"}
    kernel = httpx.post(f"{url}/user/{user}/api/kernels", headers=headers, json={}, timeout=30)
    assert kernel.status_code == 201, kernel.text
    ws_url = (
        url.replace("http", "ws", 1) + f"/user/{user}/api/kernels/{kernel.json()['id']}/channels"
    )
    session = uuid.uuid4().hex
    message = {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "session": session,
            "username": user,
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False},
    }  # fmt: skip
    with connect(ws_url, additional_headers=headers, open_timeout=30) as ws:
        ws.send(json.dumps(message))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the kernel says it is busy with our request
            reply = json.loads(ws.recv(timeout=30))
            state = reply.get("content", {}).get("execution_state")
            if (
                state == "busy"
                and reply["parent_header"].get("msg_id") == message["header"]["msg_id"]
            ):
                return
    pytest.fail("the kernel never got busy")


def test_idle_servers_are_culled_and_busy_kernels_spared(stack: HubStack) -> None:
    headers = api_login(stack.url, "admin", stack.admin_password)
    for user in ("quiet", "worker"):
        hub_login(stack.url, user, create_user(stack.url, headers, user))  # the hub knows them
    admin, _ = hub_login(stack.url, "admin", stack.admin_password)
    xsrf = {"X-XSRFToken": admin.cookies.get("_xsrf", "")}
    for user in ("quiet", "worker"):
        reply = admin.post(f"/hub/api/users/{user}/server", headers=xsrf)
        assert reply.status_code in {201, 202}, reply.text
    deadline, ready = time.monotonic() + 420, set()  # two Lab servers: slow when loaded
    while ready != {"quiet", "worker"}:  # "quiet" may be culled again before "worker" is up
        for user in {"quiet", "worker"} - ready:
            server = server_of(admin, user)
            if not server and user == "quiet" and "Culling server quiet" in stack.log():
                ready.add(user)  # it started, sat idle and was culled before a poll saw it ready
                continue
            assert server, f"{user}'s server failed to start: {spawn_log(stack)}"
            if server.get("ready"):
                ready.add(user)
        assert time.monotonic() < deadline, spawn_log(stack)
        time.sleep(0.5)

    token = hub_token(admin, "admin", ["access:servers"])
    execute_quietly(stack.url, token, "worker", "import time\ntime.sleep(600)")

    deadline = time.monotonic() + IDLE_TIMEOUT * 6
    while server_of(admin, "quiet"):
        assert time.monotonic() < deadline, "the idle server was not culled"
        time.sleep(1)
    assert "Culling server quiet" in stack.log() or "culling" in stack.log().lower()
    # Well past the timeout the busy server is still there, with fresh activity.
    time.sleep(IDLE_TIMEOUT * 1.5)
    worker = server_of(admin, "worker")
    assert worker.get("ready"), stack.log()[-3000:]
