"""The authorization matrix, generated from the app's route table and `waza.gateway.access`.

- every route has a declared access rule that agrees with its dependencies;
- without a token every route but the public ones answers 401;
- admin-only routes refuse normal users, and `read`/`write` PATs (an admin's too), with 403;
- a `read` PAT cannot call any route that changes something (403);
- user B acting on user A's objects (one of every owned kind) gets 403 or 404 on every
  owner-scoped route, and A's objects are unchanged afterwards.

Against a live `waza api` (real database, real services). Objects that need a running backend
to be created through the API (model deployments on Ray, App Garden deployments, RAG and
retrieval jobs) are written as rows into the server's database, as those services would.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from tests.conftest import LiveServer
from tests.reliability.conftest import Callers
from waza.gateway.access import (
    Access,
    RouteRule,
    UndeclaredRoute,
    audit,
    normalize,
    route_rules,
)
from waza.gateway.app import create_app
from waza.gateway.deps import CurrentUser

SAFE = {"GET", "HEAD", "OPTIONS"}
DUMMY_ID = "00000000-0000-4000-8000-000000000001"
VECTOR = [0.1, 0.2, 0.3, 0.4]


@pytest.fixture(scope="module")
def rules(platform_api: LiveServer) -> list[RouteRule]:
    """Every operation of an app built with the live server's settings (not started)."""
    return list(route_rules(create_app(platform_api.settings)))


