"""The logger and prompts against a live `waza api` process, through `waza.client` and the
`waza logs` / `waza prompts` commands.

Logs come from two real sources: serving (a deploy whose model files vanished fails before any
Ray head is started, leaving its lifecycle log) and App Garden's log folder (a file for an app
deployment that does not exist, i.e. an orphan, written by the test where App Garden writes).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import ADMIN_PASSWORD, LiveServer, create_pat, create_user, login
from waza.cli import logs as logs_cli
from waza.cli import prompts as prompts_cli
from waza.client import Client, ConflictError, PermissionDenied, ValidationError


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> Iterator[Client]:
    with live_server.http() as http:
        token = create_pat(http, login(http, "admin", ADMIN_PASSWORD), "admin")
    with Client(live_server.api, token) as client:
        yield client


@pytest.fixture(scope="module")
def user_token(live_server: LiveServer) -> str:
    with live_server.http() as http:
        headers = create_user(http, login(http, "admin", ADMIN_PASSWORD), "logger-user")
        return create_pat(http, headers, "write")


@pytest.fixture(scope="module")
def user(live_server: LiveServer, user_token: str) -> Iterator[Client]:
    with Client(live_server.api, user_token) as client:
        yield client


def cli(app: typer.Typer, server: LiveServer, token: str, *args: str) -> tuple[int, str, str]:
    env = {"WAZA_API_URL": server.api, "WAZA_API_KEY": token, "COLUMNS": "200"}
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def failed_deployment(admin: Client, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("vanishing")
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    body = {"path": str(folder), "name": "vanishing-live", "config": {"engine": "transformers"}}
    model = admin.transport.json("POST", "models/import", json=body)
    (folder / "config.json").unlink()
    folder.rmdir()  # the deploy fails on the missing files, before any Ray head is started
    dep_id = str(admin.transport.json("POST", "serving/deploy_model", json={"m_id": model["id"]}))
    deadline = time.monotonic() + 30
    while (status := admin.transport.json("GET", f"serving/deployment/{dep_id}/status")) in {
        "REQUESTED", "DEPLOYING"}:  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status == "FAILED"
    return dep_id


def test_logs_through_the_client(admin: Client, user: Client, failed_deployment: str) -> None:
    listed = admin.logs.list("transformers", analyze=True)
    entry = next(e for e in listed.logs if e.deployment_id == failed_deployment)
    assert entry.has_errors is True and entry.capture_active is False
    assert failed_deployment not in {e.deployment_id for e in user.logs.list().logs}
    content = admin.logs.get(failed_deployment, tail=1)
    assert content.total_lines >= 2 and len(content.logs) == 1
    assert "MODEL_LOADING_FAILURE" in content.logs[0]
    found = admin.logs.patterns(failed_deployment, "transformers")
    assert found.patterns_detected["model_loading_failure"] and found.total_errors_found >= 1
    with pytest.raises(PermissionDenied):
        user.logs.get(failed_deployment)
    with pytest.raises(PermissionDenied):
        user.logs.cleanup()
    assert admin.logs.stats().by_type["transformers"]["count"] >= 1


def test_app_garden_orphans_and_cleanup(
    live_server: LiveServer, admin: Client, user: Client
) -> None:
    folder = Path(live_server.settings.home) / "logs" / "app_garden"
    folder.mkdir(parents=True, exist_ok=True)
    orphan = str(uuid.uuid4())
    path = folder / f"{orphan}.log"
    path.write_text("Serving on port 8501\nOSError: [Errno 98] Address already in use\n")
    old = time.time() - 10 * 86_400
    os.utime(path, (old, old))

    orphans = admin.logs.list(orphaned=True)
    assert orphan in {e.deployment_id for e in orphans.logs}
    assert orphan not in {e.deployment_id for e in user.logs.list(orphaned=True).logs}
    assert admin.logs.patterns(orphan).patterns_detected["port_in_use"] is True

    dry = admin.logs.cleanup(7, "app_garden")
    assert dry.dry_run and orphan in {c.deployment_id for c in dry.logs} and path.exists()
    with pytest.raises(ValidationError):
        admin.logs.cleanup(7, "no-such-type")
    done = admin.logs.cleanup(7, "app_garden", dry_run=False)
    assert done.deleted_count >= 1 and not path.exists()


def test_logs_cli(live_server: LiveServer, admin: Client, failed_deployment: str) -> None:
    token = admin.transport.token or ""
    code, out, _ = cli(logs_cli.app, live_server, token, "list", "--type", "transformers",
                       "--errors")  # fmt: skip
    assert code == 0 and failed_deployment in out and "yes" in out
    code, out, err = cli(logs_cli.app, live_server, token, "show", failed_deployment)
    assert code == 0 and "MODEL_LOADING_FAILURE" in out and "model_loading_failure" in err
    code, out, _ = cli(logs_cli.app, live_server, token, "patterns", failed_deployment)
    assert code == 0 and "model_loading_failure" in out
    code, out, _ = cli(logs_cli.app, live_server, token, "stats")
    assert code == 0 and "transformers" in out
    code, _, err = cli(logs_cli.app, live_server, token, "cleanup", "--days", "3650")
    assert code == 0 and "dry run" in err
    code, _, err = cli(logs_cli.app, live_server, token, "show", str(uuid.uuid4()))
    assert code == 1 and "404" in err


def test_prompts_client_and_cli(live_server: LiveServer, user: Client, user_token: str) -> None:
    system = user.prompts.systems.create("terse", "Answer in one sentence.")
    template = user.prompts.templates.create("capital", "Capital of {{ country }}?", tags=["geo"])
    assert template.variables == ["country"]
    with pytest.raises(ConflictError):
        user.prompts.systems.create("terse", "again")
    updated = user.prompts.systems.update(system.id, content="Answer briefly.")
    assert updated.version == 2 and [
        v.version for v in user.prompts.systems.versions(system.id)
    ] == [2, 1]
    assert user.prompts.systems.find("terse") == updated
    rendered = user.prompts.templates.render(template.id, {"country": "Japan"}, system_id=system.id)
    assert [m.role for m in rendered.messages] == ["system", "user"]
    assert rendered.text == "Capital of Japan?"
    with pytest.raises(ValidationError) as missing:
        user.prompts.templates.render(template.id)
    assert "country" in str(missing.value.detail)

    code, out, _ = cli(prompts_cli.app, live_server, user_token, "list", "systems")
    assert code == 0 and "terse" in out and str(system.id) in out
    code, out, _ = cli(prompts_cli.app, live_server, user_token, "create", "role", "pirate",
                       "--content", "You talk like a pirate.", "--tag", "fun")  # fmt: skip
    assert code == 0
    role = user.prompts.roles.get(out.strip())
    assert role.name == "pirate" and role.tags == ["fun"]
    code, out, _ = cli(prompts_cli.app, live_server, user_token, "render", str(template.id),
                       "--var", "country=Peru")  # fmt: skip
    assert code == 0 and out.strip() == "Capital of Peru?"
    code, _, err = cli(prompts_cli.app, live_server, user_token, "render", str(template.id))
    assert code == 1 and "country" in err
    code, _, err = cli(prompts_cli.app, live_server, user_token, "list", "widgets")
    assert code == 2 and "unknown prompt kind" in err
    code, out, _ = cli(prompts_cli.app, live_server, user_token, "show", "systems", str(system.id))
    assert code == 0 and "Answer briefly." in out
