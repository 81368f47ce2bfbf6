"""The model repository in process: CRUD, 404/403/422, private models, config rules, files and
memory usage, import and upload, built-ins, the guide and the raw Kamiwaza routes.

One app serves the module; every test makes its own users and models. Hub search and downloads
are in test_models_hub.py.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kamiwaza_sdk.schemas.guide import ModelGuide
from kamiwaza_sdk.schemas.models.model import Model as SdkModel
from kamiwaza_sdk.schemas.models.model import ModelConfig as SdkModelConfig

from tests.conftest import (
    ADMIN_PASSWORD,
    bearer,
    create_pat,
    create_user,
    free_port,
    login,
    running_app,
)
from waza.errors import BadRequest, NotFound
from waza.gateway.principal import Principal
from waza.services.models import builtin
from waza.services.models.service import ModelService
from waza.settings import Settings

Headers = dict[str, str]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # no Hub here (test_models_hub.py has one): a closed port makes any Hub call fail at once
    with running_app(
        tmp_path_factory.mktemp("models-api"), hf_endpoint=f"http://127.0.0.1:{free_port()}"
    ) as client:
        yield client


@pytest.fixture(scope="module")
def svc(api: TestClient) -> ModelService:
    return api.app.state.waza.models  # type: ignore[attr-defined, no-any-return]


@pytest.fixture(scope="module")
def home(api: TestClient) -> Path:
    return Path(api.app.state.waza.settings.home)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def admin(api: TestClient) -> Headers:
    headers = login(api, "admin", ADMIN_PASSWORD)
    api.cookies.clear()
    return headers


def _user(api: TestClient, admin: Headers, prefix: str) -> Headers:
    headers = create_user(api, admin, f"{prefix}{uuid.uuid4().hex[:8]}")
    api.cookies.clear()
    return headers


@pytest.fixture
def alice(api: TestClient, admin: Headers) -> Headers:
    return _user(api, admin, "alice")


@pytest.fixture
def bob(api: TestClient, admin: Headers) -> Headers:
    return _user(api, admin, "bob")


def principal(api: TestClient, who: Headers) -> Principal:
    me = api.get("/api/auth/users/me", headers=who).json()
    roles = ("admin", "user") if me["is_admin"] else ("user",)
    return Principal(uuid.UUID(me["sub"]), me["username"], roles, "session")


def username(api: TestClient, who: Headers) -> str:
    return str(api.get("/api/auth/users/me", headers=who).json()["username"])


def create(api: TestClient, who: Headers, **body: Any) -> dict[str, Any]:
    """POST /models/ the way the SDK does (every CreateModel field, nulls included)."""
    full: dict[str, Any] = {
        "repo_modelId": None,
        "modelfamily": None,
        "purpose": None,
        "name": f"m-{uuid.uuid4().hex[:6]}",
        "version": None,
        "author": None,
        "source_repository": None,
        "sha_repository": None,
        "hub": None,
        "description": None,
        "quantization_details": None,
        "private": None,
        "m_files": [],
        "modelcard": None,
        "default_config": None,
    }
    full.update(body)
    reply = api.post("/api/models/", json=full, headers=who)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def config(api: TestClient, who: Headers, model_id: str, **body: Any) -> Any:
    full = {"m_id": model_id, "name": "c", "default": False, "config": {}, "system_config": {}}
    full.update(body)
    return api.post("/api/model_configs/", json=full, headers=who)


def test_builtins_are_registered_at_start(api: TestClient, alice: Headers) -> None:
    models = {m["name"]: m for m in api.get("/api/models/", headers=alice).json()}
    smol, minilm = models["SmolLM2-135M-Instruct"], models["all-MiniLM-L6-v2"]
    assert smol["repo_modelId"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert smol["source"] == "builtin" and smol["owner_id"] is None and smol["private"] is False
    assert smol["local_path"].endswith(".gguf") and Path(smol["local_path"]).is_file()
    assert smol["default_config"]["config"] == builtin.BUILTINS[builtin.SMOLLM2].config
    assert smol["default_config"]["config"]["engine"] == "llamacpp"
    assert minilm["purpose"] == "embedding"
    assert minilm["default_config"]["config"] == builtin.BUILTINS[builtin.MINILM].config
    SdkModel.model_validate(smol)
    full = api.get(f"/api/models/{minilm['id']}", headers=alice).json()
    assert {"config.json", "model.safetensors", "modules.json"} <= {
        f["name"] for f in full["m_files"]
    }
    assert all(f["model_id"] == minilm["id"] for f in full["m_files"])
    usage = api.get(f"/api/models/{smol['id']}/memory_usage", headers=alice).json()
    assert usage == Path(smol["local_path"]).stat().st_size
    states = {b["key"]: b for b in api.get("/api/models/builtin", headers=alice).json()}
    assert states["smollm2-135m-instruct"]["registered"] is True
    assert states["tiny-random-chat"]["registered"] is False
    assert states["tiny-random-chat"]["needs_build"] is True


def test_create_get_list_delete(api: TestClient, alice: Headers) -> None:
    made = create(
        api,
        alice,
        name="my-model",
        repo_modelId="org/my-model",
        hub="HubsHf",
        purpose="chat",
        default_config={"name": "cpu", "config": {"engine": "transformers", "max_new_tokens": 8}},
    )
    assert made["id"] and made["name"] == "my-model" and made["private"] is False
    assert made["default_config"]["config"] == {"engine": "transformers", "max_new_tokens": 8}
    SdkModel.model_validate(made)
    got = api.get(f"/api/models/{made['id']}", headers=alice).json()
    assert got["repo_modelId"] == "org/my-model" and got["hub"] == "HubsHf"
    listed = api.get("/api/models/?load_files=False", headers=alice).json()
    assert made["id"] in [m["id"] for m in listed]
    assert api.get("/api/models", headers=alice).status_code == 200
    gone = api.delete(f"/api/models/{made['id']}", headers=alice)
    assert gone.status_code == 200 and gone.json()["result"] is True
    assert api.get(f"/api/models/{made['id']}", headers=alice).status_code == 404
    assert api.delete(f"/api/models/{made['id']}", headers=alice).status_code == 404
    assert api.get(f"/api/models/{made['id']}/configs", headers=alice).status_code == 404


def test_validation_and_unknown_ids(api: TestClient, alice: Headers) -> None:
    nobody = uuid.uuid4()
    for path in (
        f"/api/models/{nobody}",
        f"/api/models/{nobody}/memory_usage",
        f"/api/models/{nobody}/configs",
        f"/api/models/{nobody}/deployment_info",
        f"/api/model_files/{nobody}",
        f"/api/model_files/{nobody}/memory_usage",
        f"/api/model_configs/{nobody}",
        f"/api/model_configs/?model_id={nobody}",
    ):
        assert api.get(path, headers=alice).status_code == 404, path
    assert api.delete(f"/api/model_configs/{nobody}", headers=alice).status_code == 404
    assert api.delete(f"/api/model_files/{nobody}", headers=alice).status_code == 404
    assert api.get("/api/models/not-a-uuid", headers=alice).status_code == 422
    assert api.get("/api/model_configs/", headers=alice).status_code == 422  # model_id needed
    assert api.post("/api/models/", json={}, headers=alice).status_code == 422
    assert api.post("/api/models/", json={"name": ""}, headers=alice).status_code == 422
    no_model = config(api, alice, str(nobody))
    assert no_model.status_code == 404 and str(nobody) in no_model.json()["detail"]
    assert api.post("/api/model_configs/", json={"default": True}, headers=alice).status_code == 422


def test_private_models_are_only_for_their_owner(
    api: TestClient, admin: Headers, alice: Headers, bob: Headers
) -> None:
    secret = create(api, alice, private=True)
    shared = create(api, alice)
    seen = {m["id"] for m in api.get("/api/models/", headers=bob).json()}
    assert shared["id"] in seen and secret["id"] not in seen
    for path in ("", "/configs", "/memory_usage"):
        assert api.get(f"/api/models/{secret['id']}{path}", headers=bob).status_code == 403
    assert api.delete(f"/api/models/{secret['id']}", headers=bob).status_code == 403
    assert config(api, bob, secret["id"]).status_code == 403
    found = api.post(
        "/api/models/search/",
        json={"query": secret["name"], "hubs_to_search": ["local"]},
        headers=bob,
    ).json()
    assert found["results"] == []
    mine = api.post(
        "/api/models/search/",
        json={"query": secret["name"], "hubs_to_search": ["local"]},
        headers=alice,
    ).json()
    assert [r["id"] for r in mine["results"]] == [secret["id"]]
    # a shared model: readable by all, changed only by its owner (or an admin)
    assert api.get(f"/api/models/{shared['id']}", headers=bob).status_code == 200
    assert api.delete(f"/api/models/{shared['id']}", headers=bob).status_code == 403
    assert config(api, bob, shared["id"]).status_code == 403
    mine = config(api, alice, shared["id"], default=True)
    assert mine.status_code == 200
    assert (
        api.put(
            f"/api/model_configs/{mine.json()['id']}",
            json={**mine.json(), "name": "x"},
            headers=bob,
        ).status_code
        == 403
    )
    assert api.delete(f"/api/model_configs/{mine.json()['id']}", headers=bob).status_code == 403
    # admins see and change everything
    assert secret["id"] in {m["id"] for m in api.get("/api/models/", headers=admin).json()}
    assert api.get(f"/api/models/{secret['id']}", headers=admin).status_code == 200
    assert api.delete(f"/api/models/{secret['id']}", headers=admin).status_code == 200


def test_builtins_are_changed_by_admins_only(api: TestClient, alice: Headers) -> None:
    smol = next(
        m for m in api.get("/api/models/", headers=alice).json() if m["source"] == "builtin"
    )
    assert api.delete(f"/api/models/{smol['id']}", headers=alice).status_code == 403
    assert config(api, alice, smol["id"]).status_code == 403
    assert api.post("/api/models/builtin/tiny-random-chat", headers=alice).status_code == 403


def test_config_rules(api: TestClient, alice: Headers) -> None:
    model = create(api, alice)["id"]
    other = create(api, alice)["id"]
    first = config(api, alice, model, name="a", default=True, config={"n_ctx": 512}).json()
    SdkModelConfig.model_validate(first)
    assert first["default"] is True and first["m_id"] == model and first["created_at"]
    second = config(api, alice, model, name="b", default=True).json()
    listed = api.get(f"/api/model_configs/?model_id={model}", headers=alice).json()
    assert [(c["name"], c["default"]) for c in listed] == [("a", False), ("b", True)]
    defaults = api.get(f"/api/models/{model}/configs?default=True", headers=alice).json()
    assert [c["id"] for c in defaults] == [second["id"]]
    all_of_them = api.get(f"/api/models/{model}/configs?default=False", headers=alice).json()
    assert len(all_of_them) == 2
    assert api.get(f"/api/models/{model}", headers=alice).json()["default_config"]["name"] == "b"
    # update: fields replaced, the model cannot change, numbers come back as sent
    changed = api.put(
        f"/api/model_configs/{first['id']}",
        json={"m_id": model, "name": "a2", "default": True, "config": {"n_ctx": 1024}},
        headers=alice,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["config"] == {"n_ctx": 1024} and changed.json()["modified_at"]
    after = api.get(f"/api/model_configs/?model_id={model}", headers=alice).json()
    assert [c["name"] for c in after if c["default"]] == ["a2"]
    moved = api.put(
        f"/api/model_configs/{first['id']}", json={"m_id": other, "default": False}, headers=alice
    )
    assert moved.status_code == 400
    # a config may name a file of its own model only
    theirs = api.post(
        "/api/model_files/", json={"name": "w.bin", "size": 1, "model_id": other}, headers=alice
    ).json()
    wrong = config(api, alice, model, m_file_id=theirs["id"])
    assert wrong.status_code == 400 and "another model" in wrong.json()["detail"]
    assert config(api, alice, model, m_file_id=str(uuid.uuid4())).status_code == 404
    assert api.delete(f"/api/model_configs/{second['id']}", headers=alice).status_code == 200
    assert api.get(f"/api/model_configs/{second['id']}", headers=alice).status_code == 404


def test_external_models_never_store_inline_credentials(api: TestClient, alice: Headers) -> None:
    # the body kamiwaza-sdk's register_external_model sends
    endpoint = (
        '{"protocol": "aws_bedrock", "region": "us-east-1", "model_id": "m", '
        '"credential_secret": "{\\"auth_type\\": \\"bearer\\", \\"bearer_token\\": \\"sekret\\"}"}'
    )
    reply = api.post(
        "/api/models/?force_replace_credentials=True",
        json={
            "name": "bedrock",
            "m_files": [],
            "default_config": {
                "default": True,
                "name": "bedrock External Endpoint",
                "config": {"engine_name": "external_chat", "external_endpoint": endpoint},
                "system_config": {},
            },
        },
        headers=alice,
    )
    assert reply.status_code == 200, reply.text
    assert "sekret" not in reply.text
    stored = reply.json()["default_config"]["config"]
    assert (
        stored["engine_name"] == "external_chat"
        and '"region": "us-east-1"' in stored["external_endpoint"]
    )
    assert "sekret" not in api.get(f"/api/models/{reply.json()['id']}/configs", headers=alice).text


def test_model_files(api: TestClient, alice: Headers, bob: Headers, home: Path) -> None:
    on_disk = home / "data" / "loose.bin"
    on_disk.parent.mkdir(parents=True, exist_ok=True)
    on_disk.write_bytes(b"x" * 1234)
    # the SDK's CreateModelFile: no model id
    loose = api.post(
        "/api/model_files/",
        json={
            "name": "loose.bin",
            "size": 1234,
            "storage_type": "file",
            "storage_host": "localhost",
            "storage_location": str(on_disk),
        },
        headers=alice,
    )
    assert loose.status_code == 200, loose.text
    file_id = loose.json()["id"]
    assert api.get(f"/api/model_files/{file_id}", headers=alice).json()["name"] == "loose.bin"
    assert file_id in [f["id"] for f in api.get("/api/model_files/", headers=alice).json()]
    assert file_id not in [f["id"] for f in api.get("/api/model_files/", headers=bob).json()]
    assert api.get(f"/api/model_files/{file_id}", headers=bob).status_code == 403
    assert api.get(f"/api/model_files/{file_id}/memory_usage", headers=alice).json() == 1234
    # a record with nothing on disk reports its declared size
    virtual = api.post("/api/model_files/", json={"name": "v", "size": 77}, headers=alice).json()
    assert api.get(f"/api/model_files/{virtual['id']}/memory_usage", headers=alice).json() == 77
    # users may only point records at their own data folders
    outside = api.post(
        "/api/model_files/",
        json={"name": "p", "storage_type": "file", "storage_location": "/etc/passwd"},
        headers=alice,
    )
    assert outside.status_code == 403
    assert api.delete(f"/api/model_files/{file_id}", headers=bob).status_code == 403
    assert api.delete(f"/api/model_files/{file_id}", headers=alice).status_code == 200
    assert api.get(f"/api/model_files/{file_id}", headers=alice).status_code == 404
    assert on_disk.exists()  # a file waza does not manage stays on disk


def test_import_a_folder_and_a_file(
    api: TestClient, svc: ModelService, alice: Headers, bob: Headers, admin: Headers, home: Path
) -> None:
    name = username(api, alice)
    folder = home / "users" / name / "my-model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(b"w" * 1000)
    (folder / "sub" / "extra.txt").write_text("x")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref")
    reply = api.post(
        "/api/models/import",
        json={"path": str(folder), "purpose": "chat", "config": {"engine": "transformers"}},
        headers=alice,
    )
    assert reply.status_code == 200, reply.text
    model = reply.json()
    assert model["name"] == "my-model" and model["source"] == "import"
    assert model["local_path"] == str(folder.resolve())
    assert sorted(f["name"] for f in model["m_files"]) == [
        "config.json",
        "model.safetensors",
        "sub/extra.txt",
    ]
    assert model["default_config"]["config"] == {"engine": "transformers"}
    usage = api.get(f"/api/models/{model['id']}/memory_usage", headers=alice).json()
    assert usage == len('{"model_type": "llama"}') + 1000 + 1
    source = svc.deploy_source(principal(api, alice), uuid.UUID(model["id"]))
    assert source.path == folder.resolve() and source.config == {"engine": "transformers"}

    gguf = home / "data" / "one.gguf"
    gguf.parent.mkdir(parents=True, exist_ok=True)
    gguf.write_bytes(b"GGUF" + b"\0" * 60)
    single = api.post("/api/models/import", json={"path": str(gguf)}, headers=alice).json()
    assert single["name"] == "one.gguf" and [f["name"] for f in single["m_files"]] == ["one.gguf"]
    assert svc.deploy_source(principal(api, alice), uuid.UUID(single["id"])).path == gguf

    # another user's folder, a path outside the data folders, bad paths
    theirs = api.post("/api/models/import", json={"path": str(folder)}, headers=bob)
    assert theirs.status_code == 403 and "outside" in theirs.json()["detail"]
    assert api.post("/api/models/import", json={"path": "/etc"}, headers=bob).status_code == 403
    assert api.post("/api/models/import", json={"path": "rel/x"}, headers=bob).status_code == 400
    missing = str(home / "data" / "nope")
    assert api.post("/api/models/import", json={"path": missing}, headers=bob).status_code == 404
    # a link inside a data folder that points outside it is refused
    (home / "data" / "linked").mkdir(exist_ok=True)
    link = home / "data" / "linked" / "passwd"
    if not link.exists():
        link.symlink_to("/etc/passwd")
    assert (
        api.post("/api/models/import", json={"path": str(link.parent)}, headers=alice).status_code
        == 403
    )
    # admins may import any readable path; deleting the model leaves the files alone
    anywhere = api.post("/api/models/import", json={"path": str(folder)}, headers=admin).json()
    assert api.delete(f"/api/models/{anywhere['id']}", headers=admin).status_code == 200
    assert api.delete(f"/api/models/{model['id']}", headers=alice).status_code == 200
    assert (folder / "model.safetensors").exists()


def test_upload(api: TestClient, svc: ModelService, alice: Headers, home: Path) -> None:
    uploads = home / "models" / "uploads"
    files = [
        ("files", ("config.json", b'{"a": 1}', "application/json")),
        ("files", ("tokenizer/vocab.txt", b"hello\nworld\n", "text/plain")),
    ]
    reply = api.post(
        "/api/models/upload",
        files=files,
        data={"name": "uploaded", "purpose": "chat", "config": '{"engine": "transformers"}'},
        headers=alice,
    )
    assert reply.status_code == 200, reply.text
    model = reply.json()
    stored = uploads / model["id"]
    assert (stored / "tokenizer" / "vocab.txt").read_bytes() == b"hello\nworld\n"
    assert model["source"] == "upload" and model["local_path"] == str(stored)
    assert sorted(f["name"] for f in model["m_files"]) == ["config.json", "tokenizer/vocab.txt"]
    assert model["default_config"]["config"] == {"engine": "transformers"}
    assert api.get(f"/api/models/{model['id']}/memory_usage", headers=alice).json() == 8 + 12

    one = api.post(
        "/api/models/upload", files=[("files", ("w.gguf", b"GGUF", "x/y"))], headers=alice
    ).json()
    assert one["name"] == "w.gguf" and one["local_path"] == str(uploads / one["id"] / "w.gguf")
    assert svc.deploy_source(principal(api, alice), uuid.UUID(one["id"])).path == Path(
        one["local_path"]
    )

    before = sorted(p.name for p in uploads.iterdir())
    for bad in ("../evil", ".hidden", "/abs"):
        refused = api.post(
            "/api/models/upload", files=[("files", (bad, b"x", "x/y"))], headers=alice
        )
        assert refused.status_code == 400, bad
    bad_config = api.post(
        "/api/models/upload",
        files=[("files", ("a.bin", b"x", "x/y"))],
        data={"config": "[1]"},
        headers=alice,
    )
    assert bad_config.status_code == 400
    assert api.post("/api/models/upload", headers=alice).status_code == 422
    assert sorted(p.name for p in uploads.iterdir()) == before  # nothing half-written

    assert api.delete(f"/api/models/{model['id']}", headers=alice).status_code == 200
    assert not stored.exists()


def test_deploy_source(api: TestClient, svc: ModelService, alice: Headers, bob: Headers) -> None:
    me = principal(api, alice)
    bare = create(api, alice)["id"]
    with pytest.raises(BadRequest, match="has no config; create one with POST /api/model_configs/"):
        svc.deploy_source(me, uuid.UUID(bare))
    first = config(api, alice, bare, name="first", config={"engine": "transformers"}).json()
    source = svc.deploy_source(me, uuid.UUID(bare))
    assert source.config_id == uuid.UUID(first["id"])  # no default: the first config
    chosen = config(api, alice, bare, name="chosen", default=True, config={"x": 1}).json()
    source = svc.deploy_source(me, uuid.UUID(bare))
    assert source.config_id == uuid.UUID(chosen["id"]) and source.config == {"x": 1}
    assert source.path is None and source.owner_id == me.user_id and source.private is False
    explicit = svc.deploy_source(me, uuid.UUID(bare), uuid.UUID(first["id"]))
    assert explicit.config == {"engine": "transformers"}

    other = create(api, alice)["id"]
    foreign = config(api, alice, other, name="o").json()
    with pytest.raises(BadRequest, match="another model"):
        svc.deploy_source(me, uuid.UUID(bare), uuid.UUID(foreign["id"]))
    with pytest.raises(NotFound):
        svc.deploy_source(me, uuid.UUID(bare), uuid.uuid4())
    with pytest.raises(NotFound):
        svc.deploy_source(me, uuid.uuid4())
    secret = create(api, alice, private=True)["id"]
    config(api, alice, secret, default=True)
    with pytest.raises(NotFound):
        svc.deploy_source(principal(api, bob), uuid.UUID(secret))
    assert svc.deploy_source(me, uuid.UUID(secret)).private is True

    smol = next(m for m in svc.list_models(me) if m.name == "SmolLM2-135M-Instruct")
    assert smol.id is not None
    built = svc.deploy_source(me, smol.id)
    assert built.path is not None and built.path.suffix == ".gguf"
    assert built.config == builtin.BUILTINS[builtin.SMOLLM2].config and built.purpose == "chat"
    assert built.config["engine"] == "llamacpp"
    assert built.repo_id == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_add_builtin_builds_the_tiny_model(
    api: TestClient,
    svc: ModelService,
    admin: Headers,
    home: Path,
    tiny_chat_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds: list[Path] = []

    def build(b: builtin.Builtin, settings: Settings) -> Path:
        """The session's tiny model stands in for a fresh build (same builder, built once)."""
        dest = builtin.tiny_path(settings)
        shutil.copytree(tiny_chat_model, dest)
        builds.append(dest)
        return dest

    monkeypatch.setattr(builtin, "build", build)
    reply = api.post("/api/models/builtin/tiny-random-chat", headers=admin)
    assert reply.status_code == 200, reply.text
    assert len(builds) == 1
    tiny = reply.json()
    folder = home / "models" / "builtin" / "tiny-random-chat"
    assert tiny["local_path"] == str(folder) and (folder / "config.json").is_file()
    assert "noise" in tiny["description"]
    assert tiny["default_config"]["config"] == builtin.BUILTINS[builtin.TINY].config
    again = api.post("/api/models/builtin/tiny-random-chat", headers=admin).json()
    assert again["id"] == tiny["id"] and len(builds) == 1
    assert api.post("/api/models/builtin/nope", headers=admin).status_code == 404
    states = {b["key"]: b for b in api.get("/api/models/builtin", headers=admin).json()}
    assert states["tiny-random-chat"]["registered"] and states["tiny-random-chat"]["model_id"]
    # deleting a built-in keeps it deleted at the next start, until added again
    smol = states["smollm2-135m-instruct"]["model_id"]
    assert api.delete(f"/api/models/{smol}", headers=admin).status_code == 200
    svc.ensure_builtins()
    names = [m["name"] for m in api.get("/api/models/", headers=admin).json()]
    assert "SmolLM2-135M-Instruct" not in names
    back = api.post("/api/models/builtin/smollm2-135m-instruct", headers=admin)
    assert back.status_code == 200 and back.json()["id"] != smol
    svc.ensure_builtins()
    names = [m["name"] for m in api.get("/api/models/", headers=admin).json()]
    assert names.count("SmolLM2-135M-Instruct") == 1 and names.count("tiny-random-chat") == 1


