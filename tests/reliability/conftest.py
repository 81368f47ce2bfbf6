"""Shared fixtures of the reliability suite: the callers the fuzzer and the authorization matrix
act as, on a module's live `waza api` (`platform_api`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import (
    ADMIN_PASSWORD,
    LiveServer,
    bearer,
    create_database,
    create_pat,
    create_user,
    login,
    start_server,
    stop_server,
)
from waza.settings import Settings


@dataclass(frozen=True)
class Callers:
    """Authorization headers of every kind of caller."""

    admin: dict[str, str]  # admin session (full rights)
    admin_read: dict[str, str]  # the admin's `read` PAT: no admin rights
    admin_write: dict[str, str]  # the admin's `write` PAT: no admin rights
    user: dict[str, str]  # a normal user's session
    user_read: dict[str, str]
    user_write: dict[str, str]
    other: dict[str, str]  # a second normal user ("B", acting on the first one's objects)

    def named(self) -> dict[str, dict[str, str]]:
        return {k: v for k, v in self.__dict__.items()}


@pytest.fixture(scope="module")
def platform_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A `waza api` on a fresh database whose App Garden runs apps in the API process: reading
    an app's logs with the default Ray placement starts a local Ray head (docs/reliability.md,
    findings left), which would outlive the test."""
    home = tmp_path_factory.mktemp("live")
    url, drop = create_database(home)
    server = start_server(
        Settings(home=home, database_url=url),  # type: ignore[call-arg]
        extra_env={"WAZA_APPS_PLACEMENT": "local"},
    )
    try:
        yield server
    finally:
        stop_server(server)
        drop()


@pytest.fixture(scope="module")
def http(platform_api: LiveServer) -> Iterator[httpx.Client]:
    with platform_api.http() as client:
        yield client


@pytest.fixture(scope="module")
def callers(http: httpx.Client) -> Callers:
    admin = login(http, "admin", ADMIN_PASSWORD)
    user = create_user(http, admin, "alice")
    return Callers(
        admin=admin,
        admin_read=bearer(create_pat(http, admin, "read")),
        admin_write=bearer(create_pat(http, admin, "write")),
        user=user,
        user_read=bearer(create_pat(http, user, "read")),
        user_write=bearer(create_pat(http, user, "write")),
        other=create_user(http, admin, "bob"),
    )
