"""The standalone web UI (``frontend/``, React) served by the platform at ``/ui/``.

The Vite build lands in ``static/`` next to this file (``scripts/setup.sh`` builds it; the wheel
ships it) and is sent gzip-compressed. Hashed assets under ``/ui/assets/`` are cached for a year;
any other path that is not a file is a client route and gets ``index.html`` (never cached, so a
new build shows at once).
Same origin as the API, so the session cookie that ``POST /api/auth/token`` sets signs the UI's
calls in. The files are public: every call the UI makes is authenticated by the API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/ui"
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_BUILT = (
    "The waza web UI is not built in this installation: run scripts/setup.sh "
    "(or `npm ci && npm run build` in frontend/)."
)


class SinglePageApp(StaticFiles):
    """Static files with the single-page-app fallback and cache headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            last = path.rsplit("/", 1)[-1]
            if exc.status_code != 404 or "." in last or path.startswith("assets"):
                raise  # a missing file (script, image) stays a 404
            response = await super().get_response("index.html", scope)
        hashed = path.startswith("assets/") and response.status_code == 200
        response.headers["Cache-Control"] = IMMUTABLE if hashed else "no-cache"
        return response


async def _not_built(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse(NOT_BUILT, status_code=503)(scope, receive, send)


def install(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Serve the built UI at ``/ui/`` (a clear 503 where the build is missing)."""
    if (static_dir / "index.html").is_file():
        files = SinglePageApp(directory=static_dir, html=True)
        # compressed for browsers that ask (all do): the initial bundle is ~3x smaller gzipped
        app.mount(PREFIX, GZipMiddleware(files, minimum_size=1024), name="webui")
    else:
        app.mount(PREFIX, _not_built, name="webui")
