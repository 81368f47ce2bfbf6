"""Audit log: every mutating call is recorded with who, what, object, when and outcome."""

from __future__ import annotations

import uuid

from tests.conftest import ADMIN_PASSWORD, LiveServer, create_user, login


def test_mutations_are_recorded_with_outcome(live_server: LiveServer) -> None:
    with live_server.http() as http:
        admin = login(http, "admin", ADMIN_PASSWORD)
        name = f"act-{uuid.uuid4().hex[:6]}"
        created = http.post(
            "/api/auth/users/local",
            json={"username": name, "password": "activity-1"},
            headers=admin,
        ).json()
        http.delete(f"/api/auth/users/{uuid.uuid4()}", headers=admin)  # a failed call
        rows = http.get("/api/activity/activities/?limit=10", headers=admin).json()
    delete, create = rows[0], rows[1]
    assert delete["action"] == "DELETE" and delete["status_code"] == 404
    assert delete["outcome"] == "failure"
    assert delete["apicall"] == "/api/auth/users/{user_id}"
    assert create["action"] == "POST" and create["apicall"] == "/api/auth/users/local"
    assert create["username"] == "admin" and create["outcome"] == "success"
    assert create["module"] == "auth"
    assert rows[0]["created_at"] >= rows[1]["created_at"]
    assert created["username"] == name
    # GETs are not mutations and are not recorded.
    assert all(r["action"] != "GET" for r in rows)


def test_failed_logins_are_recorded_without_secrets(live_server: LiveServer) -> None:
    with live_server.http() as http:
        http.post("/api/auth/token", data={"username": "admin", "password": "guess-guess"})
        admin = login(http, "admin", ADMIN_PASSWORD)
        rows = http.get("/api/activity/activities/?module=auth&action=post", headers=admin).json()
    denied = [r for r in rows if r["apicall"] == "/api/auth/token" and r["status_code"] == 401]
    assert denied and denied[0]["outcome"] == "denied" and denied[0]["user_id"] is None
    assert "guess-guess" not in str(rows)


def test_users_see_only_their_own_activity(live_server: LiveServer) -> None:
    with live_server.http() as http:
        admin = login(http, "admin", ADMIN_PASSWORD)
        user = create_user(http, admin, f"act-{uuid.uuid4().hex[:6]}")
        me = http.get("/api/auth/users/me", headers=user).json()
        http.post("/api/auth/pats?name=mine", headers=user)
        mine = http.get("/api/activity/activities/", headers=user).json()
        everyone = http.get("/api/activity/activities/?limit=1000", headers=admin).json()
        filtered = http.get(f"/api/activity/activities/?user_id={me['sub']}", headers=admin).json()
    assert mine and all(r["user_id"] == me["sub"] for r in mine)
    assert any(r["user_id"] != me["sub"] for r in everyone)
    assert [r["id"] for r in filtered] == [r["id"] for r in mine]