def _fill(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        return "urn:li:dataset:(urn:li:dataPlatform:file,none,PROD)" if "urn" in name else DUMMY_ID

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


def _call(
    http: httpx.Client, rule: RouteRule, headers: dict[str, str], **kw: Any
) -> httpx.Response:
    return http.request(
        rule.method, _fill(rule.path, kw.pop("values", {})), headers=headers, timeout=60, **kw
    )


# ---- declarations ----------------------------------------------------------------------------
def test_every_route_declares_a_rule_that_matches_its_dependencies(
    platform_api: LiveServer,
) -> None:
    assert audit(create_app(platform_api.settings)) == []


def test_a_new_route_without_a_rule_fails() -> None:
    router = APIRouter()

    @router.get("/api/brand-new")
    def brand_new(user: CurrentUser) -> dict[str, str]:
        return {}

    @router.get("/api/health")  # declared public, but this one wants a token
    def health(user: CurrentUser) -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    assert audit(app, complete=False) == [
        "GET /api/brand-new has no access rule in waza.gateway.access",
        "GET /api/health: declared public but requires a token (user)",
    ]
    with pytest.raises(UndeclaredRoute, match="GET /api/brand-new"):
        list(route_rules(app))


# ---- tokens ----------------------------------------------------------------------------------
def test_without_a_token_only_public_routes_answer(
    http: httpx.Client, rules: list[RouteRule]
) -> None:
    wrong = []
    for rule in rules:
        reply = _call(http, rule, {})
        access = rule.rule.access
        if access is Access.PUBLIC:
            ok = reply.status_code < 500 and reply.status_code != 401
        elif access is Access.SELF:
            ok = reply.status_code in (401, 403, 404, 422)
        else:
            ok = reply.status_code == 401
        if not ok:
            wrong.append(
                f"{rule.method} {rule.path} ({access}): {reply.status_code} {reply.text[:120]}"
            )
    assert not wrong, "\n".join(wrong)


def test_admin_routes_refuse_everyone_else(
    http: httpx.Client, rules: list[RouteRule], callers: Callers
) -> None:
    who = {
        "user": callers.user,
        "user_read": callers.user_read,
        "user_write": callers.user_write,
        "admin_read": callers.admin_read,
        "admin_write": callers.admin_write,
    }
    admin_rules = [r for r in rules if r.rule.access is Access.ADMIN]
    assert len(admin_rules) > 30
    wrong = []
    for rule in admin_rules:
        for name, headers in who.items():
            reply = _call(http, rule, headers)
            if reply.status_code != 403:
                wrong.append(f"{rule.method} {rule.path} as {name}: {reply.status_code}")
    assert not wrong, "\n".join(wrong)


def test_read_tokens_change_nothing(
    http: httpx.Client, rules: list[RouteRule], callers: Callers
) -> None:
    changes = [
        r
        for r in rules
        if r.method not in SAFE and r.auth_dependency in ("user", "admin")  # "reader": computes
    ]
    wrong = []
    for rule in changes:
        for name, headers in (("user_read", callers.user_read), ("admin_read", callers.admin_read)):
            reply = _call(http, rule, headers)
            if reply.status_code != 403:
                wrong.append(f"{rule.method} {rule.path} as {name}: {reply.status_code}")
    assert not wrong, "\n".join(wrong)


# ---- owned objects ---------------------------------------------------------------------------
@dataclass
class Owned:
    """One of A's objects: the values that address it, and how A (or an admin) reads it back."""

    address: dict[str, str]
    read: Callable[[], Any]


_VOLATILE = {"updated_at", "last_used_at", "last_login", "last_seen", "next_run", "expires_in"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _reader(http: httpx.Client, url: str, headers: dict[str, str], **kw: Any) -> Callable[[], Any]:
    def read() -> Any:
        reply = http.get(url, headers=headers, **kw)
        assert reply.status_code == 200, f"{url}: {reply.status_code} {reply.text}"
        return _stable(reply.json())

    return read


def _created(reply: httpx.Response) -> Any:
    assert reply.status_code in (200, 201), reply.text
    return reply.json()


@pytest.fixture(scope="module")
def owned(
    http: httpx.Client, callers: Callers, platform_api: LiveServer
) -> Iterator[dict[str, Owned]]:
    """A's objects, one of every owned kind the access rules name."""
    a, admin = callers.user, callers.admin
    me = _created(http.get("/api/auth/users/me", headers=a))
    a_id = str(me["sub"])
    objects: dict[str, Owned] = {
        "user": Owned({"user_id": a_id}, _reader(http, f"/api/auth/users/{a_id}", admin)),
    }
    pat = _created(http.post("/api/auth/pats?name=a-owned&scope=read", headers=a))
    jti = str(pat["pat"]["jti"])

    def read_pat() -> Any:
        pats = _created(http.get("/api/auth/pats", headers=a))
        items = pats["pats"] if isinstance(pats, dict) else pats
        return _stable([p for p in items if p["jti"] == jti])

    objects["pat"] = Owned({"jti": jti}, read_pat)

    db = _created(
        http.post(
            "/api/context/vectordbs", json={"name": "a-vectors", "engine": "qdrant"}, headers=a
        )
    )
    vdb = str(db["id"])
    objects["vectordb"] = Owned(
        {"vectordb_id": vdb}, _reader(http, f"/api/context/vectordbs/{vdb}", a)
    )
    insert = {
        "collection_name": "a_docs",
        "vectors": [VECTOR, VECTOR],
        "metadata": [{"text": "one"}, {"text": "two"}],
        "create_if_missing": True,
    }
    _created(http.post(f"/api/context/vectordbs/{vdb}/insert", json=insert, headers=a))
    objects["collection"] = Owned(
        {"vectordb_id": vdb, "name": "a_docs", "collection_name": "a_docs"},
        _reader(http, "/api/context/collections/a_docs", a, params={"vectordb_id": vdb}),
    )

    ds = _created(
        http.post("/api/catalog/datasets/", json={"name": "a_ds", "platform": "file"}, headers=a)
    )
    objects["dataset"] = Owned(
        {"urn": ds, "dataset_urn": ds},
        _reader(http, "/api/catalog/datasets/by-urn", a, params={"urn": ds}),
    )
    secret = _created(
        http.post("/api/catalog/secrets/", json={"name": "a-secret", "value": "s3cr3t"}, headers=a)
    )
    objects["secret"] = Owned(
        {"urn": secret}, _reader(http, "/api/catalog/secrets/by-urn", a, params={"urn": secret})
    )
    (platform_api.settings.home / "data").mkdir(exist_ok=True)
    job = {
        "job_id": "a-job",
        "schedule": "0 0 1 1 *",
        "source_type": "file",
        "conn_args": {"path": str(platform_api.settings.home / "data")},
    }
    _created(http.post("/api/ingestion/ingest/jobs", json=job, headers=a))
    objects["ingest_job"] = Owned(
        {"job_id": "a-job"}, _reader(http, "/api/ingestion/ingest/status/a-job", a)
    )

    model = _created(
        http.post("/api/models/", json={"name": "a-model", "private": True}, headers=a)
    )
    m_id = str(model["id"])
    objects["model"] = Owned({"model_id": m_id}, _reader(http, f"/api/models/{m_id}", a))
    mfile = _created(
        http.post("/api/model_files/", json={"name": "a.gguf", "model_id": m_id}, headers=a)
    )
    f_id = str(mfile["id"])
    objects["model_file"] = Owned(
        {"model_file_id": f_id}, _reader(http, f"/api/model_files/{f_id}", a)
    )
    config = _created(
        http.post("/api/model_configs/", json={"m_id": m_id, "name": "a-config"}, headers=a)
    )
    c_id = str(config["id"])
    objects["model_config"] = Owned(
        {"model_config_id": c_id, "m_id": m_id}, _reader(http, f"/api/model_configs/{c_id}", a)
    )

    template = _created(
        http.post(
            "/api/apps/app_templates",
            json={
                "name": "a-app",
                "compose_yml": "services:\n  web:\n    image: nginx:alpine\n",
                "visibility": "private",
            },
            headers=admin,  # only admins create templates: B is refused an admin's private one
        )
    )
    t_id = str(template["id"])
    objects["app_template"] = Owned(
        {"template_id": t_id}, _reader(http, f"/api/apps/app_templates/{t_id}", admin)
    )
    for kind in ("role", "system", "element", "template"):
        prompt = _created(
            http.post(
                f"/api/prompts/{kind}s", json={"name": f"a-{kind}", "content": "hi"}, headers=a
            )
        )
        p_id = str(prompt["id"])
        objects[f"prompt_{kind}"] = Owned(
            {"prompt_id": p_id, "template_id": p_id},
            _reader(http, f"/api/prompts/{kind}s/{p_id}", a),
        )

    rows = _insert_rows(platform_api, uuid.UUID(a_id), uuid.UUID(m_id), uuid.UUID(c_id), ds)
    objects["deployment"] = Owned(
        {"deployment_id": rows["deployment"], "deployment_type": "llamacpp"},
        _reader(http, f"/api/serving/deployment/{rows['deployment']}", a),
    )
    objects["model_instance"] = Owned(
        {"instance_id": rows["model_instance"]},
        _reader(http, f"/api/serving/model_instance/{rows['model_instance']}", a),
    )
    objects["rag_job"] = Owned(
        {"job_id": rows["rag_job"]}, _reader(http, f"/api/ingestion/rag/jobs/{rows['rag_job']}", a)
    )
    objects["retrieval_job"] = Owned(
        {"job_id": rows["retrieval_job"]},
        _reader(http, f"/api/retrieval/jobs/{rows['retrieval_job']}", a),
    )
    objects["app_deployment"] = Owned(
        {"deployment_id": rows["app_deployment"]},
        _reader(http, f"/api/apps/deployment/{rows['app_deployment']}", a),
    )
    objects["app_instance"] = Owned(
        {"instance_id": rows["app_instance"]},
        _reader(http, f"/api/apps/instance/{rows['app_instance']}", a),
    )
    yield objects


def _insert_rows(
    platform_api: LiveServer, owner: uuid.UUID, m_id: uuid.UUID, c_id: uuid.UUID, dataset: str
) -> dict[str, str]:
    """Rows as the serving, ingestion, retrieval and App Garden services write them (finished or
    failed, so no background loop picks them up)."""
    from waza.db.engine import Database
    from waza.services.apps.models import AppDeployment, AppInstance
    from waza.services.ingestion.models import RagJob
    from waza.services.retrieval.models import RetrievalJob
    from waza.services.serving.models import Deployment, DeploymentInstance

    database = Database(platform_api.settings.effective_database_url)
    ids = {k: uuid.uuid4() for k in ("dep", "inst", "rag", "ret", "app", "app_inst")}
    dep_id, inst_id, rag_id = ids["dep"], ids["inst"], ids["rag"]
    ret_id, app_id, app_inst_id = ids["ret"], ids["app"], ids["app_inst"]

    def write(session: Any) -> None:
        session.add(
            Deployment(
                id=dep_id, owner_id=owner, m_id=m_id, m_config_id=c_id, m_name="a-model",
                private=True, engine_name="llamacpp", status="FAILED",
                last_error_code="TEST", last_error_message="written by the test",
            )
        )  # fmt: skip
        session.flush()
        session.add(
            DeploymentInstance(
                id=inst_id, deployment_id=dep_id, replica_name="a#1", status="FAILED"
            )
        )
        session.add(
            RagJob(
                id=rag_id, owner_id=owner, owner_username="alice", owner_roles=["user"],
                worker="test", status="FAILED", path="/nowhere", collection="a_docs",
            )
        )  # fmt: skip
        session.add(
            RetrievalJob(
                id=ret_id, owner_id=owner, dataset_urn=dataset, platform="file",
                transport="sse", status="FAILED", error="written by the test",
            )
        )  # fmt: skip
        session.add(AppDeployment(id=app_id, owner_id=owner, name="a-app", status="FAILED"))
        session.flush()
        session.add(AppInstance(id=app_inst_id, deployment_id=app_id, status="FAILED"))

    try:
        database.transaction(write)
    finally:
        database.dispose()
    return {
        "deployment": str(dep_id),
        "model_instance": str(inst_id),
        "rag_job": str(rag_id),
        "retrieval_job": str(ret_id),
        "app_deployment": str(app_id),
        "app_instance": str(app_inst_id),
    }


def _body(key: str, a: dict[str, str]) -> Any:
    """A valid request body for an owner-scoped route that needs one (B uses A's object)."""
    collection = {"collection_name": a.get("collection_name", "a_docs")}
    vdb = {"vectordb_id": a.get("vectordb_id", DUMMY_ID)}
    prompt_change = {"content": "taken over"}
    schema = {"name": "s", "platform": "file", "fields": []}
    drop = {"filter": {"text": "one"}}
    bodies: dict[str, Any] = {
        "PUT /api/context/vectordbs/{vectordb_id}": {"description": "taken over"},
        "POST /api/context/vectordbs/{vectordb_id}/scale": {"replicas": 2},
        "POST /api/context/vectordbs/{vectordb_id}/insert": {**collection, "vectors": [VECTOR]},
        "POST /api/context/vectordbs/{vectordb_id}/query": {**collection, "vectors": [VECTOR]},
        "POST /api/context/vectordbs/{vectordb_id}/delete": {**collection, **drop},
        "POST /api/context/vectordbs/insert": {**vdb, **collection, "vectors": [VECTOR]},
        "POST /api/context/vectordbs/query": {**vdb, **collection, "vectors": [VECTOR]},
        "POST /api/context/vectordbs/delete": {**vdb, **collection, **drop},
        "POST /api/ingestion/rag/query": {**vdb, "collection": "a_docs", "question": "what?"},
        "POST /api/context/search": {**vdb, **collection, "query": "what?"},
        "POST /api/context/retrieve": {**vdb, "collection_names": ["a_docs"], "query": "what?"},
        "PATCH /api/catalog/datasets/by-urn": {"description": "taken over"},
        "PATCH /api/catalog/datasets/v2/{urn}": {"description": "taken over"},
        "PATCH /api/catalog/datasets/{urn}": {"description": "taken over"},
        "PUT /api/catalog/datasets/by-urn/schema": schema,
        "PUT /api/catalog/datasets/v2/{urn}/schema": schema,
        "PUT /api/catalog/datasets/{urn}/schema": schema,
        "PUT /api/model_configs/{model_config_id}": {"m_id": a.get("m_id"), "name": "taken"},
        "PUT /api/apps/app_templates/{template_id}": {"display_name": "taken over"},
        "POST /api/prompts/templates/{template_id}/render": {"variables": {}},
        "POST /runtime/models/{deployment_id}/v1/chat/completions": {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
        },
        "POST /runtime/models/{deployment_id}/v1/completions": {"model": "m", "prompt": "hi"},
        "POST /runtime/models/{deployment_id}/v1/embeddings": {"model": "m", "input": "hi"},
    }
    for kind in ("roles", "systems", "elements", "templates"):
        for method in ("PUT", "PATCH"):
            bodies[f"{method} /api/prompts/{kind}/{{prompt_id}}"] = prompt_change
    return bodies.get(key)


def _owner_requests(
    rules: list[RouteRule], owned: dict[str, Owned]
) -> Iterator[tuple[str, RouteRule, dict[str, Any]]]:
    """Each owner-scoped operation once, with the request arguments that address A's object."""
    seen: set[str] = set()
    for rule in rules:
        if rule.rule.access is not Access.OWNER or rule.rule.kind is None:
            continue
        key = f"{rule.method} {normalize(rule.path)}"
        if key in seen:  # the same operation under another mount (trailing slash, alias)
            continue
        seen.add(key)
        address = owned[rule.rule.kind].address
        kw: dict[str, Any] = {"values": address}
        if "{" not in rule.path or "by-urn" in rule.path:
            kw["params"] = {k: v for k, v in address.items() if k in ("urn", "vectordb_id")}
        elif "collections" in rule.path:
            kw["params"] = {"vectordb_id": address["vectordb_id"]}
        body = _body(key, address)
        if body is not None:
            kw["json"] = body
        yield key, rule, kw


def test_owners_reach_their_objects(
    http: httpx.Client, rules: list[RouteRule], callers: Callers, owned: dict[str, Owned]
) -> None:
    """The control for the next test: the same reads, sent by A (an admin for the admin-made
    template), find the objects, so B's 403/404 are about B and not about the addresses."""
    answers: dict[str, int] = {}
    for key, rule, kw in _owner_requests(rules, owned):
        if rule.method != "GET" or key.endswith("/stream"):
            continue
        headers = callers.admin if rule.rule.kind == "app_template" else callers.user
        answers[key] = _call(http, rule, headers, **kw).status_code
    refused = {k: v for k, v in answers.items() if v in (401, 403)}
    found = [k for k, v in answers.items() if v < 300]
    assert not refused, refused
    assert len(found) >= 0.8 * len(answers), {k: v for k, v in answers.items() if v >= 300}


def test_b_cannot_touch_a_s_objects(
    http: httpx.Client, rules: list[RouteRule], callers: Callers, owned: dict[str, Owned]
) -> None:
    kinds = {r.rule.kind for r in rules if r.rule.access is Access.OWNER}
    assert not kinds - set(owned), f"no object of these kinds to test with: {kinds - set(owned)}"
    before = {kind: obj.read() for kind, obj in owned.items()}
    wrong, count = [], 0
    for key, rule, kw in _owner_requests(rules, owned):
        count += 1
        reply = _call(http, rule, callers.other, **kw)
        if reply.status_code not in (403, 404):
            wrong.append(f"{key} as B: {reply.status_code} {reply.text[:160]}")
    after = {kind: obj.read() for kind, obj in owned.items()}
    changed = [kind for kind in before if before[kind] != after[kind]]
    assert not wrong, "\n".join(wrong)
    assert not changed, f"A's objects changed by B's calls: {changed}"
    assert count > 60
