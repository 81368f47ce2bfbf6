"""HTTP transport shared by every service client: base URL, credentials, errors, refresh."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter

from waza.client.errors import ConnectionFailed, RateLimited, error_for
from waza.client.profile import load_profile

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:7777/api"


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

    def close(self) -> None:
        self._http.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def send(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        """Send a request; raise a typed `WazaAPIError` for any error status."""
        headers = {**(self._headers() if auth else {}), **kwargs.pop("headers", {})}
        try:
            response = self._http.request(method, path.lstrip("/"), headers=headers, **kwargs)
            if response.status_code == 401 and auth and self.refresh_token:
                self._refresh()
                headers.update(self._headers())
                response = self._http.request(method, path.lstrip("/"), headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach the waza platform at {self.url}: {exc}") from exc
        if response.is_error:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text or response.reason_phrase
            error = error_for(response.status_code, detail, response.headers.get("x-request-id"))
            if isinstance(error, RateLimited) and response.headers.get("retry-after", "").isdigit():
                error.retry_after = int(response.headers["retry-after"])
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

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.send(method, path, **kwargs)
        return None if response.status_code == 204 or not response.content else response.json()

    def parse(self, type_: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        """Send and validate the JSON answer as `type_` (a model or e.g. `list[Model]`)."""
        data = self.json(method, path, **kwargs)
        result: T = TypeAdapter(type_).validate_python(data)
        return result


def drop_none(**params: Any) -> dict[str, Any]:
    """Query parameters without the unset ones."""
    return {k: v for k, v in params.items() if v is not None}
