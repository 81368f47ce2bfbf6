"""Errors raised by `waza.client`: one class per HTTP failure a caller may want to handle."""

from __future__ import annotations

from typing import Any


class WazaAPIError(Exception):
    """The platform answered with an error status; `detail` is its readable explanation."""

    def __init__(self, status_code: int, detail: Any, request_id: str | None = None) -> None:
        self.status_code = status_code
        self.detail = detail
        self.request_id = request_id
        super().__init__(f"{status_code}: {self.message}")

    @property
    def message(self) -> str:
        """`detail` as one line of text (validation errors joined)."""
        if isinstance(self.detail, list):
            parts = []
            for item in self.detail:
                if isinstance(item, dict):
                    loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                    parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
                else:
                    parts.append(str(item))
            return "; ".join(parts)
        return str(self.detail)


class AuthenticationError(WazaAPIError):
    """401: missing, invalid, expired or revoked credentials."""


class PermissionDenied(WazaAPIError):
    """403: authenticated, but not allowed."""


class NotFoundError(WazaAPIError):
    """404: no such object (or not visible to you)."""


class ConflictError(WazaAPIError):
    """409: the object already exists or is in use."""


class ValidationError(WazaAPIError):
    """422 (or 400/413/415): the request was malformed."""


class RateLimited(WazaAPIError):
    """429 (throttled) or 423 (account locked): wait `retry_after` seconds."""

    retry_after: int | None = None


class ConnectionFailed(Exception):
    """The platform could not be reached at all."""


_BY_STATUS: dict[int, type[WazaAPIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFoundError,
    409: ConflictError,
    413: ValidationError,
    415: ValidationError,
    422: ValidationError,
    423: RateLimited,
    429: RateLimited,
}


def error_for(status_code: int, detail: Any, request_id: str | None = None) -> WazaAPIError:
    return _BY_STATUS.get(status_code, WazaAPIError)(status_code, detail, request_id)
