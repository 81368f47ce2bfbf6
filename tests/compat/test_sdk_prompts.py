"""Prompts through the real kamiwaza-sdk (digest §13; core flow 17, prompts part)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.exceptions import APIError, NotFoundError
from kamiwaza_sdk.schemas import prompts as sdk

from tests.compat.conftest import Account

Login = Callable[[str, str], KamiwazaClient]
MakeAccount = Callable[..., Account]

KINDS: list[tuple[str, Any, Any]] = [
    ("role", sdk.PromptRoleCreate, sdk.PromptRole),
    ("system", sdk.PromptSystemCreate, sdk.PromptSystem),
    ("element", sdk.PromptElementCreate, sdk.PromptElement),
    ("template", sdk.PromptTemplateCreate, sdk.PromptTemplate),
]


@pytest.mark.parametrize(("kind", "create_model", "out_model"), KINDS)
def test_flow_17_create_list_get(
    make_account: MakeAccount, sdk_login: Login, kind: str, create_model: Any, out_model: Any
) -> None:
    user = make_account("prompts")
    c = sdk_login(user.username, user.password)
    service = c.prompts
    name = f"{kind}-{uuid.uuid4().hex[:8]}"
    content = "Hello {{ who }}" if kind == "template" else f"You are a {kind}."
    made = getattr(service, f"create_{kind}")(create_model(name=name, content=content, tags=["t"]))
    assert isinstance(made, out_model)
    assert made.name == name and made.content == content and made.tags == ["t"]
    assert made.version == 1
    if kind == "system":
        assert isinstance(made.created_at, datetime)
    else:
        assert isinstance(made.created_at, str)
        datetime.fromisoformat(made.created_at)

    second = getattr(service, f"create_{kind}")(create_model(name=name + "-2", content="x"))
    listed = getattr(service, f"list_{kind}s")()
    assert [p.id for p in listed] == [made.id, second.id]
    assert [p.id for p in getattr(service, f"list_{kind}s")(skip=1, limit=1)] == [second.id]

    got = getattr(service, f"get_{kind}")(made.id)
    assert got == made
    with pytest.raises(NotFoundError):
        getattr(service, f"get_{kind}")(uuid.uuid4())


def test_duplicate_names_and_other_users(make_account: MakeAccount, sdk_login: Login) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    a, b = sdk_login(alice.username, alice.password), sdk_login(bob.username, bob.password)
    role = a.prompts.create_role(sdk.PromptRoleCreate(name="pirate", content="Arr."))
    with pytest.raises(APIError) as dup:
        a.prompts.create_role(sdk.PromptRoleCreate(name="pirate", content="Arr!"))
    assert dup.value.status_code == 409 and "pirate" in dup.value.response_text
    assert b.prompts.list_roles() == []
    with pytest.raises(APIError) as denied:
        b.prompts.get_role(role.id)
    assert denied.value.status_code == 403
    b.prompts.create_role(sdk.PromptRoleCreate(name="pirate", content="Mine."))  # own namespace


def test_updates_and_render_through_raw_calls(make_account: MakeAccount, sdk_login: Login) -> None:
    user = make_account("render")
    c = sdk_login(user.username, user.password)
    body = sdk.PromptTemplateCreate(name="capital", content="Capital of {{ country }}?")
    t = c.prompts.create_template(body)
    c.put(f"/prompts/templates/{t.id}", json={"content": "The capital of {{ country }}?"})
    assert c.prompts.get_template(t.id).version == 2
    out = c.post(f"/prompts/templates/{t.id}/render", json={"variables": {"country": "Peru"}})
    assert out["text"] == "The capital of Peru?"
    with pytest.raises(APIError) as missing:
        c.post(f"/prompts/templates/{t.id}/render", json={"variables": {}})
    assert missing.value.status_code == 400 and "country" in missing.value.response_text
