"""Catalog datasets and containers over the HTTP API (in-process app), digest §7.

One app per module (fresh database); every test uses its own unique names. Sessions are passed
as headers and the client's cookies are cleared after each login, so no request is
authenticated by a leftover cookie.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from datahub.emitter.mce_builder import make_dataset_urn
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, create_pat, login, running_app

Headers = dict[str, str]
FORMS = ("by-urn", "v2", "path")
AWKWARD_NAMES = [
    "plain_{}",
    "dir/sub/file_{}.csv",
    "my data set {}",
    "a,b,c {}",
    "/tmp/x y/z,1_{}.parquet",
]


def unique(template: str = "ds-{}") -> str:
    return template.format(uuid.uuid4().hex[:8])


def enc(urn: str) -> str:
    return quote(urn, safe="")


def dataset_url(urn: str, form: str, suffix: str = "") -> tuple[str, dict[str, str]]:
    """URL and query params of a dataset route in one of the three URN forms."""
    if form == "by-urn":
        return f"/api/catalog/datasets/by-urn{suffix}", {"urn": urn}
    prefix = "v2/" if form == "v2" else ""
    return f"/api/catalog/datasets/{prefix}{enc(urn)}{suffix}", {}


def container_url(urn: str, form: str) -> tuple[str, dict[str, str]]:
    if form == "by-urn":
        return "/api/catalog/containers/by-urn", {"urn": urn}
    prefix = "v2/" if form == "v2" else ""
    return f"/api/catalog/containers/{prefix}{enc(urn)}", {}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tmp_path_factory.mktemp("catalog-api")) as client:
        yield client


def _session(api: TestClient, username: str, password: str) -> Headers:
    headers = login(api, username, password)
    api.cookies.clear()
    return headers


@pytest.fixture(scope="module")
def admin(api: TestClient) -> Headers:
    return _session(api, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def make_user(api: TestClient, admin: Headers) -> Callable[[], Headers]:
    def make() -> Headers:
        name = unique("user-{}")
        reply = api.post(
            "/api/auth/users/local",
            json={"username": name, "password": f"pw-{name}", "roles": ["user"]},
            headers=admin,
        )
        assert reply.status_code == 201, reply.text
        return _session(api, name, f"pw-{name}")

    return make


@pytest.fixture(scope="module")
def alice(make_user: Callable[[], Headers]) -> Headers:
    return make_user()


@pytest.fixture(scope="module")
def bob(make_user: Callable[[], Headers]) -> Headers:
    return make_user()


def create_dataset(
    api: TestClient, headers: Headers, name: str | None = None, **fields: object
) -> str:
    body = {"name": name or unique(), "platform": "file", **fields}
    reply = api.post("/api/catalog/datasets/", json=body, headers=headers)
    assert reply.status_code == 201, reply.text
    urn = reply.json()
    assert isinstance(urn, str)
    return urn


def create_container(api: TestClient, headers: Headers, **fields: object) -> str:
    body = {"name": unique("c-{}"), "platform": "file", **fields}
    reply = api.post("/api/catalog/containers/", json=body, headers=headers)
    assert reply.status_code == 201, reply.text
    return str(reply.json())


# ---- probes and auth ----------------------------------------------------------------------------
def test_probes_are_public(api: TestClient) -> None:
    assert api.get("/api/catalog/health").json() == {"status": "ok"}
    assert api.get("/api/catalog/").json()["service"] == "Kamiwaza Catalog Service"


def test_routes_need_a_token(api: TestClient) -> None:
    for path in ("/api/catalog/datasets/", "/api/catalog/containers/", "/api/catalog/secrets/"):
        assert api.get(path).status_code == 401


# ---- datasets ------------------------------------------------------------------------------------
@pytest.mark.parametrize("template", AWKWARD_NAMES)
def test_create_answers_the_bare_urn_and_every_form_reads_it(
    api: TestClient, admin: Headers, template: str
) -> None:
    name = unique(template)
    urn = create_dataset(api, admin, name, properties={"path": "/data/x"}, tags=["T1"])
    assert urn == make_dataset_urn("file", name, "PROD")
    for form in FORMS:
        url, params = dataset_url(urn, form)
        reply = api.get(url, params=params, headers=admin)
        assert reply.status_code == 200, (form, reply.text)
        body = reply.json()
        assert (body["urn"], body["name"], body["platform"]) == (urn, name, "file")
        assert body["environment"] == "PROD"
        assert body["properties"] == {"path": "/data/x", "location": "/data/x"}
        assert body["tags"] == ["T1"]
        assert body["created_by"] == "admin" and body["created_at"] and body["updated_at"]


def test_a_name_with_raw_commas_in_the_urn_finds_the_same_dataset(
    api: TestClient, admin: Headers
) -> None:
    name = unique("x,y/z {}")
    urn = create_dataset(api, admin, name)
    raw = f"urn:li:dataset:(urn:li:dataPlatform:file,{name},prod)"
    assert raw != urn
    reply = api.get("/api/catalog/datasets/by-urn", params={"urn": raw}, headers=admin)
    assert reply.status_code == 200 and reply.json()["urn"] == urn


def test_location_fills_path(api: TestClient, admin: Headers) -> None:
    urn = create_dataset(api, admin, properties={"location": "s3://b/k"})
    got = api.get("/api/catalog/datasets/by-urn", params={"urn": urn}, headers=admin).json()
    assert got["properties"] == {"location": "s3://b/k", "path": "s3://b/k"}


@pytest.mark.parametrize("form", FORMS)
def test_update_and_delete_in_each_form(api: TestClient, admin: Headers, form: str) -> None:
    urn = create_dataset(api, admin, unique("folder a/b, c {}.csv"), description="old")
    url, params = dataset_url(urn, form)
    reply = api.patch(url, params=params, json={"description": "new", "tags": ["x"]}, headers=admin)
    assert reply.status_code == 200, reply.text
    assert (reply.json()["description"], reply.json()["tags"]) == ("new", ["x"])
    again = api.get("/api/catalog/datasets/by-urn", params={"urn": urn}, headers=admin).json()
    assert again["description"] == "new"
    assert api.delete(url, params=params, headers=admin).status_code == 204
    assert api.get(url, params=params, headers=admin).status_code == 404
    assert api.delete(url, params=params, headers=admin).status_code == 404


def test_schema_round_trip_in_each_form(api: TestClient, admin: Headers) -> None:
    name = unique("tables/sales, 2024 {}")
    urn = create_dataset(api, admin, name)
    url, params = dataset_url(urn, "v2", "/schema")
    empty = api.get(url, params=params, headers=admin).json()
    assert empty == {"name": name, "platform": "file", "version": 0, "fields": []}

    fields = [
        {"name": "id", "type": "int64"},
        {"name": "note", "type": "string", "description": "d"},
    ]
    versions = []
    for form in FORMS:
        url, params = dataset_url(urn, form, "/schema")
        body = {"name": "sales", "platform": "file", "fields": fields}
        put = api.put(url, params=params, json=body, headers=admin)
        assert put.status_code == 200, (form, put.text)
        versions.append(put.json()["version"])
        for read_form in FORMS:
            read_url, read_params = dataset_url(urn, read_form, "/schema")
            got = api.get(read_url, params=read_params, headers=admin).json()
            assert got["fields"] == [
                {"name": "id", "type": "int64", "description": None},
                {"name": "note", "type": "string", "description": "d"},
            ]
            assert got["version"] == versions[-1]
    assert versions == [1, 2, 3]
    dataset = api.get("/api/catalog/datasets/by-urn", params={"urn": urn}, headers=admin).json()
    assert dataset["dataset_schema"]["name"] == "sales"

    explicit = {"name": "sales", "platform": "file", "version": 10, "fields": fields[:1]}
    put = api.put(
        "/api/catalog/datasets/by-urn/schema", params={"urn": urn}, json=explicit, headers=admin
    )
    assert put.json()["version"] == 10


def test_schema_given_at_creation(api: TestClient, admin: Headers) -> None:
    schema = {"name": "s", "platform": "file", "fields": [{"name": "a", "type": "string"}]}
    urn = create_dataset(api, admin, dataset_schema=schema)
    got = api.get("/api/catalog/datasets/by-urn/schema", params={"urn": urn}, headers=admin).json()
    assert got["version"] == 1 and got["fields"][0]["name"] == "a"


def test_duplicate_dataset_is_409(api: TestClient, admin: Headers, alice: Headers) -> None:
    name = unique()
    create_dataset(api, admin, name)
    body = {"name": name, "platform": "file"}
    assert api.post("/api/catalog/datasets/", json=body, headers=admin).status_code == 409
    assert api.post("/api/catalog/datasets/", json=body, headers=alice).status_code == 409
    other_env = {**body, "environment": "DEV"}
    assert api.post("/api/catalog/datasets/", json=other_env, headers=admin).status_code == 201


def test_search_finds_a_new_dataset_at_once(api: TestClient, admin: Headers) -> None:
    token = uuid.uuid4().hex[:10]
    by_name = create_dataset(api, admin, f"Reports/Quarter {token}.csv")
    by_description = create_dataset(api, admin, description=f"about {token.upper()} stuff")
    by_tag = create_dataset(api, admin, tags=[f"tag-{token}"])
    create_dataset(api, admin, unique("unrelated-{}"))

    def search(query: str) -> set[str]:
        reply = api.get("/api/catalog/datasets/", params={"query": query}, headers=admin)
        assert reply.status_code == 200
        return {d["urn"] for d in reply.json()}

    assert search(token) == {by_name, by_description, by_tag}
    assert search(f"QUARTER {token.upper()}") == {by_name}
    assert search(f"TAG-{token}") == {by_tag}
    assert search("%" + token) == set()  # LIKE wildcards are matched literally
    assert search("no-such-thing-" + token) == set()


@pytest.mark.parametrize(
    "urn",
    [
        "garbage",
        "urn:li:dataset:(nope)",
        "urn:li:dataset:(urn:li:dataPlatform:file,x,NOT_AN_ENV)",
        "urn:li:dataset:(urn:li:dataPlatform:file,,PROD)",
        "urn:li:container:abc",
    ],
)
def test_malformed_dataset_urn_is_400(api: TestClient, admin: Headers, urn: str) -> None:
    for form in FORMS:
        url, params = dataset_url(urn, form)
        reply = api.get(url, params=params, headers=admin)
        assert reply.status_code == 400, (form, reply.text)
        assert "Malformed dataset URN" in reply.json()["detail"]


def test_malformed_container_and_secret_urns_are_400(api: TestClient, admin: Headers) -> None:
    reply = api.get("/api/catalog/containers/by-urn", params={"urn": "urn:li:x"}, headers=admin)
    assert reply.status_code == 400 and "container URN" in reply.json()["detail"]
    reply = api.get(f"/api/catalog/containers/v2/{enc('not a urn')}", headers=admin)
    assert reply.status_code == 400
    reply = api.get(
        "/api/catalog/secrets/by-urn", params={"urn": "urn:li:corpuser:x"}, headers=admin
    )
    assert reply.status_code == 400 and "secret URN" in reply.json()["detail"]


def test_bad_create_bodies(api: TestClient, admin: Headers) -> None:
    post = api.post
    bad_env = {"name": unique(), "platform": "file", "environment": "moon"}
    assert post("/api/catalog/datasets/", json=bad_env, headers=admin).status_code == 400
    assert (
        post(
            "/api/catalog/datasets/", json={"name": "", "platform": "file"}, headers=admin
        ).status_code
        == 422
    )
    assert post("/api/catalog/datasets/", json={"name": "x"}, headers=admin).status_code == 422
    too_long = {"name": "," * 900, "platform": "file"}  # each comma is %2C in the URN
    reply = post("/api/catalog/datasets/", json=too_long, headers=admin)
    assert reply.status_code == 400 and "longer than" in reply.json()["detail"]


def test_unknown_objects_are_404(api: TestClient, admin: Headers) -> None:
    missing = make_dataset_urn("file", unique("missing/{}"), "PROD")
    for form in FORMS:
        for suffix in ("", "/schema"):
            url, params = dataset_url(missing, form, suffix)
            assert api.get(url, params=params, headers=admin).status_code == 404
    for form in FORMS:
        url, params = container_url("urn:li:container:0000", form)
        assert api.get(url, params=params, headers=admin).status_code == 404
    body = {"name": unique(), "platform": "file", "container_urn": "urn:li:container:0000"}
    reply = api.post("/api/catalog/datasets/", json=body, headers=admin)
    assert reply.status_code == 404 and "Container not found" in reply.json()["detail"]


def test_datasets_belong_to_their_owner(
    api: TestClient, admin: Headers, alice: Headers, bob: Headers
) -> None:
    mine = create_dataset(api, alice, unique("alice/private {}"))
    assert create_dataset(api, bob)
    for form in FORMS:
        url, params = dataset_url(mine, form)
        assert api.get(url, params=params, headers=bob).status_code == 403
        assert (
            api.patch(url, params=params, json={"description": "x"}, headers=bob).status_code == 403
        )
        assert api.delete(url, params=params, headers=bob).status_code == 403
        url, params = dataset_url(mine, form, "/schema")
        assert api.get(url, params=params, headers=bob).status_code == 403
        body = {"name": "s", "platform": "file", "fields": []}
        assert api.put(url, params=params, json=body, headers=bob).status_code == 403

    def listed(headers: Headers) -> set[str]:
        return {d["urn"] for d in api.get("/api/catalog/datasets/", headers=headers).json()}

    assert mine in listed(alice) and mine not in listed(bob)
    assert mine in listed(admin)
    assert {d["created_by"] for d in api.get("/api/catalog/datasets/", headers=alice).json()} == {
        api.get("/api/auth/users/me", headers=alice).json()["username"]
    }
    got = api.get("/api/catalog/datasets/by-urn", params={"urn": mine}, headers=admin)
    assert got.status_code == 200  # admins reach every dataset
    assert (
        api.get("/api/catalog/datasets/by-urn", params={"urn": mine}, headers=alice).status_code
        == 200
    )


def test_write_scope_token_lists_datasets(api: TestClient, admin: Headers) -> None:
    token = create_pat(api, admin, "write")
    api.cookies.clear()
    assert api.get("/api/catalog/datasets/", headers=bearer(token)).status_code == 200


# ---- containers ----------------------------------------------------------------------------------
def test_containers_are_admin_only(api: TestClient, admin: Headers, alice: Headers) -> None:
    urn = create_container(api, admin)
    assert api.get("/api/catalog/containers/", headers=alice).status_code == 403
    assert (
        api.post("/api/catalog/containers/", json={"name": "x"}, headers=alice).status_code == 403
    )
    for form in FORMS:
        url, params = container_url(urn, form)
        assert api.get(url, params=params, headers=alice).status_code == 403
        assert api.delete(url, params=params, headers=alice).status_code == 403
    ds = create_dataset(api, alice)
    reply = api.post(
        "/api/catalog/containers/by-urn/datasets",
        params={"container_urn": urn},
        json={"dataset_urn": ds},
        headers=alice,
    )
    assert reply.status_code == 403
    # An admin acting through a write-scope token has no admin rights.
    write = bearer(create_pat(api, admin, "write"))
    api.cookies.clear()
    assert api.get("/api/catalog/containers/", headers=write).status_code == 403


def test_container_lifecycle(api: TestClient, admin: Headers) -> None:
    name = unique("Shelf {}")
    urn = create_container(api, admin, name=name, description="d", tags=["t"])
    assert urn.startswith("urn:li:container:")
    dup = api.post(
        "/api/catalog/containers/", json={"name": name, "platform": "file"}, headers=admin
    )
    assert dup.status_code == 409
    listed = api.get("/api/catalog/containers/", params={"query": name.upper()}, headers=admin)
    assert [c["urn"] for c in listed.json()] == [urn]
    for form in FORMS:
        url, params = container_url(urn, form)
        got = api.get(url, params=params, headers=admin).json()
        assert (got["urn"], got["name"], got["platform"], got["tags"]) == (urn, name, "file", ["t"])
        patched = api.patch(url, params=params, json={"description": form}, headers=admin)
        assert patched.status_code == 200 and patched.json()["description"] == form
    renamed = api.patch(
        "/api/catalog/containers/by-urn",
        params={"urn": urn},
        json={"name": "Renamed"},
        headers=admin,
    ).json()
    assert (renamed["urn"], renamed["name"]) == (urn, "Renamed")
    for form in FORMS:
        victim = create_container(api, admin)
        url, params = container_url(victim, form)
        assert api.delete(url, params=params, headers=admin).status_code == 204
        assert api.get(url, params=params, headers=admin).status_code == 404


def test_sub_containers_and_cycles(api: TestClient, admin: Headers) -> None:
    parent = create_container(api, admin)
    child = create_container(api, admin, parent_urn=parent)
    grandchild = create_container(api, admin, parent_urn=child)
    got = api.get("/api/catalog/containers/by-urn", params={"urn": parent}, headers=admin).json()
    assert got["sub_containers"] == [child]
    assert (
        api.get("/api/catalog/containers/by-urn", params={"urn": child}, headers=admin).json()[
            "parent_urn"
        ]
        == parent
    )
    for bad_parent in (parent, grandchild):
        reply = api.patch(
            "/api/catalog/containers/by-urn",
            params={"urn": parent},
            json={"parent_urn": bad_parent},
            headers=admin,
        )
        assert reply.status_code == 400, reply.text
    missing_parent = {"name": unique(), "parent_urn": "urn:li:container:0000"}
    assert (
        api.post("/api/catalog/containers/", json=missing_parent, headers=admin).status_code == 404
    )
    # Deleting the middle container detaches its child; nothing else goes.
    assert (
        api.delete(
            "/api/catalog/containers/by-urn", params={"urn": child}, headers=admin
        ).status_code
        == 204
    )
    orphan = api.get(
        "/api/catalog/containers/by-urn", params={"urn": grandchild}, headers=admin
    ).json()
    assert orphan["parent_urn"] is None
    assert (
        api.get("/api/catalog/containers/by-urn", params={"urn": parent}, headers=admin).json()[
            "sub_containers"
        ]
        == []
    )


def _member_of(api: TestClient, admin: Headers, container: str) -> list[str]:
    reply = api.get("/api/catalog/containers/by-urn", params={"urn": container}, headers=admin)
    return list(reply.json()["datasets"])


def test_membership_in_every_form(api: TestClient, admin: Headers, alice: Headers) -> None:
    container = create_container(api, admin)
    names = [unique("members/a b, c {}"), unique("members/datasets/x {}"), unique("plain-{}")]
    datasets = [create_dataset(api, alice, n) for n in names]
    base = "/api/catalog/containers"
    adds = [
        (f"{base}/by-urn/datasets", {"container_urn": container}),
        (f"{base}/v2/{enc(container)}/datasets", {}),
        (f"{base}/{enc(container)}/datasets", {}),
    ]
    for (url, params), ds in zip(adds, datasets, strict=True):
        reply = api.post(url, params=params, json={"dataset_urn": ds}, headers=admin)
        assert reply.status_code == 200, reply.text
        assert reply.json()["member"] is True and ds in reply.json()["datasets"]
    assert sorted(_member_of(api, admin, container)) == sorted(datasets)
    got = api.get("/api/catalog/datasets/by-urn", params={"urn": datasets[0]}, headers=alice).json()
    assert got["container_urn"] == container  # the owner sees the membership

    removes = [
        (f"{base}/by-urn/datasets", {"container_urn": container, "dataset_urn": datasets[0]}),
        (f"{base}/v2/{enc(container)}/datasets/{enc(datasets[1])}", {}),
        (f"{base}/{enc(container)}/datasets/{enc(datasets[2])}", {}),
    ]
    for url, params in removes:
        reply = api.delete(url, params=params, headers=admin)
        assert reply.status_code == 200, reply.text
        assert reply.json()["member"] is False
    assert _member_of(api, admin, container) == []
    again = api.delete(removes[1][0], headers=admin)
    assert again.status_code == 404 and "is not in container" in again.json()["detail"]


def test_membership_via_dataset_fields_and_container_delete(
    api: TestClient, admin: Headers
) -> None:
    container = create_container(api, admin)
    ds = create_dataset(api, admin, container_urn=container)
    other = create_dataset(api, admin)
    reply = api.patch(
        "/api/catalog/datasets/by-urn",
        params={"urn": other},
        json={"container_urn": container},
        headers=admin,
    )
    assert reply.json()["container_urn"] == container
    assert sorted(_member_of(api, admin, container)) == sorted([ds, other])
    reply = api.patch(
        "/api/catalog/datasets/by-urn",
        params={"urn": other},
        json={"container_urn": None},
        headers=admin,
    )
    assert reply.json()["container_urn"] is None
    assert (
        api.delete(
            "/api/catalog/containers/by-urn", params={"urn": container}, headers=admin
        ).status_code
        == 204
    )
    left = api.get("/api/catalog/datasets/by-urn", params={"urn": ds}, headers=admin)
    assert left.status_code == 200 and left.json()["container_urn"] is None


# ---- register-from-spec and publishers ----------------------------------------------------------
def _spec(**overrides: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "spec_version": "connector-spec.v1",
        "platform": "elasticsearch",
        "base_url": "https://search.example.com",
        "endpoint": {"method": "POST", "path": "/_search", "items_path": "hits.hits"},
        "index": unique("logs-{}"),
        "pagination": {"max_pages": 2},
        "auth": {"kind": "none"},
        "data_attribute_fields": ["level"],
        "gate": {"type": "gates.Allow"},
    }
    spec.update(overrides)
    return spec


def test_register_from_spec(api: TestClient, alice: Headers, bob: Headers) -> None:
    spec = _spec()
    reply = api.post("/api/catalog/datasets/register-from-spec", json=spec, headers=alice)
    assert reply.status_code == 201, reply.text
    urn = reply.json()
    assert urn == make_dataset_urn("elasticsearch", str(spec["index"]), "PROD")
    got = api.get("/api/catalog/datasets/by-urn", params={"urn": urn}, headers=alice).json()
    assert got["properties"]["connector_spec"]["endpoint"]["path"] == "/_search"
    assert got["properties"]["base_url"] == "https://search.example.com"

    secret = api.post(
        "/api/catalog/secrets/", json={"name": unique("es-{}"), "value": "k"}, headers=alice
    ).json()
    with_ref = _spec(auth={"kind": "api_key", "credential_ref": secret})
    ok = api.post("/api/catalog/datasets/register-from-spec", json=with_ref, headers=alice)
    assert ok.status_code == 201
    forbidden = api.post(
        "/api/catalog/datasets/register-from-spec", json=_spec(auth=with_ref["auth"]), headers=bob
    )
    assert forbidden.status_code == 403
    inline = _spec(auth={"kind": "api_key", "credential_ref": "sk-live-123"})
    assert (
        api.post("/api/catalog/datasets/register-from-spec", json=inline, headers=alice).status_code
        == 400
    )
    bad_url = _spec(base_url="ftp://x")
    assert (
        api.post(
            "/api/catalog/datasets/register-from-spec", json=bad_url, headers=alice
        ).status_code
        == 422
    )


def test_publishers_are_admin_managed(api: TestClient, admin: Headers, alice: Headers) -> None:
    subject = str(uuid.uuid4())
    path = "/api/catalog/datasets/publishers"
    reply = api.post(path, json={"subject_user_id": subject}, headers=admin)
    assert reply.status_code == 200 and reply.json() == {
        "subject_user_id": subject,
        "publisher": True,
    }
    catalog = api.app.state.waza.catalog  # type: ignore[attr-defined]
    assert catalog.is_publisher(subject)
    reply = api.request("DELETE", path, json={"subject_user_id": subject}, headers=admin)
    assert reply.status_code == 200 and reply.json()["publisher"] is False
    assert not catalog.is_publisher(subject)
    assert api.post(path, json={"subject_user_id": subject}, headers=alice).status_code == 403
