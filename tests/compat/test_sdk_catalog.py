"""The catalog through the real kamiwaza-sdk against a live `waza api` (digest §7; flows 9-11).

Also the percent-encoded path forms over real HTTP: uvicorn decodes `%2F` before routing, which
the in-process tests cannot show as faithfully.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.exceptions import APIError, NotFoundError
from kamiwaza_sdk.schemas.catalog import (
    Container,
    ContainerCreate,
    ContainerUpdate,
    Dataset,
    DatasetUpdate,
    Schema,
    SchemaField,
    Secret,
    SecretCreate,
)
from pydantic import SecretStr

from tests.compat.conftest import Account

Login = Callable[[str, str], KamiwazaClient]
MakeAccount = Callable[..., Account]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_probes(admin_sdk: KamiwazaClient) -> None:
    assert admin_sdk.catalog.health() == {"status": "ok"}
    assert admin_sdk.catalog.metadata()["service"] == "Kamiwaza Catalog Service"


def test_flow_9_dataset_lifecycle(admin_sdk: KamiwazaClient) -> None:
    c = admin_sdk.catalog
    name = unique("sdk data/set, one")  # `/`, a space and a comma
    d = c.create_dataset(name, "file", properties={"path": "/tmp/x"})
    assert isinstance(d, Dataset)
    assert d.urn == f"urn:li:dataset:(urn:li:dataPlatform:file,{name.replace(',', '%2C')},PROD)"
    assert (d.name, d.platform, d.environment) == (name, "file", "PROD")
    assert d.properties["path"] == d.properties["location"] == "/tmp/x"

    got = c.get_dataset(d.urn)
    assert (got.urn, got.name, got.created_at is not None) == (d.urn, name, True)
    assert d.urn in {x.urn for x in c.datasets.list(query=name)}  # at once, no polling
    assert d.urn in {x.urn for x in c.list_datasets(query=name.upper())}

    updated = c.datasets.update(d.urn, DatasetUpdate(description="desc", tags=["a", "b"]))
    assert (updated.description, updated.tags) == ("desc", ["a", "b"])
    assert updated.properties["path"] == "/tmp/x"

    schema = Schema(
        name="t",
        platform="file",
        fields=[
            SchemaField(name="id", type="int64"),
            SchemaField(name="text", type="string", description="body"),
        ],
    )
    c.datasets.update_schema(d.urn, schema)
    back = c.datasets.get_schema(d.urn)
    assert [(f.name, f.type, f.description) for f in back.fields] == [
        ("id", "int64", None),
        ("text", "string", "body"),
    ]
    assert back.version == 1
    assert c.get_dataset(d.urn).dataset_schema == back

    c.datasets.delete(d.urn)
    with pytest.raises(NotFoundError):
        c.get_dataset(d.urn)
    assert d.urn not in {x.urn for x in c.list_datasets(query=name)}


def test_duplicate_dataset_is_409(admin_sdk: KamiwazaClient) -> None:
    name = unique("dup")
    admin_sdk.catalog.create_dataset(name, "file")
    with pytest.raises(APIError) as exc:
        admin_sdk.catalog.create_dataset(name, "file")
    assert exc.value.status_code == 409


def test_flow_10_containers(admin_sdk: KamiwazaClient) -> None:
    c = admin_sdk.catalog
    d = c.create_dataset(unique("member/x, y"), "file")
    name = unique("sdk container")
    u = c.containers.create(ContainerCreate(name=name, platform="file"))
    assert isinstance(u, str) and u.startswith("urn:li:container:")
    assert [x.urn for x in c.containers.list(query=name)] == [u]
    got = c.containers.get(u)
    assert isinstance(got, Container)
    assert (got.name, got.platform, got.datasets) == (name, "file", [])
    changed = c.containers.update(u, ContainerUpdate(description="shelf", tags=["t"]))
    assert (changed.description, changed.tags) == ("shelf", ["t"])

    added = c.containers.add_dataset(u, d.urn)
    assert isinstance(added, dict) and d.urn in added["datasets"]
    assert c.containers.get(u).datasets == [d.urn]
    assert c.get_dataset(d.urn).container_urn == u
    c.containers.remove_dataset(u, d.urn)
    assert c.containers.get(u).datasets == []

    c.containers.delete(u)
    with pytest.raises(NotFoundError):
        c.containers.get(u)
    assert c.get_dataset(d.urn).urn == d.urn  # the dataset stays


def test_containers_refuse_a_normal_user(make_account: MakeAccount, sdk_login: Login) -> None:
    user = make_account("testuser")
    client = sdk_login(user.username, user.password)
    with pytest.raises(APIError) as exc:
        client.catalog.containers.list()
    assert exc.value.status_code == 403
    with pytest.raises(APIError) as exc:
        client.get("/catalog/containers/")
    assert exc.value.status_code == 403


def test_flow_11_secrets(admin_sdk: KamiwazaClient) -> None:
    c = admin_sdk.catalog
    name = unique("sdk-secret")
    s = c.secrets.create(
        SecretCreate(name=name, value=SecretStr("v"), owner="urn:li:corpuser:admin"),
        clobber=True,
    )
    assert s == f"urn:li:dataHubSecret:{name}"
    got = c.secrets.get(s)  # GET /catalog/secrets/v2/<raw urn>
    assert isinstance(got, Secret)
    assert (got.urn, got.name, got.owner) == (s, name, "urn:li:corpuser:admin")
    assert [x.urn for x in c.list_secrets(query=name)] == [s]
    raw = admin_sdk.get(f"/catalog/secrets/v2/{s}")
    assert "value" not in raw and "v" not in raw.values()

    again = c.secrets.create(
        SecretCreate(name=name, value=SecretStr("v2"), owner="urn:li:corpuser:admin"),
        clobber=True,
    )
    assert again == s
    with pytest.raises(APIError) as exc:
        c.secrets.create(
            SecretCreate(name=name, value=SecretStr("v3"), owner="urn:li:corpuser:admin")
        )
    assert exc.value.status_code == 409

    c.secrets.delete(s)
    with pytest.raises(NotFoundError):
        c.secrets.get(s)
    assert c.list_secrets(query=name) == []


def test_secret_of_another_user_is_403(
    admin_sdk: KamiwazaClient, make_account: MakeAccount, sdk_login: Login
) -> None:
    owner = make_account("owner")
    other = make_account("other")
    owner_sdk = sdk_login(owner.username, owner.password)
    other_sdk = sdk_login(other.username, other.password)
    s = owner_sdk.catalog.secrets.create(
        SecretCreate(
            name=unique("mine"), value=SecretStr("x"), owner=f"urn:li:corpuser:{owner.username}"
        )
    )
    assert owner_sdk.catalog.secrets.get(s).urn == s
    with pytest.raises(APIError) as exc:
        other_sdk.catalog.secrets.get(s)
    assert exc.value.status_code == 403
    assert admin_sdk.catalog.secrets.get(s).urn == s

    d = owner_sdk.catalog.create_dataset(unique("private"), "file")
    with pytest.raises(APIError) as exc:
        other_sdk.catalog.get_dataset(d.urn)
    assert exc.value.status_code == 403
    assert d.urn not in {x.urn for x in other_sdk.catalog.list_datasets()}


@pytest.mark.parametrize("prefix", ["v2/", ""])
def test_encoded_path_forms_over_http(
    admin_sdk: KamiwazaClient, http: httpx.Client, admin_auth: dict[str, str], prefix: str
) -> None:
    """`quote(urn, safe="")` paths, as the Kamiwaza tests send them (`%2F` decoded by uvicorn)."""
    name = unique("deep/nested path/file, v1.csv")
    d = admin_sdk.catalog.create_dataset(name, "file")
    path = f"/api/catalog/datasets/{prefix}{quote(d.urn, safe='')}"
    got = http.get(path, headers=admin_auth)
    assert got.status_code == 200 and got.json()["name"] == name
    patched = http.patch(path, json={"description": "p"}, headers=admin_auth)
    assert patched.json()["description"] == "p"
    body = {"name": "s", "platform": "file", "fields": [{"name": "a", "type": "string"}]}
    assert http.put(path + "/schema", json=body, headers=admin_auth).status_code == 200
    assert http.get(path + "/schema", headers=admin_auth).json()["fields"][0]["name"] == "a"

    container = admin_sdk.catalog.containers.create(ContainerCreate(name=unique("c")))
    cpath = f"/api/catalog/containers/{prefix}{quote(container, safe='')}"
    added = http.post(cpath + "/datasets", json={"dataset_urn": d.urn}, headers=admin_auth)
    assert added.status_code == 200 and added.json()["datasets"] == [d.urn]
    removed = http.delete(f"{cpath}/datasets/{quote(d.urn, safe='')}", headers=admin_auth)
    assert removed.status_code == 200 and removed.json()["datasets"] == []
    assert http.delete(cpath, headers=admin_auth).status_code == 204

    s = admin_sdk.catalog.secrets.create(
        SecretCreate(
            name=unique("path secret"), value=SecretStr("x"), owner="urn:li:corpuser:admin"
        )
    )
    spath = f"/api/catalog/secrets/{prefix}{quote(s, safe='')}"
    assert http.get(spath, headers=admin_auth).json()["urn"] == s
    assert http.delete(spath, headers=admin_auth).status_code == 204

    assert http.delete(path, headers=admin_auth).status_code == 204
    assert http.get(path, headers=admin_auth).status_code == 404
    bad = http.get(
        f"/api/catalog/datasets/{prefix}{quote('urn:li:nope', safe='')}", headers=admin_auth
    )
    assert bad.status_code == 400 and "Malformed" in bad.json()["detail"]


def test_register_from_spec(admin_sdk: KamiwazaClient) -> None:
    from kamiwaza_sdk.schemas.connector_spec import (
        AuthSpec,
        ConnectorSpec,
        EndpointSpec,
        GateSpec,
        PaginationSpec,
    )

    spec = ConnectorSpec(
        platform="elasticsearch",
        base_url="https://es.example.com",
        endpoint=EndpointSpec(method="POST", path="/_search", items_path="hits.hits"),
        index=unique("idx"),
        pagination=PaginationSpec(max_pages=1),
        auth=AuthSpec(kind="none"),
        data_attribute_fields=["level"],
        gate=GateSpec(type="gates.Allow"),
    )
    urn = admin_sdk.catalog.register_from_spec(spec)
    assert urn.startswith("urn:li:dataset:(urn:li:dataPlatform:elasticsearch,")
    got = admin_sdk.catalog.get_dataset(urn)
    assert got.properties["connector_spec"]["index"] == spec.index


def test_write_scope_pat_lists_datasets(
    admin_sdk: KamiwazaClient, pat_client: Callable[[str], KamiwazaClient]
) -> None:
    from kamiwaza_sdk.schemas.auth import PATCreate

    pat = admin_sdk.auth.create_pat(
        PATCreate(name=unique("w"), ttl_seconds=600, scope="write", aud="kamiwaza-platform")
    )
    client = pat_client(pat.token)
    assert isinstance(client.catalog.list_datasets(), list)
    with pytest.raises(APIError) as exc:
        client.catalog.containers.list()
    assert exc.value.status_code == 403
