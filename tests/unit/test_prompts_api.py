"""Prompts over the HTTP API (in-process app), digest §13: the four kinds, versions, access,
duplicate names, validation and template rendering. One app per module; unique names per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, create_pat, login, running_app

Headers = dict[str, str]
SEGMENTS = ("roles", "systems", "elements", "templates")


def unique(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tmp_path_factory.mktemp("prompts-api")) as client:
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
        name = unique("user")
        body = {"username": name, "password": f"pw-{name}", "roles": ["user"]}
        reply = api.post("/api/auth/users/local", json=body, headers=admin)
        assert reply.status_code == 201, reply.text
        return _session(api, name, f"pw-{name}")

    return make


def create(api: TestClient, headers: Headers, segment: str, **fields: Any) -> dict[str, Any]:
    body = {"name": unique(segment), "content": "You are helpful.", **fields}
    reply = api.post(f"/api/prompts/{segment}/", json=body, headers=headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


@pytest.mark.parametrize("segment", SEGMENTS)
def test_create_get_list_each_kind(
    api: TestClient, make_user: Callable[[], Headers], segment: str
) -> None:
    user = make_user()
    made = [create(api, user, segment, tags=["a", " b ", "a"]) for _ in range(3)]
    first = made[0]
    assert first["version"] == 1 and first["tags"] == ["a", "b"]
    assert first["kind"] == segment[:-1] and first["shared"] is False
    assert isinstance(first["created_at"], str)
    assert datetime.fromisoformat(first["created_at"]).tzinfo is not None

    got = api.get(f"/api/prompts/{segment}/{first['id']}", headers=user).json()
    assert got == first
    listed = api.get(f"/api/prompts/{segment}/?skip=0&limit=100", headers=user).json()
    assert [p["id"] for p in listed] == [p["id"] for p in made]  # oldest first
    page = api.get(f"/api/prompts/{segment}/", params={"skip": 1, "limit": 1}, headers=user)
    assert [p["id"] for p in page.json()] == [made[1]["id"]]
    no_slash = api.get(f"/api/prompts/{segment}", headers=user)
    assert no_slash.status_code == 200 and len(no_slash.json()) == 3
    found = api.get(f"/api/prompts/{segment}/", params={"search": made[2]["name"][-8:].upper()},
                    headers=user).json()  # fmt: skip
    assert [p["id"] for p in found] == [made[2]["id"]]
    # the id of another kind is not found under this one
    other = SEGMENTS[(SEGMENTS.index(segment) + 1) % 4]
    assert api.get(f"/api/prompts/{other}/{first['id']}", headers=user).status_code == 404


def test_updates_make_versions(api: TestClient, make_user: Callable[[], Headers]) -> None:
    user = make_user()
    role = create(api, user, "roles", content="v1 text")
    url = f"/api/prompts/roles/{role['id']}"
    r = api.put(url, json={"content": "v2 text"}, headers=user)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["content"] == "v2 text"
    assert r.json()["created_at"] == role["created_at"]
    r = api.patch(url, json={"tags": ["x"], "name": role["name"] + "-renamed"}, headers=user)
    assert r.json()["version"] == 3 and r.json()["tags"] == ["x"]
    # nothing textual changes: the version stays; `shared` alone makes no new version
    assert api.put(url, json={"content": "v2 text"}, headers=user).json()["version"] == 3
    assert api.put(url, json={"shared": True}, headers=user).json()["version"] == 3
    versions = api.get(url + "/versions", headers=user).json()
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert [v["content"] for v in versions] == ["v2 text", "v2 text", "v1 text"]
    assert versions[2]["name"] == role["name"]
    assert api.put(url, json={}, headers=user).status_code == 422
    assert api.delete(url, headers=user).status_code == 204
    assert api.get(url, headers=user).status_code == 404
    assert api.get(url + "/versions", headers=user).status_code == 404
    assert api.delete(url, headers=user).status_code == 404


def test_duplicate_names(api: TestClient, make_user: Callable[[], Headers]) -> None:
    alice, bob = make_user(), make_user()
    name = unique("dup")
    first = create(api, alice, "systems", name=name)
    again = api.post("/api/prompts/systems/", json={"name": name, "content": "x"}, headers=alice)
    assert again.status_code == 409
    assert name in again.json()["detail"] and first["id"] in again.json()["detail"]
    create(api, alice, "roles", name=name)  # another kind: fine
    create(api, bob, "systems", name=name)  # another owner: fine
    other = create(api, alice, "systems")
    clash = api.put(f"/api/prompts/systems/{other['id']}", json={"name": name}, headers=alice)
    assert clash.status_code == 409 and name in clash.json()["detail"]
    # a name that differs only by surrounding spaces is the same name
    spaced = api.post("/api/prompts/systems/", json={"name": f"  {name} ", "content": "x"},
                      headers=alice)  # fmt: skip
    assert spaced.status_code == 409


def test_owner_admin_and_shared_access(
    api: TestClient, admin: Headers, make_user: Callable[[], Headers]
) -> None:
    alice, bob = make_user(), make_user()
    private = create(api, alice, "templates", content="Hi {{ name }}")
    shared = create(api, alice, "templates", content="Bye {{ name }}", shared=True)
    p_url, s_url = (f"/api/prompts/templates/{t['id']}" for t in (private, shared))

    assert api.get(p_url, headers=bob).status_code == 403
    assert api.put(p_url, json={"content": "x"}, headers=bob).status_code == 403
    assert api.delete(p_url, headers=bob).status_code == 403
    assert api.get(s_url, headers=bob).json()["content"] == "Bye {{ name }}"
    denied = api.put(s_url, json={"content": "mine now"}, headers=bob)
    assert denied.status_code == 403 and "read-only" in denied.json()["detail"]
    assert api.delete(s_url, headers=bob).status_code == 403
    bob_sees = {p["id"] for p in api.get("/api/prompts/templates/", headers=bob).json()}
    assert shared["id"] in bob_sees and private["id"] not in bob_sees

    admin_sees = {p["id"] for p in api.get("/api/prompts/templates/?limit=1000",
                                           headers=admin).json()}  # fmt: skip
    assert {private["id"], shared["id"]} <= admin_sees
    edited = api.put(p_url, json={"content": "Hello {{ name }}"}, headers=admin)
    assert edited.status_code == 200 and edited.json()["owner_id"] == private["owner_id"]
    versions = api.get(p_url + "/versions", headers=alice).json()
    assert versions[0]["author_id"] != versions[1]["author_id"]  # the admin wrote version 2
    assert api.delete(p_url, headers=admin).status_code == 204

    assert api.get(s_url).status_code == 401
    assert api.post("/api/prompts/roles/", json={"name": "x", "content": "y"}).status_code == 401


def test_bad_input_is_a_clear_4xx(api: TestClient, make_user: Callable[[], Headers]) -> None:
    user = make_user()
    for body in (
        {"name": "", "content": "x"},
        {"name": "   ", "content": "x"},
        {"name": "x" * 256, "content": "x"},
        {"content": "x"},
        {"name": "x", "content": "x", "tags": [""]},
        {"name": "x", "content": "x", "tags": "not-a-list"},
    ):
        reply = api.post("/api/prompts/roles/", json=body, headers=user)
        assert reply.status_code == 422, body
        assert reply.json()["detail"]
    assert api.get("/api/prompts/roles/not-a-uuid", headers=user).status_code == 422
    assert api.get("/api/prompts/roles/?limit=0", headers=user).status_code == 422
    assert api.get("/api/prompts/roles/?skip=-1", headers=user).status_code == 422
    assert api.get(f"/api/prompts/roles/{uuid.uuid4()}", headers=user).status_code == 404
    broken = api.post(
        "/api/prompts/templates/", json={"name": unique(), "content": "Hi {{ name"}, headers=user
    )
    assert broken.status_code == 400 and "line 1" in broken.json()["detail"]
    # only templates are parsed: braces in a role are plain text
    create(api, user, "roles", content="Use {{ literally")
    template = create(api, user, "templates", content="ok {{ x }}")
    bad_update = api.patch(
        f"/api/prompts/templates/{template['id']}", json={"content": "{% if %}"}, headers=user
    )
    assert bad_update.status_code == 400
    assert api.get(f"/api/prompts/templates/{template['id']}", headers=user).json()["version"] == 1


def test_render(api: TestClient, admin: Headers, make_user: Callable[[], Headers]) -> None:
    user = make_user()
    system = create(api, user, "systems", content="You answer in one sentence.")
    role = create(api, user, "roles", content="You are a geography teacher.")
    element = create(api, user, "elements", content="Cite your source.")
    text = "What is the capital of {{ country }}? {{ elements['" + element["name"] + "'] }}"
    template = create(api, user, "templates", content=text)
    assert template["variables"] == ["country", "elements"]
    url = f"/api/prompts/templates/{template['id']}/render"

    out = api.post(url, json={"variables": {"country": "France"}}, headers=user).json()
    assert out["text"] == "What is the capital of France? Cite your source."
    assert out["version"] == 1 and out["messages"] == [{"role": "user", "content": out["text"]}]
    framed = api.post(
        url,
        json={"variables": {"country": "Peru"}, "system_id": system["id"], "role_id": role["id"]},
        headers=user,
    ).json()
    assert framed["messages"] == [
        {"role": "system",
         "content": "You answer in one sentence.\n\nYou are a geography teacher."},
        {"role": "user", "content": "What is the capital of Peru? Cite your source."},
    ]  # fmt: skip

    missing = api.post(url, json={"variables": {}}, headers=user)
    assert missing.status_code == 400 and "country" in missing.json()["detail"]
    wrong_ref = api.post(url, json={"variables": {"country": "x"}, "system_id": role["id"]},
                         headers=user)  # fmt: skip
    assert wrong_ref.status_code == 404
    nested = create(api, user, "templates", content="{{ user.name }}")
    r = api.post(f"/api/prompts/templates/{nested['id']}/render",
                 json={"variables": {"user": {}}}, headers=user)  # fmt: skip
    assert r.status_code == 400 and "name" in r.json()["detail"]
    escape = create(
        api, user, "templates", content="{{ ''.__class__.__mro__[1].__subclasses__() }}"
    )
    r = api.post(f"/api/prompts/templates/{escape['id']}/render", json={}, headers=user)
    assert r.status_code == 400  # the sandbox refuses Python internals
    assert api.post(f"/api/prompts/templates/{uuid.uuid4()}/render", json={},
                    headers=user).status_code == 404  # fmt: skip

    # a read-scope token may render (it changes nothing) but not create
    reader = bearer(create_pat(api, user, "read"))
    api.cookies.clear()
    ok = api.post(url, json={"variables": {"country": "Chile"}}, headers=reader)
    assert ok.status_code == 200 and "Chile" in ok.json()["text"]
    assert api.post("/api/prompts/roles/", json={"name": unique(), "content": "x"},
                    headers=reader).status_code == 403  # fmt: skip
    # another user cannot render someone's private template
    assert (
        api.post(url, json={"variables": {"country": "x"}}, headers=make_user()).status_code == 403
    )


@pytest.fixture(scope="module")
def renderer(make_user: Callable[[], Headers]) -> Headers:
    return make_user()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{{ 'a'|center(2000000000) }}", "memory"),
        ("{{ 'x' * 1000000000 }}", "too large"),
        ("{{ 10 ** 100000000 }}", "too large"),
        ("{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}", "too long"),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
         "too long to render"),
    ],
)  # fmt: skip
def test_hostile_templates_are_refused_by_the_worker(
    api: TestClient, renderer: Headers, monkeypatch: pytest.MonkeyPatch, content: str,
    reason: str,
) -> None:  # fmt: skip
    from waza.services.prompts import rendering

    monkeypatch.setattr(rendering, "RENDER_SECONDS", 1.0)
    user = renderer
    template = create(api, user, "templates", content=content)  # the API never evaluates it
    assert template["variables"] == []
    reply = api.post(f"/api/prompts/templates/{template['id']}/render", json={}, headers=user)
    assert reply.status_code == 400 and reason in reply.json()["detail"], reply.text
    fine = create(api, user, "templates", content="still {{ ok }}")
    after = api.post(f"/api/prompts/templates/{fine['id']}/render",
                     json={"variables": {"ok": "working"}}, headers=user)  # fmt: skip
    assert after.json()["text"] == "still working"
