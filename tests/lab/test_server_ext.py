"""The Jupyter Server extension `waza_jupyter` against a live `waza api` (no platform mocks).

A real Jupyter Server per test (`jp_serverapp`, with the extension enabled) calls one real
platform process per module, as a plain ``jupyter lab`` does: ``WazaJupyterApp.api_url`` plus
the user's token in ``WAZA_API_KEY``. Chat streaming over a running deployment needs Ray and is
covered by the browser test; here its error path (before the stream starts) is checked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse

from tests.conftest import ADMIN_PASSWORD, LiveServer, create_pat, free_port, login
from waza.client import Client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def tokens(live_server: LiveServer) -> Iterator[dict[str, str]]:
    """Personal access tokens of the admin and of a plain user."""
    with live_server.http() as http:
        admin = login(http, "admin", ADMIN_PASSWORD)
        name = unique("lab-user")
        body = {"username": name, "password": f"pw-{name}-123", "roles": ["user"]}
        assert http.post("/api/auth/users/local", json=body, headers=admin).status_code == 201
        user = login(http, name, f"pw-{name}-123")
        yield {"admin": create_pat(http, admin, "admin"), "user": create_pat(http, user, "write")}


@pytest.fixture
def platform_url(live_server: LiveServer) -> str:
    return live_server.api


@pytest.fixture
def jp_server_config(platform_url: str) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"waza_jupyter": True}},
        "WazaJupyterApp": {"api_url": platform_url},
    }


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]) -> Callable[[str], None]:
    """Run the Jupyter server as this platform user (its token in WAZA_API_KEY)."""
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)

    def use(who: str) -> None:
        monkeypatch.setenv("WAZA_API_KEY", tokens[who])

    use("user")
    return use


def body(response: HTTPResponse) -> Any:
    return json.loads(response.body)


async def call(jp_fetch: Any, path: str, method: str = "GET", data: Any = None, **kw: Any) -> Any:
    """`jp_fetch` on ``waza/<path>`` returning the response whatever its status."""
    if data is not None:
        kw["body"] = json.dumps(data)
    elif method in {"POST", "PUT"} and "body" not in kw:
        kw["body"] = b"{}"
    return await jp_fetch(*f"waza/{path}".split("/"), method=method, raise_error=False, **kw)


async def test_status_names_the_user(jp_fetch: Any, as_user: Callable[[str], None]) -> None:
    reply = await call(jp_fetch, "status")
    assert reply.code == 200, reply.body
    assert body(reply)["user"].startswith("lab-user-")
    assert body(reply)["admin"] is False
    assert uuid.UUID(body(reply)["user_id"])


async def test_deployments_with_owner_names(jp_fetch: Any, as_user: Callable[[str], None]) -> None:
    """``?owners=1`` (the admins' "all users" view) is answered for users too, without names
    they may not list; with deployments it adds ``owner_name`` (checked in the Ray browser test)."""
    for who in ("user", "admin"):
        as_user(who)
        reply = await call(jp_fetch, "deployments", params={"owners": "1"})
        assert reply.code == 200, (who, reply.body)
        assert isinstance(body(reply), list)


async def test_models_import_list_search_and_deploy_refusal(
    jp_fetch: Any, as_user: Callable[[str], None], tiny_chat_model: Path
) -> None:
    as_user("admin")  # only admins import from any folder of the server
    name = unique("tiny")
    reply = await call(
        jp_fetch, "models/import", "POST", {"path": str(tiny_chat_model), "name": name}
    )
    assert reply.code == 201, reply.body
    model = body(reply)
    assert model["name"] == name

    listed = body(await call(jp_fetch, "models"))
    assert name in [m["name"] for m in listed["models"]]
    found = body(await call(jp_fetch, "models", params={"q": name}))
    assert [m["id"] for m in found["models"]] == [model["id"]]
    assert found["errors"] == []
    assert body(await call(jp_fetch, "models", params={"q": unique("none")}))["models"] == []

    # more CPUs than any machine here has: refused at once, with the platform's reason
    refused = await call(jp_fetch, f"models/{model['id']}/deploy", "POST", {"cpu": 256})
    error = body(refused)
    assert 400 <= refused.code < 600 and refused.code != 500, refused.body
    assert error["source"] == "platform"
    if refused.code == 400:
        assert error["reason"] == "insufficient_cpu"
        assert "not enough CPUs" in error["message"]
    else:  # no Ray cluster reachable from this platform
        assert refused.code == 503 and "Ray" in error["message"]

    # beyond the schema's bounds: the client refuses it before sending; a 400 that says why
    beyond = await call(jp_fetch, f"models/{model['id']}/deploy", "POST", {"cpu": 1000})
    assert beyond.code == 400 and body(beyond)["source"] == "extension", beyond.body
    assert body(beyond)["message"] == "cpu: Input should be less than or equal to 256"

    unknown = await call(jp_fetch, f"models/{uuid.uuid4()}/deploy", "POST", {"replicas": 1})
    assert unknown.code == 404 and body(unknown)["source"] == "platform"
    bad = await call(jp_fetch, f"models/{model['id']}/deploy", "POST", {"gpus": 1})
    assert bad.code == 400 and body(bad)["source"] == "extension"
    assert "unknown field(s) gpus" in body(bad)["message"]


async def test_import_as_a_user_outside_the_data_folders_is_refused(
    jp_fetch: Any, as_user: Callable[[str], None], jp_root_dir: Path
) -> None:
    (jp_root_dir / "m").mkdir()
    (jp_root_dir / "m" / "config.json").write_text("{}")
    reply = await call(jp_fetch, "models/import", "POST", {"path": "m"})
    assert reply.code == 403, reply.body
    assert body(reply)["source"] == "platform" and body(reply)["message"]
    escape = await call(jp_fetch, "models/import", "POST", {"path": "../../etc"})
    assert escape.code == 400 and "outside the Jupyter root" in body(escape)["message"]


async def test_vector_search_on_a_collection_the_test_inserted(
    jp_fetch: Any, as_user: Callable[[str], None], live_server: LiveServer, tokens: dict[str, str]
) -> None:
    with Client(live_server.url, tokens["user"]) as client:
        db = client.vectors.create_db(unique("labdb"))
        vectors = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.7, 0.7, 0.0, 0.0]]
        meta = [{"text": t, "source": f"{t}.txt"} for t in ("east", "north", "north-east")]
        client.vectors.insert(db.id, "points", vectors, meta)

    dbs = body(await call(jp_fetch, "vectordbs"))
    assert db.name in [d["name"] for d in dbs]
    collections = body(await call(jp_fetch, f"vectordbs/{db.id}/collections"))
    assert [(c["name"], c["count"], c["dimension"]) for c in collections] == [("points", 3, 4)]

    reply = await call(
        jp_fetch,
        f"vectordbs/{db.id}/search",
        "POST",
        {"collection": "points", "vector": [0.0, 1.0, 0.1, 0.0], "limit": 2},
    )
    assert reply.code == 200, reply.body
    hits = body(reply)["hits"]
    assert [h["metadata"]["text"] for h in hits] == ["north", "north-east"]
    assert hits[0]["metadata"]["source"] == "north.txt" and hits[0]["score"] > hits[1]["score"]

    missing = await call(
        jp_fetch, f"vectordbs/{db.id}/search", "POST", {"collection": "nope", "vector": [1, 0]}
    )
    assert missing.code == 404 and body(missing)["source"] == "platform"
    empty = await call(jp_fetch, f"vectordbs/{db.id}/search", "POST", {"collection": "points"})
    assert empty.code == 400 and "query (text) or vector" in body(empty)["message"]


async def test_catalog_datasets_containers_and_secret_names(
    jp_fetch: Any,
    as_user: Callable[[str], None],
    jp_root_dir: Path,
    live_server: LiveServer,
    tokens: dict[str, str],
) -> None:
    (jp_root_dir / "data").mkdir()
    (jp_root_dir / "data" / "rows.csv").write_text("a,b\n1,2\n")
    reply = await call(jp_fetch, "catalog/datasets", "POST", {"path": "data/rows.csv"})
    assert reply.code == 201, reply.body
    urn = body(reply)["urn"]
    assert urn.startswith("urn:")

    datasets = body(await call(jp_fetch, "catalog/datasets"))
    assert urn in [d["urn"] for d in datasets]
    detail = body(await call(jp_fetch, "catalog/dataset", params={"urn": urn}))
    assert detail["dataset"]["name"] == str(jp_root_dir / "data" / "rows.csv")
    columns = [(f["name"], f["type"]) for f in detail["schema"]["fields"]]
    assert columns == [("a", "int64"), ("b", "int64")]  # read from the file by pyarrow
    (jp_root_dir / "data" / "notes.txt").write_text("not a table")
    reply = await call(jp_fetch, "catalog/datasets", "POST", {"path": "data/notes.txt"})
    assert reply.code == 201, reply.body
    plain = body(await call(jp_fetch, "catalog/dataset", params={"urn": body(reply)["urn"]}))
    assert plain["schema"]["fields"] == []

    with Client(live_server.url, tokens["admin"]) as admin:  # containers are admins' work
        container_urn = admin.catalog.create_container(unique("shelf"))
        admin.catalog.add_dataset(container_urn, urn)
    with Client(live_server.url, tokens["user"]) as client:
        secret_name = unique("key")
        client.catalog.create_secret(secret_name, "s3cr3t-value")
    refused = await call(jp_fetch, "catalog/containers")  # containers are admins' only
    assert refused.code == 403 and body(refused)["source"] == "platform"
    as_user("admin")
    containers = body(await call(jp_fetch, "catalog/containers"))
    as_user("user")
    shelf = next(c for c in containers if c["urn"] == container_urn)
    assert urn in shelf["datasets"]
    reply = await call(jp_fetch, "catalog/secrets")
    assert reply.code == 200
    secrets = body(reply)
    assert secret_name in [s["name"] for s in secrets]
    assert b"s3cr3t-value" not in reply.body
    assert all(set(s) == {"name", "urn", "description"} for s in secrets)

    nothing = await call(jp_fetch, "catalog/dataset", params={"urn": "urn:li:dataset:nope"})
    assert 400 <= nothing.code < 500 and body(nothing)["source"] == "platform"


async def test_snippets_compile(jp_fetch: Any, as_user: Callable[[str], None]) -> None:
    for params in (
        {"kind": "model", "id": "m1"},
        {"kind": "deployment", "id": "d1"},
        {"kind": "deployment", "id": "d1", "flavor": "openai"},
        {"kind": "collection", "id": "points", "db": "db1"},
        {"kind": "dataset", "id": "urn:li:dataset:x"},
    ):
        code = body(await call(jp_fetch, "snippets", params=params))["code"]
        compile(code, "<snippet>", "exec")
        assert "from waza.client import Client" in code and repr(params["id"]) in code
    bad = await call(jp_fetch, "snippets", params={"kind": "planet", "id": "x"})
    assert bad.code == 400 and "kind must be one of" in body(bad)["message"]


async def test_requests_without_the_jupyter_token_are_refused(
    jp_fetch: Any, as_user: Callable[[str], None]
) -> None:
    for path, method in (("models", "GET"), ("deployments", "GET"), ("models/import", "POST")):
        reply = await call(
            jp_fetch, path, method, headers={"Authorization": "token not-the-server-token"}
        )
        assert reply.code in (401, 403), (path, reply.code)
        assert b"lab-user" not in reply.body


async def test_platform_errors_are_mapped(
    jp_fetch: Any, as_user: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = await call(jp_fetch, f"deployments/{uuid.uuid4()}")
    assert missing.code == 404 and body(missing)["source"] == "platform"
    chat = await call(jp_fetch, f"deployments/{uuid.uuid4()}/chat", "POST", {"prompt": "hi"})
    assert chat.code == 404 and body(chat)["source"] == "platform", chat.body
    no_prompt = await call(jp_fetch, f"deployments/{uuid.uuid4()}/chat", "POST", {})
    assert no_prompt.code == 400 and body(no_prompt)["source"] == "extension"
    not_json = await call(jp_fetch, "models/import", "POST", data=None, body=b"{nope")
    assert not_json.code == 400 and body(not_json)["message"] == "the body is not JSON"
    bad_url = await call(jp_fetch, "models", headers={"X-Waza-Api-Url": "file:///etc"})
    assert bad_url.code == 400

    monkeypatch.setenv("WAZA_API_KEY", "not-a-token")
    denied = await call(jp_fetch, "models", headers={"X-Waza-Api-Url": "http://127.0.0.1:1"})
    assert denied.code == 502 and body(denied)["source"] == "connection"


# a stable id: xdist workers must collect the same test names (the port differs per worker)
@pytest.mark.parametrize(
    "platform_url", [f"http://127.0.0.1:{free_port()}/api"], ids=["nothing-listening"]
)
async def test_platform_down_is_a_502_with_a_message(
    jp_fetch: Any, as_user: Callable[[str], None]
) -> None:
    for path in ("status", "models", "deployments", "vectordbs", "catalog/datasets"):
        reply = await call(jp_fetch, path)
        assert reply.code == 502, (path, reply.body)
        assert body(reply)["source"] == "connection"
        assert "cannot reach the waza platform" in body(reply)["message"]


async def test_a_bad_token_is_the_platforms_401(
    jp_fetch: Any, as_user: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAZA_API_KEY", "not-a-token")
    reply = await call(jp_fetch, "models")
    assert reply.code == 401 and body(reply)["source"] == "platform", reply.body
