"""Domain errors raised by services; the gateway turns them into `{"detail": ...}` responses.

Services never import FastAPI: they raise these, and `waza.gateway.errors` maps each to its
HTTP status. The 401 strings are the ones the kamiwaza-sdk recognises.
"""

from __future__ import annotations

from typing import Any

NOT_AUTHENTICATED = "Not authenticated"
INVALID_TOKEN = "Invalid token"  # noqa: S105 (an error message)
TOKEN_EXPIRED = "Token expired"  # noqa: S105 (an error message)
INVALID_CREDENTIALS = "Invalid credentials"
INVALID_GRANT = "invalid_grant"
ACCOUNT_LOCKED = "Account is temporarily locked. Retry later."


class WazaError(Exception):
    """Base class: an error with an HTTP status and a client-safe detail."""

    status_code = 400

    def __init__(self, detail: Any, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail
        self.headers = headers


class BadRequest(WazaError):
    status_code = 400


class Unauthorized(WazaError):
    status_code = 401

    def __init__(self, detail: Any = NOT_AUTHENTICATED) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(WazaError):
    status_code = 403


class NotFound(WazaError):
    status_code = 404


class Conflict(WazaError):
    status_code = 409


class PayloadTooLarge(WazaError):
    status_code = 413


class Unprocessable(WazaError):
    status_code = 422


class TooManyRequests(WazaError):
    status_code = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class Locked(WazaError):
    """423: the account is locked after repeated failed logins."""

    status_code = 423

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class InsufficientStorage(WazaError):
    """The server's disk is full (or the user's quota spent): nothing was kept."""

    status_code = 507


class ServiceUnavailable(WazaError):
    status_code = 503
