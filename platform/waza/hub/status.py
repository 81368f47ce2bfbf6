"""`waza status`: what of the recorded stack runs, probed from outside.

Each component is checked the way a user reaches it: the hub and the API through Traefik's
public port, the API process directly, Traefik's own API (routers it serves), and the hub's
REST API (with the read-only ``waza-stack`` token) for services and single-user servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from waza.hub import state as stack_state
from waza.hub.state import StackState


@dataclass
class Component:
    name: str
    ok: bool
    detail: str


@dataclass
class StackStatus:
    running: bool
    state: StackState | None = None
    components: list[Component] = field(default_factory=list)
    servers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.running and all(c.ok for c in self.components)


def _get(http: httpx.Client, url: str, **kwargs: Any) -> httpx.Response | None:
    try:
        return http.get(url, **kwargs)
    except httpx.HTTPError:
        return None


def _component(name: str, reply: httpx.Response | None, detail: str) -> Component:
    if reply is None:
        return Component(name, False, "no answer")
    if reply.status_code != 200:
        return Component(name, False, f"HTTP {reply.status_code}")
    return Component(name, True, detail)


def probe(state: StackState, timeout: float = 3.0) -> StackStatus:
    """Check every piece of a recorded stack."""
    result = StackStatus(running=stack_state.alive(state.hub_pid), state=state)
    hub_auth = {"Authorization": f"token {state.stack_token}"}
    with httpx.Client(timeout=timeout) as http:
        reply = _get(http, state.url + "/hub/api/")
        version = reply.json().get("version", "?") if reply is not None and reply.is_success else ""
        result.components.append(_component("hub", reply, f"JupyterHub {version}"))

        reply = _get(http, state.url + "/api/ping")
        result.components.append(_component("api (public /api)", reply, state.url + "/api"))
        reply = _get(http, state.api_url + "/api/health")
        detail = ""
        if reply is not None and reply.is_success:
            body = reply.json()
            checks = ", ".join(f"{k} {v}" for k, v in body.get("checks", {}).items())
            detail = f"{body.get('status')} ({checks}) at {state.api_url}"
        result.components.append(_component("api process", reply, detail))

        reply = _get(
            http,
            state.traefik_api_url + "/api/http/routers",
            auth=("waza", state.traefik_api_password),
        )
        routers = len(reply.json()) if reply is not None and reply.is_success else 0
        where = f"etcd {state.etcd_url}" if state.proxy == "etcd" else "file provider"
        result.components.append(_component("traefik", reply, f"{routers} routers ({where})"))

        reply = _get(http, state.url + "/hub/api/services", headers=hub_auth)
        if reply is not None and reply.is_success:
            names = sorted(reply.json())
            result.components.append(Component("hub services", True, ", ".join(names)))
        reply = _get(
            http, state.url + "/hub/api/users", params={"state": "active"}, headers=hub_auth
        )
        if reply is not None and reply.is_success:
            for user in reply.json():
                for name, server in (user.get("servers") or {}).items():
                    result.servers.append(
                        {
                            "user": user["name"],
                            "server": name or "(default)",
                            "ready": bool(server.get("ready")),
                            "url": state.url + server.get("url", ""),
                            "last_activity": server.get("last_activity"),
                        }
                    )
    return result


def stack_status(home: Path) -> StackStatus:
    """The status of the stack recorded under ``home`` (not running when none is)."""
    recorded = stack_state.load(home)
    if recorded is None or not stack_state.alive(recorded.hub_pid):
        return StackStatus(running=False, state=recorded)
    return probe(recorded)
