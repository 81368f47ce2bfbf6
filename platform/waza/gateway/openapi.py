"""Documented error responses for route decorators: `responses=error_responses(403, 404)`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

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
    507: "The server's disk is full; nothing was kept",
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


_AUTH_ERRORS = {
    401: "Missing, invalid, expired or revoked token",
    403: "Not allowed for this user or token scope",
}
_SAFE = frozenset({"get", "head", "options"})


def _add_response(operation: dict[str, Any], code: int, description: str) -> None:
    responses = operation.setdefault("responses", {})
    if str(code) not in responses:
        responses[str(code)] = {
            "description": description,
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        }


def complete_document(app: FastAPI) -> None:
    """Document the statuses every route shares through the framework, in one place.

    - 401 on every route that takes a token (``CurrentUser``, ``ReaderUser``, ``AdminUser``),
      403 on admin routes and on changes (a ``read`` token may only use safe methods);
    - 400 on every route with a request body (a body that cannot be decoded);
    - 422 answers either FastAPI's field errors or a message (``waza.errors.Unprocessable``).

    Wraps ``app.openapi``; the additions are idempotent, so the cached document stays right.
    """
    from waza.gateway.access import route_rules

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        paths = document.get("paths", {})
        for rule in route_rules(app):
            operation = paths.get(rule.path_format, {}).get(rule.method.lower())
            if operation is None:
                continue
            if rule.auth_dependency is not None:
                _add_response(operation, 401, _AUTH_ERRORS[401])
                if rule.auth_dependency == "admin" or (
                    rule.auth_dependency == "user" and rule.method.lower() not in _SAFE
                ):
                    _add_response(operation, 403, _AUTH_ERRORS[403])
            if "requestBody" in operation:
                _add_response(operation, 400, _DESCRIPTIONS[400])
        validation = document.get("components", {}).get("schemas", {}).get("HTTPValidationError")
        if validation is not None:
            detail = validation["properties"]["detail"]
            if "anyOf" not in detail:
                validation["properties"]["detail"] = {
                    "title": "Detail",
                    "anyOf": [
                        {k: v for k, v in detail.items() if k != "title"},
                        {"type": "string"},
                    ],
                }
        return document

    app.openapi = openapi  # type: ignore[method-assign]
