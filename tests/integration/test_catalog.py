"""The catalog through `waza.client` and the `waza catalog` CLI against a live `waza api`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, LiveServer, create_pat, login
from waza.client import Client, ConflictError, NotFoundError, PermissionDenied, ValidationError
from waza.services.catalog.schemas import Schema, SchemaField


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def admin_token(live_server: LiveServer) -> str:
    with live_server.http() as http:
        return create_pat(http, login(http, "admin", ADMIN_PASSWORD), "admin")


@pytest.fixture(scope="module")
def admin(live_server: LiveServer, admin_token: str) -> Iterator[Client]:
    with Client(live_server.url, admin_token) as client:
        yield client


@pytest.fixture(scope="module")
def user(live_server: LiveServer, admin: Client) -> Iterator[Client]:
    name = unique("cat-user")
    admin.auth.create_user(name, f"pw-{name}")
    with Client(live_server.url, username=name, password=f"pw-{name}") as client:
        yield client


def test_datasets_with_the_client(admin: Client, user: Client) -> None:
    name = unique("client/data set, a")
    urn = user.catalog.create_dataset(name, "file", tags=["t"], properties={"path": "/d"})
    assert urn.startswith("urn:li:dataset:(urn:li:dataPlatform:file,")
    got = user.catalog.dataset(urn)
    assert (got.name, got.properties["location"]) == (name, "/d")
    assert [d.urn for d in user.catalog.datasets(query=name)] == [urn]
    assert user.catalog.update_dataset(urn, description="x").description == "x"
    schema = Schema(name="s", platform="file", fields=[SchemaField(name="a", type="string")])
    assert user.catalog.put_schema(urn, schema).version == 1
    assert user.catalog.schema(urn).fields[0].name == "a"
    with pytest.raises(ConflictError):
        user.catalog.create_dataset(name, "file")
    with pytest.raises(ValidationError):
        user.catalog.dataset("not-a-urn")
    user.catalog.delete_dataset(urn)
    with pytest.raises(NotFoundError):
        user.catalog.dataset(urn)


def test_containers_and_secrets_with_the_client(admin: Client, user: Client) -> None:
    ds = user.catalog.create_dataset(unique("member"), "file")
    container = admin.catalog.create_container(unique("box"), platform="file")
    with pytest.raises(PermissionDenied):
        user.catalog.containers()
    assert admin.catalog.add_dataset(container, ds).datasets == [ds]
    assert admin.catalog.container(container).datasets == [ds]
    assert admin.catalog.remove_dataset(container, ds).datasets == []
    assert admin.catalog.update_container(container, description="d").description == "d"
    admin.catalog.delete_container(container)

    name = unique("client-secret")
    urn = user.catalog.create_secret(name, "hidden-value")
    with pytest.raises(ConflictError):
        user.catalog.create_secret(name, "other")
    assert user.catalog.create_secret(name, "other", clobber=True) == urn
    assert user.catalog.secret(urn).name == name
    assert [s.urn for s in user.catalog.secrets(query=name)] == [urn]
    user.catalog.delete_secret(urn)
    with pytest.raises(NotFoundError):
        user.catalog.secret(urn)


def waza(
    live: LiveServer, token: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAZA_")}
    env.update(WAZA_API_URL=live.url, WAZA_API_KEY=token, COLUMNS="250")
    return subprocess.run(
        [sys.executable, "-m", "waza", "catalog", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli(live_server: LiveServer, admin: Client, admin_token: str, tmp_path: Path) -> None:
    data = tmp_path / "notes.csv"
    data.write_text("a,b\n1,2\n")
    done = waza(live_server, admin_token, "datasets", "register", str(data), "--tag", "cli")
    assert done.returncode == 0, done.stderr
    urn = done.stdout.strip()
    got = admin.catalog.dataset(urn)
    assert got.properties["path"] == str(data.resolve()) and got.properties["format"] == "csv"
    assert got.tags == ["cli"]

    listed = waza(live_server, admin_token, "datasets", "list", "--query", "notes.csv")
    assert listed.returncode == 0 and urn in listed.stdout
    shown = waza(live_server, admin_token, "datasets", "show", urn)
    assert shown.returncode == 0 and '"format": "csv"' in shown.stdout
    again = waza(live_server, admin_token, "datasets", "register", str(data))
    assert again.returncode == 1 and "409" in again.stderr

    name = unique("cli-secret")
    value = "cli-" + uuid.uuid4().hex
    stored = waza(live_server, admin_token, "secrets", "set", name, stdin=f"{value}\n{value}\n")
    assert stored.returncode == 0, stored.stderr
    secret_urn = stored.stdout.strip()
    assert secret_urn == f"urn:li:dataHubSecret:{name}"
    assert value not in stored.stdout + stored.stderr
    secrets = waza(live_server, admin_token, "secrets", "list", "-q", name)
    assert name in secrets.stdout and value not in secrets.stdout
    deleted = waza(live_server, admin_token, "secrets", "delete", secret_urn)
    assert deleted.returncode == 0
    assert admin.catalog.secrets(query=name) == []

    container = admin.catalog.create_container(unique("cli-box"))
    boxes = waza(live_server, admin_token, "containers", "list")
    assert boxes.returncode == 0 and container in boxes.stdout
