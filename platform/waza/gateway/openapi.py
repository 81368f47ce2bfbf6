"""Documented error responses for route decorators: `responses=error_responses(403, 404)`."""

from __future__ import annotations

from typing import Any

Responses = dict[int | str, dict[str, Any]]

_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, invalid, expired or revoked token",
    403: "Not allowed for this user or token scope",
    404: "No such object",
    409: "Conflicts with an existing object",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "Invalid request fields",
    423: "Account temporarily locked; see Retry-After",
    429: "Too many attempts; see Retry-After",
    503: "A backend is unavailable",
}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"title": "Detail"}},
    "required": ["detail"],
}


def error_responses(*codes: int) -> Responses:
    """OpenAPI entries for the error statuses a route can answer, all `{"detail": ...}`."""
    return {
        code: {
            "description": _DESCRIPTIONS.get(code, "Error"),
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        }
        for code in codes
    }
