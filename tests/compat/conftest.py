"""Fixtures for driving a live `waza api` with the real kamiwaza-sdk (1.3.0).

Every test gets its own SDK token cache (`KAMIWAZA_TOKEN_PATH` in a temp dir), and none of the
SDK's environment variables leak in from the developer's shell, so the SDK never reads or writes
`~/.kamiwaza` and tests do not depend on each other's order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import httpx
import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.authentication import UserPasswordAuthenticator
from kamiwaza_sdk.token_store import FileTokenStore

from tests.conftest import ADMIN_PASSWORD, LiveServer, login

SDK_ENV = (
    "KAMIWAZA_BASE_URL",
    "KAMIWAZA_BASE_URI",
    "KAMIWAZA_API_KEY",
    "KAMIWAZA_API_TOKEN",
    "KAMIWAZA_VERIFY_SSL",
    "KAMIWAZA_TOKEN_PATH",
    "KAMIWAZA_RUNTIME_BASE_URL",
    "KAMIWAZA_PUBLIC_API_URL",
    "KAMIWAZA_USE_HTTPS",
)


@pytest.fixture(autouse=True)
def sdk_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean SDK environment with a per-test token cache; returns the cache path."""
    for name in SDK_ENV:
        monkeypatch.delenv(name, raising=False)
    token_path = tmp_path / "kamiwaza" / "token.json"
    monkeypatch.setenv("KAMIWAZA_TOKEN_PATH", str(token_path))
    return token_path


@dataclass
class Account:
    id: str
    username: str
    password: str


@pytest.fixture(scope="module")
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    """Plain HTTP against the server root (paths start with `/api`).

    It keeps no cookies: `/auth/token` sets an `access_token` cookie, which would otherwise
    authenticate every later request of the module.
    """
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    with httpx.Client(base_url=live_server.url, timeout=30, cookies=no_cookies) as client:
        yield client


@pytest.fixture(scope="module")
def admin_auth(http: httpx.Client) -> dict[str, str]:
    return login(http, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def make_account(http: httpx.Client, admin_auth: dict[str, str]) -> Callable[..., Account]:
    """Create a local user with a unique name; `admin=True` gives it the admin role."""

    def make(prefix: str = "user", admin: bool = False) -> Account:
        username = f"{prefix}-{uuid.uuid4().hex[:10]}"
        password = f"pw-{uuid.uuid4().hex[:12]}"
        roles = ["admin", "user"] if admin else ["user"]
        reply = http.post(
            "/api/auth/users/local",
            json={"username": username, "password": password, "roles": roles},
            headers=admin_auth,
        )
        assert reply.status_code == 201, reply.text
        return Account(id=reply.json()["id"], username=username, password=password)

    return make


@pytest.fixture
def sdk_login(live_server: LiveServer, tmp_path: Path) -> Callable[[str, str], KamiwazaClient]:
    """An SDK client in a password session (the pattern the SDK documents).

    Each client gets its own token file, so two sessions in one test never share the SDK's cache.
    """

    def make(username: str, password: str) -> KamiwazaClient:
        client = KamiwazaClient(live_server.api)
        store = FileTokenStore(tmp_path / "tokens" / f"{username}-{uuid.uuid4().hex[:8]}.json")
        client.authenticator = UserPasswordAuthenticator(
            username, password, client.auth, token_store=store
        )
        return client

    return make


@pytest.fixture
def admin_sdk(sdk_login: Callable[[str, str], KamiwazaClient]) -> KamiwazaClient:
    return sdk_login("admin", ADMIN_PASSWORD)


@pytest.fixture
def pat_client(live_server: LiveServer) -> Callable[[str], KamiwazaClient]:
    """An SDK client that authenticates with a personal access token."""

    def make(token: str) -> KamiwazaClient:
        return KamiwazaClient(live_server.api, api_key=token)

    return make
