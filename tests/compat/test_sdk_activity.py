"""The activity log through the real kamiwaza-sdk (digest §12; core flow 17, activity part)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.schemas.activity import Activity
from kamiwaza_sdk.schemas.auth import PATCreate
from kamiwaza_sdk.schemas.cluster import CreateLocation

from tests.compat.conftest import Account

Login = Callable[[str, str], KamiwazaClient]
MakeAccount = Callable[..., Account]


def mine(entries: list[Activity], user_id: str) -> list[Activity]:
    return [e for e in entries if e.user_id == user_id]


def assert_newest_first(entries: list[Activity]) -> None:
    stamps = [e.created_at for e in entries]
    assert all(s is not None for s in stamps)
    assert stamps == sorted(stamps, reverse=True)  # type: ignore[type-var]


def test_recent_activity_lists_the_calls_just_made_newest_first(
    make_account: MakeAccount, sdk_login: Login
) -> None:
    user = make_account("act", admin=True)
    c = sdk_login(user.username, user.password)
    me = c.auth.get_current_user()

    loc = c.cluster.create_location(CreateLocation(name=f"act-{uuid.uuid4().hex[:8]}"))
    pat = c.auth.create_pat(PATCreate(name="act", ttl_seconds=900, scope="write", aud="x"))
    c.auth.revoke_pat(pat.pat.jti)

    entries = c.activity.get_recent_activity()
    assert entries and all(isinstance(e, Activity) for e in entries)
    assert_newest_first(entries)

    recent = mine(entries, me.sub)[:3]  # the three calls above, newest first
    assert [(e.module, e.action) for e in recent] == [
        ("auth", "DELETE"),
        ("auth", "POST"),
        ("cluster", "POST"),
    ]
    assert "pats" in (recent[0].apicall or "")
    assert "pats" in (recent[1].apicall or "")
    assert "location" in (recent[2].apicall or "")
    for e in recent:
        assert e.id is not None
        assert e.user_id == me.sub
    assert loc.id  # the location the third entry records


def test_reads_are_not_recorded(make_account: MakeAccount, sdk_login: Login) -> None:
    user = make_account("reads")
    c = sdk_login(user.username, user.password)
    c.auth.get_current_user()
    c.cluster.list_locations()
    c.auth.list_pats()
    entries = c.activity.get_recent_activity()
    assert all(e.action != "GET" for e in entries)  # the log is of changes, not reads
    assert all(e.user_id == user.id for e in entries)


def test_a_normal_user_sees_only_their_own_activity(
    make_account: MakeAccount, sdk_login: Login, admin_sdk: KamiwazaClient
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    a, b = sdk_login(alice.username, alice.password), sdk_login(bob.username, bob.password)
    a.auth.create_pat(PATCreate(name="a", ttl_seconds=900, scope="write", aud="x"))
    b.auth.create_pat(PATCreate(name="b", ttl_seconds=900, scope="write", aud="x"))
    admin_sdk.cluster.create_location(CreateLocation(name=f"adm-{uuid.uuid4().hex[:8]}"))

    seen_by_alice = a.activity.get_recent_activity()
    assert seen_by_alice
    assert {e.user_id for e in seen_by_alice} == {alice.id}
    assert seen_by_alice[0].module == "auth"
    assert seen_by_alice[0].action == "POST"

    everyone = {e.user_id for e in admin_sdk.activity.get_recent_activity()}
    assert {alice.id, bob.id} <= everyone  # an admin sees everyone's calls


def test_pat_calls_are_recorded_for_the_owner(make_account: MakeAccount, sdk_login: Login) -> None:
    user = make_account("patact", admin=True)
    c = sdk_login(user.username, user.password)
    pat = c.auth.create_pat(PATCreate(name="p", ttl_seconds=900, scope="admin", aud="x"))
    pc = KamiwazaClient(c.base_url, api_key=pat.token)
    hw_name = f"act-{uuid.uuid4().hex[:8]}"
    pc.post("/cluster/hardware", json={"name": hw_name})

    newest = mine(pc.activity.get_recent_activity(), user.id)[0]
    assert (newest.module, newest.action) == ("cluster", "POST")
    assert "hardware" in (newest.apicall or "")
