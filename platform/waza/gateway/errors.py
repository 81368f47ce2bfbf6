"""Exception handlers: every error leaves as `{"detail": ...}`; no stack trace reaches a client."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from waza.errors import WazaError
from waza.gateway.logging import get_logger

log = get_logger("waza.gateway")


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Keep location, message and type; drop the echoed input (it may hold a password)."""
    cleaned = []
    for err in errors:
        item = {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type")}
        cleaned.append(item)
    return cleaned


async def _waza_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WazaError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type", "")
    body_errors = [e for e in exc.errors() if tuple(e.get("loc", ()))[:1] == ("body",)]
    if body_errors and content_type and "json" not in content_type and "form" not in content_type:
        return JSONResponse(
            {"detail": f"Unsupported Content-Type '{content_type}': send application/json"},
            status_code=415,
        )
    return JSONResponse({"detail": _clean_validation_errors(exc.errors())}, status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    rid = _request_id(request)
    log.exception("unhandled error", path=request.url.path, request_id=rid)
    return JSONResponse(
        {"detail": f"Internal server error (request id {rid})", "request_id": rid},
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WazaError, _waza_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
