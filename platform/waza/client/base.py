"""HTTP transport shared by every service client: base URL, credentials, errors, refresh."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import httpx
from pydantic import TypeAdapter

from waza.client.errors import ConnectionFailed, RateLimited, error_for
from waza.client.lane import Lane, Reply
from waza.client.profile import load_profile

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:7777/api"


@functools.cache
def _adapter(type_: Hashable) -> TypeAdapter[Any]:
    """One validator per answer type: building one costs ~50 µs, using it a few."""
    return TypeAdapter(cast(Any, type_))


def api_root(url: str) -> str:
    """Normalise a platform URL to its API root (`.../api`)."""
    url = url.rstrip("/")
    return url if url.endswith("/api") else url + "/api"


class Transport:
    """One `httpx.Client` plus the caller's credentials.

    Credentials, first found wins: the `token` argument, `WAZA_API_KEY`, and inside a JupyterHub
    single-user server `JUPYTERHUB_API_TOKEN`. A password login (`Client.login`) stores session
    tokens and refreshes them once when the platform answers 401.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        explicit_url = url or os.environ.get("WAZA_API_URL")
        profile = load_profile()  # written by `waza up` on this machine
        self.url = api_root(explicit_url or profile.get("url") or DEFAULT_URL)
        self.verify = verify
        token = token or os.environ.get("WAZA_API_KEY") or os.environ.get("JUPYTERHUB_API_TOKEN")
        saved_url = api_root(profile["url"]) if profile.get("url") else None
        same_server = not explicit_url or api_root(explicit_url) == saved_url
        self.token = token or (profile.get("token") if same_server else None)
        self.refresh_token: str | None = None
        self._http = httpx.Client(
            base_url=self.url + "/", timeout=timeout, verify=verify, transport=transport
        )
        # plain JSON calls skip httpx when nothing needs it (see `waza.client.lane`)
        self._lane = Lane.for_url(self.url, timeout) if transport is None else None
        # called with each answer's status and headers (tools: Server-Timing, tracing)
        self.on_reply: Callable[[int, Mapping[str, str]], None] | None = None

    def close(self) -> None:
        self._http.close()
        if self._lane is not None:
            self._lane.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def send(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        """Send a request; raise a typed `WazaAPIError` for any error status."""
        response = self._exchange(method, path, auth, kwargs, lane=False)
        assert isinstance(response, httpx.Response)
        return response

    def _exchange(
        self, method: str, path: str, auth: bool, kwargs: dict[str, Any], lane: bool
    ) -> httpx.Response | Reply:
        """One call through the lane when allowed, else httpx; refresh once on 401; errors."""
        path = path.lstrip("/")
        extra = kwargs.pop("headers", {})
        fast = self._lane if lane and self._lane and self._lane.accepts(path, kwargs) else None

        def call() -> httpx.Response | Reply:
            headers = {**(self._headers() if auth else {}), **extra}
            if fast is not None:
                return fast.request(method, path, headers, kwargs)
            return self._http.request(method, path, headers=headers, **kwargs)

        try:
            response = call()
            if response.status_code == 401 and auth and self.refresh_token:
                self._refresh()
                response = call()
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach the waza platform at {self.url}: {exc}") from exc
        if self.on_reply is not None:
            self.on_reply(response.status_code, response.headers)
        if response.is_error:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text or response.reason_phrase
            error = error_for(response.status_code, detail, response.headers.get("x-request-id"))
            retry_after = response.headers.get("retry-after") or ""
            if isinstance(error, RateLimited) and retry_after.isdigit():
                error.retry_after = int(retry_after)
            raise error
        return response

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed response (e.g. `text/event-stream`); error statuses raise as in `send`."""
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        try:
            with self._http.stream(
                method, path.lstrip("/"), headers=headers, timeout=None, **kwargs
            ) as response:
                if response.is_error:
                    response.read()
                    try:
                        detail = response.json().get("detail", response.text)
                    except ValueError:
                        detail = response.text
                    raise error_for(
                        response.status_code, detail, response.headers.get("x-request-id")
                    )
                yield response
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach the waza platform at {self.url}: {exc}") from exc

    def _refresh(self) -> None:
        refresh, self.refresh_token = self.refresh_token, None
        response = self._http.post("auth/refresh", params={"refresh_token": refresh})
        if response.is_success:
            body = response.json()
            self.token = body["access_token"]
            self.refresh_token = body.get("refresh_token")

    def json(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        """Send and return the decoded JSON answer (None for an empty one)."""
        response = self._exchange(method, path, auth, kwargs, lane=True)
        return None if response.status_code == 204 or not response.content else response.json()

    def parse(
        self, type_: type[T] | Any, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> T:
        """Send and validate the JSON answer as `type_` (a model or e.g. `list[Model]`)."""
        response = self._exchange(method, path, auth, kwargs, lane=True)
        adapter = _adapter(cast(Hashable, type_))
        if response.status_code == 204 or not response.content:
            return adapter.validate_python(None)
        return adapter.validate_json(response.content)


def drop_none(**params: Any) -> dict[str, Any]:
    """Query parameters without the unset ones."""
    return {k: v for k, v in params.items() if v is not None}
