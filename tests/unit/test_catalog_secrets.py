"""Catalog secrets: URN forms, clobber, ownership, encryption at rest and key rotation."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select

from tests.conftest import ADMIN_PASSWORD, login, running_app
from waza.crypto import Envelope
from waza.db import Database
from waza.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable
from waza.services.catalog import schemas
from waza.services.catalog.models import CatalogSecret
from waza.services.catalog.service import CatalogService
from waza.settings import Settings

Headers = dict[str, str]
BASE = "/api/catalog/secrets"


def unique(prefix: str = "secret") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tmp_path_factory.mktemp("catalog-secrets")) as client:
        yield client


@pytest.fixture(scope="module")
def admin(api: TestClient) -> Headers:
    headers = login(api, "admin", ADMIN_PASSWORD)
    api.cookies.clear()
    return headers


@pytest.fixture(scope="module")
def make_user(api: TestClient, admin: Headers) -> Callable[[], tuple[str, Headers]]:
    def make() -> tuple[str, Headers]:
        name = unique("user")
        body = {"username": name, "password": f"pw-{name}", "roles": ["user"]}
        assert api.post("/api/auth/users/local", json=body, headers=admin).status_code == 201
        headers = login(api, name, f"pw-{name}")
        api.cookies.clear()
        return name, headers

    return make


@pytest.fixture(scope="module")
def alice(make_user: Callable[[], tuple[str, Headers]]) -> tuple[str, Headers]:
    return make_user()


@pytest.fixture(scope="module")
def bob(make_user: Callable[[], tuple[str, Headers]]) -> tuple[str, Headers]:
    return make_user()


def create(
    api: TestClient,
    headers: Headers,
    name: str,
    value: str,
    clobber: str | None = None,
    **extra: str,
) -> tuple[int, object]:
    params = {"clobber": clobber} if clobber is not None else {}
    reply = api.post(
        BASE + "/", params=params, json={"name": name, "value": value, **extra}, headers=headers
    )
    return reply.status_code, reply.json()


def test_create_read_list_delete_in_every_form(api: TestClient, admin: Headers) -> None:
    value = "v-" + uuid.uuid4().hex
    for form in ("v2", "path", "by-urn"):
        name = unique(f"db password {form}")  # a space: the raw v2 path must still work
        status, urn = create(
            api, admin, name, value, owner="urn:li:corpuser:admin", description="d"
        )
        assert status == 201 and urn == f"urn:li:dataHubSecret:{name}"
        assert isinstance(urn, str)
        reads = {
            "v2": (f"{BASE}/v2/{urn}", {}),  # the raw, unencoded URN as the SDK sends it
            "path": (f"{BASE}/{quote(urn, safe='')}", {}),
            "by-urn": (f"{BASE}/by-urn", {"urn": urn}),
        }
        for url, params in reads.values():
            reply = api.get(url, params=params, headers=admin)
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert (body["urn"], body["name"], body["owner"], body["description"]) == (
                urn,
                name,
                "urn:li:corpuser:admin",
                "d",
            )
            assert value not in reply.text and "value" not in body
        listed = api.get(BASE + "/", params={"query": name.upper()}, headers=admin)
        assert [s["urn"] for s in listed.json()] == [urn]
        assert value not in listed.text
        url, params = reads[form]
        assert api.delete(url, params=params, headers=admin).status_code == 204
        for read_url, read_params in reads.values():
            assert api.get(read_url, params=read_params, headers=admin).status_code == 404


def test_duplicate_without_clobber_is_409_and_clobber_replaces(
    api: TestClient, admin: Headers
) -> None:
    name = unique()
    assert create(api, admin, name, "first")[0] == 201
    status, body = create(api, admin, name, "second", clobber="false")
    assert status == 409 and "clobber" in str(body)
    assert create(api, admin, name, "second")[0] == 409  # clobber defaults to false
    status, urn = create(api, admin, name, "third", clobber="true", description="new")
    assert status == 201 and urn == f"urn:li:dataHubSecret:{name}"
    ctx = api.app.state.waza  # type: ignore[attr-defined]
    admin_principal = ctx.auth.resolve(admin["Authorization"].split(" ", 1)[1])
    assert ctx.catalog.reveal_secret(admin_principal, urn) == "third"
    assert (
        api.get(f"{BASE}/by-urn", params={"urn": urn}, headers=admin).json()["description"] == "new"
    )
    assert len(api.get(BASE + "/", params={"query": name}, headers=admin).json()) == 1


def test_secrets_belong_to_their_owner(
    api: TestClient, admin: Headers, alice: tuple[str, Headers], bob: tuple[str, Headers]
) -> None:
    alice_name, alice_h = alice
    bob_name, bob_h = bob
    status, urn = create(api, alice_h, unique("alice"), "alice-value")
    assert status == 201
    mine = api.get(f"{BASE}/by-urn", params={"urn": urn}, headers=alice_h).json()
    assert mine["owner"] == f"urn:li:corpuser:{alice_name}"  # defaults to the caller
    for url, params in ((f"{BASE}/v2/{urn}", {}), (f"{BASE}/by-urn", {"urn": urn})):
        assert api.get(url, params=params, headers=bob_h).status_code == 403
        assert api.delete(url, params=params, headers=bob_h).status_code == 403
    name = str(urn).rsplit(":", 1)[1]
    assert create(api, bob_h, name, "hijack", clobber="true")[0] == 403
    assert urn not in {s["urn"] for s in api.get(BASE + "/", headers=bob_h).json()}
    assert urn in {s["urn"] for s in api.get(BASE + "/", headers=admin).json()}
    assert api.get(f"{BASE}/by-urn", params={"urn": urn}, headers=admin).status_code == 200

    # Only an admin may name someone else as the owner; the named owner may then use it.
    status, _ = create(api, alice_h, unique(), "x", owner=f"urn:li:corpuser:{bob_name}")
    assert status == 403
    status, for_bob = create(
        api, admin, unique("for-bob"), "y", owner=f"urn:li:corpuser:{bob_name}"
    )
    assert status == 201
    assert api.get(f"{BASE}/by-urn", params={"urn": for_bob}, headers=bob_h).status_code == 200
    assert for_bob in {s["urn"] for s in api.get(BASE + "/", headers=bob_h).json()}
    assert api.get(f"{BASE}/by-urn", params={"urn": for_bob}, headers=alice_h).status_code == 403


def test_reveal_secret_checks_access(
    api: TestClient, alice: tuple[str, Headers], bob: tuple[str, Headers]
) -> None:
    ctx = api.app.state.waza  # type: ignore[attr-defined]
    alice_p = ctx.auth.resolve(alice[1]["Authorization"].split(" ", 1)[1])
    bob_p = ctx.auth.resolve(bob[1]["Authorization"].split(" ", 1)[1])
    status, urn = create(api, alice[1], unique(), "s3cr3t-for-ingestion")
    assert status == 201
    assert ctx.catalog.reveal_secret(alice_p, urn) == "s3cr3t-for-ingestion"
    with pytest.raises(Forbidden):
        ctx.catalog.reveal_secret(bob_p, urn)
    with pytest.raises(NotFound):
        ctx.catalog.reveal_secret(alice_p, "urn:li:dataHubSecret:nope-" + uuid.uuid4().hex)
    with pytest.raises(BadRequest):
        ctx.catalog.reveal_secret(alice_p, "not-a-urn")


def test_no_plaintext_in_any_table(
    api: TestClient, admin: Headers, alice: tuple[str, Headers]
) -> None:
    """Read every row of every table in the database: the values appear nowhere."""
    values = [f"plain-{uuid.uuid4().hex}" for _ in range(3)]
    create(api, admin, unique(), values[0])
    create(api, alice[1], unique(), values[1], description="desc")
    name = unique()
    create(api, admin, name, "to-be-replaced")
    create(api, admin, name, values[2], clobber="true")
    db = api.app.state.waza.db  # type: ignore[attr-defined]
    metadata = MetaData()
    metadata.reflect(db.engine)
    assert "catalog_secrets" in metadata.tables
    dump = []
    with db.engine.connect() as conn:
        for table in metadata.tables.values():
            for row in conn.execute(select(table)):
                dump.extend(str(v) for v in row)
        stored = [
            r[0] for r in conn.execute(select(metadata.tables["catalog_secrets"].c.value_encrypted))
        ]
    text = "\n".join(dump)
    for value in [*values, "to-be-replaced"]:
        assert value not in text
    assert stored and all(s.startswith("v1.") for s in stored)


def test_validation_errors_do_not_echo_the_value(api: TestClient, admin: Headers) -> None:
    reply = api.post(
        BASE + "/", json={"name": "bad?name", "value": "echo-me-not-123"}, headers=admin
    )
    assert reply.status_code == 422
    assert "echo-me-not-123" not in reply.text


# ---- key rotation -------------------------------------------------------------------------------
def _service(db: Database, settings: Settings, key: bytes) -> CatalogService:
    return CatalogService(db, settings, Envelope(key))


def test_rotation_moves_secrets_to_the_new_key(client: TestClient, admin_headers: Headers) -> None:
    ctx = client.app.state.waza  # type: ignore[attr-defined]
    admin_p = ctx.auth.resolve(admin_headers["Authorization"].split(" ", 1)[1])
    body = schemas.SecretCreate.model_validate
    old_svc = _service(ctx.db, ctx.settings, b"old-kek")
    urns = [
        old_svc.create_secret(admin_p, body({"name": f"s{i}", "value": f"value-{i}"}))
        for i in range(3)
    ]
    with ctx.db.session() as s:
        before = {r.urn: r.value_encrypted for r in s.scalars(select(CatalogSecret))}

    new_only = _service(ctx.db, ctx.settings, b"new-kek")
    with pytest.raises(ServiceUnavailable):
        new_only.reveal_secret(admin_p, urns[0])
    with pytest.raises(BadRequest):
        new_only.rotate_key()  # no previous key configured

    result = new_only.rotate_key(previous=Envelope(b"old-kek"))
    assert (result.rotated, result.already_current, result.failed) == (3, 0, [])
    fresh = _service(ctx.db, ctx.settings, b"new-kek")  # knows only the new key
    assert [fresh.reveal_secret(admin_p, u) for u in urns] == ["value-0", "value-1", "value-2"]
    with pytest.raises(ServiceUnavailable):
        old_svc.reveal_secret(admin_p, urns[0])
    with ctx.db.session() as s:
        after = {r.urn: r.value_encrypted for r in s.scalars(select(CatalogSecret))}
    assert all(after[u] != before[u] for u in urns)

    again = fresh.rotate_key(previous=Envelope(b"old-kek"))
    assert (again.rotated, again.already_current) == (0, 3)
    stranger = _service(ctx.db, ctx.settings, b"third-kek")
    lost = stranger.rotate_key(previous=Envelope(b"old-kek"))
    assert lost.rotated == 0 and sorted(lost.failed) == sorted(urns)


def test_rotate_key_route(client: TestClient, admin_headers: Headers) -> None:
    client.cookies.clear()
    ctx = client.app.state.waza  # type: ignore[attr-defined]
    status, urn = create(client, admin_headers, "rotated", "route-value")
    assert status == 201
    reply = client.post(f"{BASE}/rotate-key", headers=admin_headers)
    assert reply.status_code == 400 and "previous" in reply.json()["detail"]

    # The operator changes the key and names the old one as the previous key.
    ctx.catalog.envelope = Envelope(b"rotated-kek")
    ctx.catalog.previous_envelope = Envelope(b"test-kek")
    reply = client.post(f"{BASE}/rotate-key", headers=admin_headers)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"rotated": 1, "already_current": 0, "failed": []}
    admin_p = ctx.auth.resolve(admin_headers["Authorization"].split(" ", 1)[1])
    ctx.catalog.previous_envelope = None
    assert ctx.catalog.reveal_secret(admin_p, urn) == "route-value"

    body = {"username": "carol", "password": "carol-pass-1", "roles": ["user"]}
    client.post("/api/auth/users/local", json=body, headers=admin_headers)
    carol = login(client, "carol", "carol-pass-1")
    client.cookies.clear()
    assert client.post(f"{BASE}/rotate-key", headers=carol).status_code == 403


def test_previous_key_from_settings(make_settings: Callable[..., Settings]) -> None:
    """`secret_key_previous` (WAZA_SECRET_KEY_PREVIOUS) is the key rotation moves away from."""
    db = Database("sqlite://")
    settings = make_settings(secret_key="new", secret_key_previous="old")
    svc = CatalogService(db, settings, Envelope(b"new"))
    assert svc.previous_envelope is not None
    assert svc.previous_envelope.decrypt(Envelope(b"old").encrypt("x")) == b"x"
    assert CatalogService(db, make_settings(), Envelope(b"new")).previous_envelope is None
    db.dispose()
