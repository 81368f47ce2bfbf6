"""The typed Python client of the waza platform.

    from waza.client import Client
    client = Client()            # WAZA_API_URL / WAZA_API_KEY, or the hub token in a notebook
    client.auth.me().username

Widgets, the JupyterLab extension, notebooks and the CLI all use this one client.
"""

from __future__ import annotations

from typing import Any

import httpx

from waza.client.activity import ActivityAPI
from waza.client.apps import AppFailed, AppsAPI
from waza.client.auth import AuthAPI
from waza.client.base import Transport, api_root
from waza.client.catalog import CatalogAPI
from waza.client.cluster import ClusterAPI
from waza.client.embedding import EmbeddingAPI
from waza.client.errors import (
    AuthenticationError,
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    PermissionDenied,
    RateLimited,
    ValidationError,
    WazaAPIError,
)
from waza.client.ingestion import IngestionAPI
from waza.client.logs import LogsAPI
from waza.client.models import DownloadFailed, ModelsAPI
from waza.client.prompts import PromptsAPI
from waza.client.retrieval import RetrievalAPI
from waza.client.serving import DeploymentFailed, ServingAPI
from waza.client.vectors import VectorsAPI

__all__ = [
    "AppFailed",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "ConnectionFailed",
    "DeploymentFailed",
    "DownloadFailed",
    "NotFoundError",
    "PermissionDenied",
    "RateLimited",
    "ValidationError",
    "WazaAPIError",
    "api_root",
]


class Client:
    """Entry point: one attribute per platform service.

    `auth`, `activity`, `cluster`, `vectors`, `embedding`, `catalog`, `ingestion`, `retrieval`,
    `models`, `serving`, `prompts`, `apps`, `logs`.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.transport = Transport(url, token, timeout=timeout, verify=verify, transport=transport)
        self.auth = AuthAPI(self.transport)
        self.activity = ActivityAPI(self.transport)
        self.cluster = ClusterAPI(self.transport)
        self.vectors = VectorsAPI(self.transport)
        self.embedding = EmbeddingAPI(self.transport)
        self.catalog = CatalogAPI(self.transport)
        self.ingestion = IngestionAPI(self.transport)
        self.retrieval = RetrievalAPI(self.transport)
        self.models = ModelsAPI(self.transport)
        self.serving = ServingAPI(self.transport)
        self.apps = AppsAPI(self.transport)
        self.prompts = PromptsAPI(self.transport)
        self.logs = LogsAPI(self.transport)
        if username is not None and password is not None:
            self.auth.login(username, password)

    @property
    def url(self) -> str:
        return self.transport.url

    def ping(self) -> dict[str, Any]:
        """Liveness of the platform (no credentials needed)."""
        return self.transport.json("GET", "ping", auth=False)

    def health(self) -> dict[str, Any]:
        return self.transport.json("GET", "health", auth=False)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(url={self.url!r})"