def test_guide_and_raw_routes(api: TestClient, alice: Headers) -> None:
    guides = api.get("/api/guide/", headers=alice).json()
    assert {g["id"] for g in guides} == {
        "smollm2-135m-instruct",
        "all-minilm-l6-v2",
        "tiny-random-chat",
    }
    for g in guides:
        ModelGuide.model_validate(g)
    assert api.post("/api/guide/import?replace=True", headers=alice).json()["result"] is True
    assert api.post("/api/guide/refresh", headers=alice).status_code == 200
    pending = api.get("/api/models/pending_deployments", headers=alice).json()
    assert pending["total_pending"] == 0 and pending["pending_deployments"] == []
    cleaned = api.post("/api/models/cleanup_stale_deployments", headers=alice).json()
    assert cleaned["cleaned_count"] == 0
    model = create(api, alice)["id"]
    info = api.get(f"/api/models/{model}/deployment_info", headers=alice).json()
    assert info == {"model_id": model, "deployed": False, "deployments": []}
    after = api.post(f"/api/models/deploy_after_download/{model}", json={}, headers=alice).json()
    assert after["ready"] is False and after["deployed"] is False


def test_tokens_and_scopes(api: TestClient, alice: Headers) -> None:
    reader = bearer(create_pat(api, alice, "read"))
    api.cookies.clear()
    assert api.get("/api/models/", headers=reader).status_code == 200
    assert (
        api.post(
            "/api/models/search/", json={"query": "x", "hubs_to_search": ["local"]}, headers=reader
        ).status_code
        == 200
    )
    denied = api.post("/api/models/", json={"name": "x"}, headers=reader)
    assert denied.status_code == 403
    assert api.get("/api/models/").status_code == 401
    assert api.get("/api/model_files/download_status/").status_code == 401
