"""App Garden routes in process, with the process runtime supervising real app processes in the
API process (``WAZA_APPS_PLACEMENT=local``: no Ray) and the file route provider.

The apps are tiny real processes (``python -m http.server`` or a script that crashes); the Ray
placement, Traefik and the browser are covered by ``tests/e2e/test_apps_browser.py``.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, create_user, login, running_app
from waza.services.logger.patterns import PATTERNS

HTTP_SERVER = "['{python}', '-m', 'http.server', '{port}', '--bind', '{host}']"
CRASH = "['{python}', '-c', 'print(\"starting\"); raise RuntimeError(\"boom\")']"
SESSION_TTL = 2.0


def command_template(command: str, **process: Any) -> str:
    extra = "".join(f"\n    {k}: {v}" for k, v in process.items())
    return f"x-waza:\n  process:\n    kind: command\n    command: {command}{extra}\n"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("apps")
    with running_app(
        home,
        apps_placement="local",
        apps_router="file",
        apps_session_ttl=SESSION_TTL,
        apps_start_timeout=20,
        apps_garden_url="http://127.0.0.1:9/catalog.json",  # nothing listens: offline
    ) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def admin(client: TestClient) -> dict[str, str]:
    return login(client, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def alice(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    return create_user(client, admin, "alice")


@pytest.fixture(scope="module")
def bob(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    return create_user(client, admin, "bob")


@pytest.fixture(scope="module")
def make_template(client: TestClient, admin: dict[str, str]) -> Callable[..., str]:
    def make(compose_yml: str, **fields: Any) -> str:
        body = {"name": f"t-{uuid.uuid4().hex[:8]}", "compose_yml": compose_yml, **fields}
        reply = client.post("/api/apps/app_templates", json=body, headers=admin)
        assert reply.status_code == 200, reply.text
        return str(reply.json()["id"])

    return make


@pytest.fixture(scope="module")
def server_template(make_template: Callable[..., str]) -> str:
    return make_template(command_template(HTTP_SERVER), visibility="public")


def routes_dir(client: TestClient) -> Path:
    home: Path = client.app.state.waza.settings.home  # type: ignore[attr-defined]
    return home / "hub" / "routes"


def deploy(client: TestClient, headers: dict[str, str], template_id: str, **body: Any) -> Any:
    return client.post(
        "/api/apps/deploy_app",
        json={"name": "app", "template_id": template_id, **body},
        headers=headers,
    )


def wait_status(
    client: TestClient, headers: dict[str, str], dep_id: str, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dep: dict[str, Any] = client.get(f"/api/apps/deployment/{dep_id}", headers=headers).json()
        if dep["status"] in ("DEPLOYED", "FAILED", "STOPPED"):
            return dep
        time.sleep(0.1)
    raise AssertionError(f"app {dep_id} stuck: {dep}")


@pytest.fixture(scope="module")
def alice_app(client: TestClient, alice: dict[str, str], server_template: str) -> dict[str, Any]:
    reply = deploy(client, alice, server_template, env_vars={"GREETING": "{app_path_url}"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "REQUESTED"
    dep = wait_status(client, alice, reply.json()["id"])
    assert dep["status"] == "DEPLOYED", dep
    return dep


# --- templates and garden -----------------------------------------------------------------------
def test_builtin_templates_always_carry_visibility_and_risk_tier(
    client: TestClient, alice: dict[str, str]
) -> None:
    templates = client.get("/api/apps/app_templates", headers=alice).json()
    names = {t["name"] for t in templates}
    assert {"waza-chat", "waza-rag", "waza-voila"} <= names
    for tpl in templates:
        assert tpl["visibility"] in ("private", "team", "public")
        assert tpl["risk_tier"] in (0, 1, 2)
        assert tpl["source_type"] in ("kamiwaza", "user_repo", "public")
    chat = next(t for t in templates if t["name"] == "waza-chat")
    assert chat["verified"] and chat["source_type"] == "kamiwaza"
    one = client.get(f"/api/apps/app_templates/{chat['id']}", headers=alice)
    assert one.status_code == 200 and one.json()["compose_yml"] == chat["compose_yml"]


def test_only_admins_change_templates_and_private_ones_stay_private(
    client: TestClient, admin: dict[str, str], alice: dict[str, str]
) -> None:
    body = {"name": "mine", "compose_yml": command_template(HTTP_SERVER)}
    denied = client.post("/api/apps/app_templates", json=body, headers=alice)
    assert denied.status_code == 403 and "admins" in denied.json()["detail"]
    created = client.post("/api/apps/app_templates", json=body, headers=admin)
    assert created.status_code == 200
    tpl = created.json()
    assert tpl["visibility"] == "private" and tpl["risk_tier"] == 0
    hidden = client.get(f"/api/apps/app_templates/{tpl['id']}", headers=alice)
    assert hidden.status_code == 404
    again = client.post("/api/apps/app_templates", json=body, headers=admin)
    assert again.status_code == 409
    changed = client.put(
        f"/api/apps/app_templates/{tpl['id']}",
        json={"visibility": "public", "description": "now public"},
        headers=admin,
    )
    assert changed.status_code == 200 and changed.json()["visibility"] == "public"
    assert client.get(f"/api/apps/app_templates/{tpl['id']}", headers=alice).status_code == 200
    gone = client.delete(f"/api/apps/app_templates/{tpl['id']}", headers=admin)
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert client.get(f"/api/apps/app_templates/{tpl['id']}", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("compose", "needle"),
    [
        ("services: [", "not valid YAML"),
        ("just text", "mapping"),
        ("services: {}\n", "nothing to run"),
        ("x-waza:\n  process:\n    kind: fastapi\n", "module:attribute"),
        ("x-waza:\n  process:\n    kind: rocket\n", "kind must be one of"),
        ("x-waza:\n  required: [a-b]\n  process: {command: x}\n", "x-waza.required"),
    ],
)
def test_bad_compose_documents_get_400(
    client: TestClient, admin: dict[str, str], compose: str, needle: str
) -> None:
    body = {"name": f"bad-{uuid.uuid4().hex[:6]}", "compose_yml": compose}
    reply = client.post("/api/apps/app_templates", json=body, headers=admin)
    assert reply.status_code == 400, reply.text
    assert needle in reply.json()["detail"]


def test_garden_catalog_and_an_offline_remote_catalog(
    client: TestClient, admin: dict[str, str], alice: dict[str, str]
) -> None:
    apps = client.get("/api/apps/remote/apps", headers=alice).json()
    assert {a["name"] for a in apps} >= {"waza-chat", "waza-rag", "waza-voila"}
    for app in apps:
        assert app["compose_yml"] and app["version"] and app["description"]
    garden = client.get("/api/apps/kamiwaza_garden", headers=alice).json()
    assert [a["name"] for a in garden] == [a["name"] for a in apps]
    status = client.get("/api/apps/garden/status", headers=alice).json()
    assert status["garden_apps_available"] is True and status["missing_apps"] == []
    remote = client.get("/api/apps/remote/status", headers=alice).json()
    assert remote["cache_status"] == "offline"
    assert "unreachable" in remote["message"] and remote["remote_url"].endswith("catalog.json")
    assert client.post("/api/apps/garden/import", headers=alice).status_code == 403
    imported = client.post("/api/apps/garden/import", headers=admin).json()
    assert imported == {
        "imported_count": 0,
        "updated_count": 0,
        "total_apps": len(apps),
        "errors": [],
        "success": True,
    }


def test_image_routes_answer_for_the_process_runtime(
    client: TestClient, alice: dict[str, str], server_template: str
) -> None:
    status = client.get(f"/api/apps/images/status/{server_template}", headers=alice).json()
    assert status["images"] == [] and status["all_images_pulled"] is True
    assert status["runtime"] == "process" and "no images" in status["message"]
    pulled = client.post(f"/api/apps/images/pull/{server_template}", headers=alice)
    assert pulled.json() == {"message": "No images to pull", "images": []}
    missing = client.get(f"/api/apps/images/status/{uuid.uuid4()}", headers=alice)
    assert missing.status_code == 404


# --- deploy validation ----------------------------------------------------------------------------
def test_bogus_or_missing_template_is_400(client: TestClient, alice: dict[str, str]) -> None:
    bogus = deploy(client, alice, str(uuid.uuid4()))
    assert bogus.status_code == 400 and "Unknown app template" in bogus.json()["detail"]
    missing = client.post("/api/apps/deploy_app", json={"name": "x"}, headers=alice)
    assert missing.status_code == 400 and "template_id is required" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("OPENAI_API_KEY", "reserved"),
        ("PORT", "reserved"),
        ("WAZA_API_URL", "reserved"),
        ("LD_PRELOAD", "not allowed"),
        ("PYTHONPATH", "not allowed"),
        ("bad-key", "not a valid"),
    ],
)
def test_reserved_and_unsafe_env_keys_cannot_be_set(
    client: TestClient, alice: dict[str, str], server_template: str, key: str, needle: str
) -> None:
    reply = deploy(client, alice, server_template, env_vars={key: "x"})
    assert reply.status_code == 400, reply.text
    assert key in reply.json()["detail"] and needle in reply.json()["detail"]


def test_chat_app_without_a_deployed_model_is_400(
    client: TestClient, alice: dict[str, str]
) -> None:
    chat = next(
        t
        for t in client.get("/api/apps/app_templates", headers=alice).json()
        if t["name"] == "waza-chat"
    )
    reply = deploy(client, alice, chat["id"])
    assert reply.status_code == 400 and "deployed chat model" in reply.json()["detail"]
    named = deploy(client, alice, chat["id"], env_vars={"MODEL_DEPLOYMENT": str(uuid.uuid4())})
    assert named.status_code == 400 and "No model deployment" in named.json()["detail"]


def test_rag_app_needs_a_collection(client: TestClient, alice: dict[str, str]) -> None:
    rag = next(
        t
        for t in client.get("/api/apps/app_templates", headers=alice).json()
        if t["name"] == "waza-rag"
    )
    for env in ({}, {"COLLECTION": "  "}):
        reply = deploy(client, alice, rag["id"], env_vars=env)
        assert reply.status_code == 400, reply.text
        assert "COLLECTION is required" in reply.json()["detail"]


def test_voila_notebook_must_be_inside_the_users_folders(
    client: TestClient, alice: dict[str, str]
) -> None:
    voila = next(
        t
        for t in client.get("/api/apps/app_templates", headers=alice).json()
        if t["name"] == "waza-voila"
    )
    empty = deploy(client, alice, voila["id"])
    assert empty.status_code == 400 and "NOTEBOOK is required" in empty.json()["detail"]
    outside = deploy(client, alice, voila["id"], env_vars={"NOTEBOOK": "/etc/hostname"})
    assert outside.status_code == 403


# --- a running app: its route, its gate, who may stop it ----
def test_deployed_app_runs_with_platform_environment_and_a_route(
    client: TestClient, alice: dict[str, str], alice_app: dict[str, Any]
) -> None:
    inst = alice_app["instances"][0]
    assert inst["status"] == "RUNNING" and inst["listen_port"] and inst["container_id"]
    page = httpx.get(f"http://127.0.0.1:{inst['listen_port']}/", timeout=10)
    assert page.status_code == 200  # the real app answers on its port
    assert alice_app["access_path"] == f"/apps/{alice_app['id']}/"
    assert alice_app["env_vars"] == {"GREETING": "{app_path_url}"}  # as given; no secrets
    route = yaml.safe_load((routes_dir(client) / f"app-{alice_app['id']}.yaml").read_text())
    (router,) = route["http"]["routers"].values()
    assert f"PathPrefix(`/apps/{alice_app['id']}/`)" in router["rule"]
    (service,) = route["http"]["services"].values()
    assert service["loadBalancer"]["servers"] == [
        {"url": f"http://127.0.0.1:{inst['listen_port']}"}
    ]
    auth = next(m for m in route["http"]["middlewares"].values() if "forwardAuth" in m)
    assert auth["forwardAuth"]["address"].endswith(f"/api/apps/auth/{alice_app['id']}")
    listed = client.get("/api/apps/deployments", headers=alice).json()
    assert [d["id"] for d in listed] == [alice_app["id"]]
    status = client.get(f"/api/apps/deployment/{alice_app['id']}/status", headers=alice)
    assert status.json() == "DEPLOYED"
    instances = client.get(
        "/api/apps/instances", params={"deployment_id": alice_app["id"]}, headers=alice
    ).json()
    assert [i["id"] for i in instances] == [inst["id"]]
    logs = client.get(f"/api/apps/deployment/{alice_app['id']}/logs", headers=alice).json()
    assert any("ready on 127.0.0.1" in line for line in logs["lines"])


def test_forward_auth_lets_only_the_owner_and_admins_in(
    client: TestClient,
    admin: dict[str, str],
    alice: dict[str, str],
    bob: dict[str, str],
    alice_app: dict[str, Any],
) -> None:
    path = f"/api/apps/auth/{alice_app['id']}"
    client.cookies.clear()
    assert client.get(path).status_code == 401
    browser = client.get(
        path,
        headers={"accept": "text/html", "x-forwarded-uri": f"/apps/{alice_app['id']}/x?y=1"},
        follow_redirects=False,
    )
    assert browser.status_code == 302
    assert browser.headers["location"].startswith(
        f"http://127.0.0.1:7777/api/apps/open/{alice_app['id']}?next="
    )
    owner = client.get(
        path, headers={**alice, "cookie": "theme=dark; access_token=secret; waza_app_x=1"}
    )
    assert owner.status_code == 200
    assert owner.headers["x-waza-user"] == "alice"
    assert owner.headers["cookie"] == "theme=dark"  # platform credentials never reach the app
    assert "authorization" not in owner.headers
    assert client.get(path, headers=admin).headers["x-waza-user"] == "admin"
    assert client.get(path, headers=bob).status_code == 403
    # the browser pass: a cookie scoped to the app's path, accepted by the gate
    opened = client.get(
        f"/api/apps/open/{alice_app['id']}",
        params={"next": f"/apps/{alice_app['id']}/page"},
        headers=alice,
        follow_redirects=False,
    )
    assert opened.status_code == 302 and opened.headers["location"].endswith("/page")
    set_cookie = opened.headers["set-cookie"]
    assert f"Path=/apps/{alice_app['id']}/" in set_cookie and "HttpOnly" in set_cookie
    name, _, value = set_cookie.split(";")[0].partition("=")
    client.cookies.clear()
    with_pass = client.get(path, headers={"cookie": f"{name}={value}"})
    assert with_pass.status_code == 200 and with_pass.headers["x-waza-user"] == "alice"
    other = client.get(f"/api/apps/auth/{uuid.uuid4()}", headers={"cookie": f"{name}={value}"})
    assert other.status_code == 401  # the pass is for one app only


def test_a_user_cannot_stop_or_see_another_users_app(
    client: TestClient, bob: dict[str, str], alice_app: dict[str, Any]
) -> None:
    dep_id = alice_app["id"]
    assert client.delete(f"/api/apps/deployment/{dep_id}", headers=bob).status_code == 403
    assert client.get(f"/api/apps/deployment/{dep_id}", headers=bob).status_code == 403
    assert client.get("/api/apps/deployments", headers=bob).json() == []
    assert client.get("/api/apps/instances", headers=bob).json() == []


def test_stop_removes_the_route_and_stopping_twice_is_harmless(
    client: TestClient, alice: dict[str, str], server_template: str
) -> None:
    dep = wait_status(client, alice, deploy(client, alice, server_template).json()["id"])
    port = dep["instances"][0]["listen_port"]
    route = routes_dir(client) / f"app-{dep['id']}.yaml"
    assert route.exists()
    assert client.delete(f"/api/apps/deployment/{dep['id']}", headers=alice).json() is True
    assert not route.exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert client.delete(f"/api/apps/deployment/{dep['id']}", headers=alice).json() is True
    after = client.get(f"/api/apps/deployment/{dep['id']}", headers=alice).json()
    assert after["status"] == "STOPPED" and after["instances"][0]["status"] == "STOPPED"
    assert client.get(f"/api/apps/auth/{dep['id']}", headers=alice).status_code == 503
    purged = client.delete(f"/api/apps/deployment/{dep['id']}/purge", headers=alice)
    assert purged.json() == {"purged": True, "id": dep["id"]}
    assert client.get(f"/api/apps/deployment/{dep['id']}", headers=alice).status_code == 404
    unknown = client.delete(f"/api/apps/deployment/{uuid.uuid4()}/purge", headers=alice)
    assert unknown.status_code == 404


# --- failures -------------------------------------------------------------------------------------
def test_a_crashing_app_is_failed_with_its_log_pattern(
    client: TestClient, alice: dict[str, str], make_template: Callable[..., str]
) -> None:
    tpl = make_template(command_template(CRASH), visibility="public")
    dep = wait_status(client, alice, deploy(client, alice, tpl).json()["id"])
    assert dep["status"] == "FAILED" and dep["error_code"] == "APP_EXITED"
    assert "log patterns: traceback" in dep["error_message"]
    assert "RuntimeError: boom" in dep["error_message"]
    assert not (routes_dir(client) / f"app-{dep['id']}.yaml").exists()
    logs = client.get(f"/api/apps/deployment/{dep['id']}/logs", headers=alice).json()
    assert any("RuntimeError: boom" in line for line in logs["lines"])
    # one analysis: the app's patterns are the logger service's, for the same log file
    logger = client.get(
        f"/api/logger/deployments/app_garden/{dep['id']}/patterns", headers=alice
    ).json()
    assert logs["patterns_detected"] == logger["patterns_detected"]
    assert set(logs["patterns_detected"]) == set(PATTERNS)
    found = [name for name, hit in logs["patterns_detected"].items() if hit]
    assert found == ["traceback"]
    assert f"(log patterns: {', '.join(found)})" in dep["error_message"]
    assert client.delete(f"/api/apps/deployment/{dep['id']}", headers=alice).json() is True


def test_a_taken_preferred_port_is_replaced_and_an_app_stuck_on_one_fails(
    client: TestClient, alice: dict[str, str], make_template: Callable[..., str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        moved = make_template(command_template(HTTP_SERVER, port=taken), visibility="public")
        dep = wait_status(client, alice, deploy(client, alice, moved).json()["id"])
        assert dep["status"] == "DEPLOYED"
        assert dep["instances"][0]["listen_port"] != taken
        logs = client.get(f"/api/apps/deployment/{dep['id']}/logs", headers=alice).json()
        assert any(f"preferred port {taken} is in use" in line for line in logs["lines"])
        assert logs["patterns_detected"]["port_in_use"] is False  # a note, not the app's failure
        client.delete(f"/api/apps/deployment/{dep['id']}", headers=alice)

        stuck_cmd = f"['{{python}}', '-m', 'http.server', '{taken}', '--bind', '127.0.0.1']"
        stuck = make_template(command_template(stuck_cmd), visibility="public")
        dep = wait_status(client, alice, deploy(client, alice, stuck).json()["id"])
        assert dep["status"] == "FAILED" and dep["error_code"] == "PORT_IN_USE"
        assert "port_in_use" in dep["error_message"]
        logs = client.get(f"/api/apps/deployment/{dep['id']}/logs", headers=alice).json()
        assert sum("start attempt" in line for line in logs["lines"]) == 3
        assert logs["patterns_detected"]["port_in_use"] is True


def test_a_process_that_dies_later_is_marked_failed(
    client: TestClient, alice: dict[str, str], server_template: str
) -> None:
    import psutil

    dep = wait_status(client, alice, deploy(client, alice, server_template).json()["id"])
    pid = int(dep["instances"][0]["container_id"].removeprefix("pid:"))
    psutil.Process(pid).kill()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        now = client.get(f"/api/apps/deployment/{dep['id']}", headers=alice).json()
        if now["status"] == "FAILED":
            break
        time.sleep(0.2)
    assert now["status"] == "FAILED" and now["error_code"] == "APP_EXITED"
    assert not (routes_dir(client) / f"app-{dep['id']}.yaml").exists()


# --- ephemeral sessions ---------------------------------------------------------------------------
def test_bogus_session_tokens_get_401(client: TestClient) -> None:
    client.cookies.clear()
    for route in ("heartbeat", "end"):
        reply = client.post(f"/api/apps/sessions/{route}", headers={"X-App-Session-Token": "bogus"})
        assert reply.status_code == 401
        assert reply.json() == {"detail": "Invalid session token"}
    assert client.post("/api/apps/sessions/heartbeat").status_code == 401


def test_an_ephemeral_app_is_removed_when_its_session_ends(
    client: TestClient, alice: dict[str, str], server_template: str
) -> None:
    reply = deploy(client, alice, server_template, ephemeral=True).json()
    token = reply["session_token"]
    assert reply["ephemeral"] is True and token
    beat = client.post("/api/apps/sessions/heartbeat", headers={"X-App-Session-Token": token})
    assert beat.status_code == 200 and beat.json()["deployment_id"] == reply["id"]
    dep = wait_status(client, alice, reply["id"])
    assert dep["status"] == "DEPLOYED" and dep["session_token"] is None  # shown once
    port = dep["instances"][0]["listen_port"]
    ended = client.post("/api/apps/sessions/end", headers={"X-App-Session-Token": token})
    assert ended.status_code == 200 and ended.json()["ended"] is True
    assert client.get(f"/api/apps/deployment/{reply['id']}", headers=alice).status_code == 404
    assert not (routes_dir(client) / f"app-{reply['id']}.yaml").exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    again = client.post("/api/apps/sessions/heartbeat", headers={"X-App-Session-Token": token})
    assert again.status_code == 401


def test_an_ephemeral_app_without_heartbeats_times_out(
    client: TestClient, alice: dict[str, str], server_template: str
) -> None:
    reply = deploy(client, alice, server_template, ephemeral=True).json()
    deadline = time.monotonic() + SESSION_TTL + 10
    while time.monotonic() < deadline:
        if client.get(f"/api/apps/deployment/{reply['id']}", headers=alice).status_code == 404:
            break
        time.sleep(0.25)
    else:
        raise AssertionError("the ephemeral app outlived its session")
    config = client.get("/api/apps/config/ephemeral_forced", headers=alice).json()
    assert config == {"ephemeral_forced": False}


def test_looking_up_an_app_on_ray_never_starts_a_cluster(tmp_path: Path) -> None:
    """Logs, status and stop of an app under the Ray placement, with no Ray cluster up, answer
    at once from what is there (nothing) instead of starting a local Ray head to ask."""
    from waza.services.apps.runtimes.process import ProcessRuntime
    from waza.services.serving.ray_cluster import RayCluster
    from waza.settings import Settings

    cluster = RayCluster(Settings(home=tmp_path))  # type: ignore[call-arg]
    runtime = ProcessRuntime("ray", connect_ray=lambda start: cluster.connect(start=start))
    started = time.monotonic()
    assert runtime.logs("waza-app-gone") == []
    assert runtime.observe("waza-app-gone").state == "missing"
    assert runtime.stop("waza-app-gone") is False
    assert time.monotonic() - started < 5
    assert cluster.running_address() is None and not cluster.state_file.exists()
