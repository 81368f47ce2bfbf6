"""The fuzzer's findings, each pinned by one direct request (in process: fast and exact).

docs/reliability.md lists them; `test_fuzz.py` finds new ones.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, login, running_app
from waza.gateway.bounds import MAX_BIGINT, MAX_OFFSET

HUGE = 3724017707135024677466176225280  # a skip the fuzzer sent (> 2**63)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with running_app(tmp_path_factory.mktemp("regressions")) as client:
        yield client, login(client, "admin", ADMIN_PASSWORD)


@pytest.mark.parametrize(
    "path",
    [
        "/api/activity/activities?skip={n}",
        "/api/cluster/locations?skip={n}",
        "/api/catalog/datasets/?skip={n}",
        "/api/catalog/containers/?skip={n}",
        "/api/retrieval/jobs?offset={n}",
    ],
)
def test_a_huge_offset_is_a_422_not_a_driver_error(
    api: tuple[TestClient, dict[str, str]], path: str
) -> None:
    client, admin = api
    reply = client.get(path.format(n=HUGE), headers=admin)
    assert reply.status_code == 422, reply.text
    assert client.get(path.format(n=MAX_OFFSET), headers=admin).status_code == 200


def test_a_huge_file_size_is_a_422(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    too_big = {"name": "f.gguf", "size": MAX_BIGINT + 1}
    reply = client.post("/api/model_files/", json=too_big, headers=admin)
    assert reply.status_code == 422, reply.text
    model = {"name": "m", "m_files": [too_big]}
    assert client.post("/api/models/", json=model, headers=admin).status_code == 422


def test_upload_form_fields_have_the_model_limits(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    files = {"files": ("a.gguf", io.BytesIO(b"GGUF"), "application/octet-stream")}
    reply = client.post("/api/models/upload", data={"name": "x" * 513}, files=files, headers=admin)
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"][0]["loc"] == ["body", "name"]


def test_a_pat_body_that_is_not_utf8_is_a_422(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    headers = {**admin, "Content-Type": "application/json"}
    reply = client.post("/api/auth/pats?name=x", content=b"\x80\x81\xfa", headers=headers)
    assert reply.status_code == 422, reply.text
    assert "UTF-8" in reply.json()["detail"]


def test_a_deployment_port_is_a_port(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    body = {"m_id": "00000000-0000-4000-8000-000000000001", "lb_port": 70000}
    reply = client.post("/api/serving/deploy_model", json=body, headers=admin)
    assert reply.status_code == 422, reply.text


def _responses(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    responses: dict[str, Any] = doc["paths"][path][method]["responses"]
    return responses


def test_the_document_lists_the_shared_statuses(api: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = api
    doc = client.get("/api/openapi.json").json()
    # 401 wherever a token is taken; 403 for a read token on a change and on admin routes
    assert {"401", "403"} <= _responses(doc, "/api/auth/pats/{jti}", "delete").keys()
    assert "401" in _responses(doc, "/api/activity/activities/", "get")
    assert "403" in _responses(doc, "/api/cluster/clusters", "get")
    assert "403" not in _responses(doc, "/api/cluster/nodes", "get")
    assert "401" not in _responses(doc, "/api/ping", "get")
    # 400 for an undecodable body
    assert "400" in _responses(doc, "/api/cluster/hardware", "post")
    # 422: field errors or a message
    detail = doc["components"]["schemas"]["HTTPValidationError"]["properties"]["detail"]
    assert {"type": "string"} in detail["anyOf"]
    # /auth/validate answers headers and no body
    assert "content" not in _responses(doc, "/api/auth/validate", "get")["200"]
