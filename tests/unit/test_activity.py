"""Activity service: outcome mapping, visibility and filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, login, running_app
from waza.db import Database
from waza.db.migrate import upgrade
from waza.gateway.hub_auth import ServicePrefix
from waza.gateway.principal import Principal
from waza.services.activity.service import ActivityService, outcome_for
from waza.settings import Settings


def _principal(user_id: uuid.UUID, admin: bool) -> Principal:
    roles = ("admin", "user") if admin else ("user",)
    return Principal(user_id=user_id, username=str(user_id)[:8], roles=roles, method="session")


def test_outcomes() -> None:
    assert [outcome_for(s) for s in (200, 201, 401, 403, 404, 422, 500)] == [
        "success",
        "success",
        "denied",
        "denied",
        "failure",
        "failure",
        "error",
    ]


def test_visibility_and_filters(settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    upgrade(db)
    service = ActivityService(db)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    for user, module, status in [
        (alice, "auth", 201),
        (bob, "cluster", 403),
        (alice, "cluster", 200),
    ]:
        service.record(
            {
                "user_id": str(user),
                "username": None,
                "module": module,
                "apicall": f"/api/{module}",
                "action": "POST",
                "object_id": None,
                "status_code": status,
                "request_id": "r",
                "client_ip": "127.0.0.1",
            }
        )
    as_alice = service.list(_principal(alice, admin=False))
    assert {a.user_id for a in as_alice} == {str(alice)} and len(as_alice) == 2
    assert as_alice[0].module == "cluster"  # newest first
    admin = _principal(uuid.uuid4(), admin=True)
    assert len(service.list(admin)) == 3
    assert [a.outcome for a in service.list(admin, outcome="denied")] == ["denied"]
    assert len(service.list(admin, module="cluster")) == 2
    assert len(service.list(admin, user_id=str(bob))) == 1
    assert len(service.list(admin, action="post", limit=1)) == 1
    future = datetime.now(UTC) + timedelta(minutes=1)
    assert service.list(admin, since=future) == []
    # A normal user's user_id filter cannot widen what they see.
    assert {a.user_id for a in service.list(_principal(alice, False), user_id=str(bob))} == {
        str(alice)
    }
    db.dispose()


def test_calls_under_the_hub_service_prefix_are_audited(tmp_path: Path) -> None:
    """Under JupyterHub the API answers at ``/services/waza/api/...`` (the prefix arrives as
    ``root_path``); a mutating call there is recorded just like one at ``/api/...``."""
    with running_app(tmp_path) as client:
        hub = TestClient(ServicePrefix(client.app, "/services/waza"))
        admin = login(client, "admin", ADMIN_PASSWORD)
        name = f"pre-{uuid.uuid4().hex[:6]}"
        reply = hub.post(
            "/services/waza/api/auth/users/local",
            json={"username": name, "password": "prefix-pw-1"},
            headers=admin,
        )
        assert reply.status_code == 201, reply.text
        rows = hub.get("/services/waza/api/activity/activities/?limit=5", headers=admin).json()
    created = next(r for r in rows if r["apicall"] == "/api/auth/users/local")
    assert created["action"] == "POST" and created["status_code"] == 201
    assert created["module"] == "auth" and created["username"] == "admin"
