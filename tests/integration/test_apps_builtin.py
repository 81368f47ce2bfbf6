"""The built-in garden apps `waza-rag` and `waza-voila`, deployed through the API of a live
`waza api` (the RAG app calls the API back over HTTP with its own token) and reached through
their app route the way Traefik does it: the route file names the forward-auth address, the
headers its answer replaces and the app's address; `traefik()` below follows it. Apps run as
real processes supervised by the API (``WAZA_APPS_PLACEMENT=local``, no Ray); the real
Traefik, the Ray placement and a browser are covered by ``tests/e2e/test_apps_browser.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
import yaml

from tests.conftest import (
    ADMIN_PASSWORD,
    LiveServer,
    create_database,
    create_user,
    login,
    start_server,
    stop_server,
)
from waza.client import Client
from waza.settings import Settings

SECRET = "The launch code of the lunar research base is azure-penguin-42."
FILLER = {
    "solar.md": "Photovoltaic panels turn sunlight into electricity for the grid.",
    "bread.txt": "Sourdough bread rises thanks to a starter of wild yeast and bacteria.",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("apps-builtin")
    url, drop = create_database(home)
    settings = Settings(home=home, database_url=url)
    live = start_server(
        settings,
        {
            "WAZA_APPS_PLACEMENT": "local",
            "WAZA_APPS_ROUTER": "file",
            "WAZA_APPS_GARDEN_URL": "",
            "WAZA_INGEST_SCHEDULE_INTERVAL": "0",
        },
    )
    try:
        yield live
    finally:
        stop_server(live)
        drop()


@pytest.fixture(scope="module")
def alice(server: LiveServer) -> Iterator[Client]:
    """A user without the admin role, and the folder under WAZA_HOME that is hers."""
    with server.http() as http:
        create_user(http, login(http, "admin", ADMIN_PASSWORD), "alice")
    with Client(server.url, username="alice", password="pw-alice-123", timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def alice_headers(server: LiveServer, alice: Client) -> dict[str, str]:
    with server.http() as http:
        return login(http, "alice", "pw-alice-123")


def her_folder(server: LiveServer, name: str) -> Path:
    folder = server.settings.home / "users" / "alice" / f"{name}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    return folder


def traefik(
    server: LiveServer,
    dep_id: uuid.UUID,
    path: str,
    credentials: dict[str, str],
    method: str = "GET",
    **request: Any,
) -> httpx.Response:
    """A request on ``/apps/<id>/...`` handled as Traefik handles it, from the app's route
    file: forward-auth first (a non-2xx answer is the reply), its answer's
    ``authResponseHeaders`` replace the request's, the prefix is stripped when the route says
    so, and the request goes to the route's server."""
    route_file = server.settings.home / "hub" / "routes" / f"app-{dep_id}.yaml"
    config = yaml.safe_load(route_file.read_text())["http"]
    (router,) = config["routers"].values()
    prefix = f"/apps/{dep_id}/"
    assert f"PathPrefix(`{prefix}`)" in router["rule"] and path.startswith(prefix)
    headers = httpx.Headers({"Accept": "text/html", **credentials})
    for name in router["middlewares"]:
        middleware = config["middlewares"][name]
        if "forwardAuth" in middleware:
            auth = middleware["forwardAuth"]
            forwarded = {
                "X-Forwarded-Method": method,
                "X-Forwarded-Uri": path,
                "X-Forwarded-Proto": "http",
                "X-Forwarded-Host": "waza.test",
            }
            answer = httpx.get(auth["address"], headers={**headers, **forwarded}, timeout=30)
            if not answer.is_success:
                return answer
            for key in auth["authResponseHeaders"]:
                headers.pop(key, None)
                if key in answer.headers:
                    headers[key] = answer.headers[key]
        elif "stripPrefix" in middleware:
            for strip in middleware["stripPrefix"]["prefixes"]:
                if path.startswith(strip):
                    path, headers["X-Forwarded-Prefix"] = path[len(strip) :] or "/", strip
                    break
    (service,) = config["services"].values()
    (target,) = service["loadBalancer"]["servers"]
    return httpx.request(method, target["url"] + path, headers=headers, timeout=120, **request)


def test_rag_app_answers_from_the_chosen_collection(
    server: LiveServer, alice: Client, alice_headers: dict[str, str]
) -> None:
    folder = her_folder(server, "docs")
    for name, text in FILLER.items():
        (folder / name).write_text(text + "\n")
    (folder / "moon.txt").write_text(f"Notes from the lunar base.\n\n{SECRET}\n")
    collection = f"kb_{uuid.uuid4().hex[:8]}"
    job = alice.ingestion.rag.wait(
        alice.ingestion.rag.ingest_folder(folder, collection), timeout=180
    )
    assert job.status == "COMPLETED", job.error

    template = alice.apps.find_template("waza-rag")
    assert template is not None and template.builtin
    app = alice.apps.wait(alice.apps.deploy(template.id, "ask-docs", {"COLLECTION": collection}).id)
    assert app.model_deployment_id is None  # no chat model chosen: the app returns passages
    base = f"/apps/{app.id}/"

    page = traefik(server, app.id, base, alice_headers)
    assert page.status_code == 200, page.text
    assert f"<code>{collection}</code>" in page.text
    assert "Signed in as <b>alice</b>" in page.text  # the user forward-auth named

    question = {"question": "What is the launch code of the lunar research base?"}
    asked = traefik(server, app.id, base + "ask", alice_headers, "POST", json=question)
    assert asked.status_code == 200, asked.text
    reply = asked.json()
    assert reply["collection"] == collection and reply["answer"] is None
    best = reply["results"][0]
    assert "azure-penguin-42" in best["text"]  # the answer is only in the retrieved text
    assert str(best.get("filename") or best.get("source")).endswith("moon.txt")

    unauthenticated = traefik(server, app.id, base + "ask", {}, "POST", json={"question": "x"})
    assert unauthenticated.status_code == 401
    assert alice.apps.stop(app.id) is True
    assert not (server.settings.home / "hub" / "routes" / f"app-{app.id}.yaml").exists()


def test_voila_app_renders_the_chosen_notebook(
    server: LiveServer, alice: Client, alice_headers: dict[str, str]
) -> None:
    notebook = her_folder(server, "notebooks") / "hello.ipynb"
    source = 'answer = 6 * 7\nprint(f"voila says {answer}")'
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), notebook)

    template = alice.apps.find_template("waza-voila")
    assert template is not None and template.builtin
    app = alice.apps.wait(
        alice.apps.deploy(template.id, "hello-notebook", {"NOTEBOOK": str(notebook)}).id
    )
    page = traefik(server, app.id, f"/apps/{app.id}/", alice_headers)
    assert page.status_code == 200, page.text[-2000:]
    assert "voila says 42" in page.text  # the cell ran: its output, not its source
    assert "6 * 7" not in page.text  # Voila hides the code
    assert alice.apps.stop(app.id) is True
