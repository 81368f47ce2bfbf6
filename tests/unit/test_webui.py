"""The web UI's server side and its generated client.

- ``waza.webui`` serves a build at ``/ui/``: files, the single-page-app fallback for client
  routes, long caching for hashed assets only, 404 for a missing asset, and a clear 503 when no
  build is installed. A tiny build in a temporary folder stands in for the Vite output.
- The committed OpenAPI document and the TypeScript types generated from it
  (``frontend/openapi.json``, ``frontend/src/api/schema.ts``) match the app: a route or schema
  change without ``frontend/scripts/openapi.py`` fails here.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from waza import webui

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "webui_openapi", ROOT / "frontend/scripts/openapi.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def built(tmp_path: Path) -> TestClient:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<div id="root"></div><script src="/ui/assets/i-1a2b.js">')
    (tmp_path / "assets" / "i-1a2b.js").write_text("console.log(1)")
    (tmp_path / "assets" / "big-3c4d.js").write_text("let x = 1;\n" * 2000)
    app = FastAPI()
    webui.install(app, tmp_path)
    return TestClient(app)


def test_serves_the_build_with_the_spa_fallback(built: TestClient) -> None:
    index = built.get("/ui/")
    assert index.status_code == 200 and 'id="root"' in index.text
    assert index.headers["cache-control"] == "no-cache"
    for route in ("/ui/models", "/ui/models/1234", "/ui/admin"):
        page = built.get(route)
        assert page.status_code == 200 and page.text == index.text, route
        assert page.headers["cache-control"] == "no-cache"
    asset = built.get("/ui/assets/i-1a2b.js")
    assert asset.status_code == 200 and asset.text == "console.log(1)"
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert built.get("/ui").status_code == 200  # redirected to /ui/
    big = built.get("/ui/assets/big-3c4d.js", headers={"Accept-Encoding": "gzip"})
    assert big.headers["content-encoding"] == "gzip" and big.text == "let x = 1;\n" * 2000
    assert "immutable" in big.headers["cache-control"]


def test_missing_files_stay_404(built: TestClient) -> None:
    assert built.get("/ui/assets/gone-0000.js").status_code == 404
    assert built.get("/ui/assets/anything").status_code == 404
    assert built.get("/ui/logo.png").status_code == 404
    assert built.get("/ui/../pyproject.toml").status_code == 404
    assert built.post("/ui/models").status_code == 405


def test_no_build_says_how_to_build(tmp_path: Path) -> None:
    app = FastAPI()
    webui.install(app, tmp_path / "nothing")
    with TestClient(app) as client:
        for path in ("/ui/", "/ui/models"):
            reply = client.get(path)
            assert reply.status_code == 503
            assert "scripts/setup.sh" in reply.text


def test_the_platform_mounts_the_ui(tmp_path: Path) -> None:
    from waza.gateway.app import create_app
    from waza.settings import Settings

    app = create_app(Settings(home=tmp_path))
    assert any(getattr(r, "path", None) == "/ui" for r in app.routes)
    assert not any(p.startswith("/ui") for p in app.openapi()["paths"])


def test_the_committed_openapi_document_is_current() -> None:
    script = _script()
    committed = (ROOT / "frontend/openapi.json").read_text()
    assert committed == script.document_text(), (
        "frontend/openapi.json is stale: run `.venv/bin/python frontend/scripts/openapi.py`"
    )


@pytest.mark.skipif(
    not (ROOT / "frontend/node_modules/.bin/openapi-typescript").exists()
    or not shutil.which("npx"),
    reason="frontend/node_modules missing: scripts/setup.sh installs it",
)
def test_the_generated_client_types_are_current() -> None:
    script = _script()
    generated = script.typescript(ROOT / "frontend/openapi.json")
    assert (ROOT / "frontend/src/api/schema.ts").read_text() == generated, (
        "frontend/src/api/schema.ts is stale: run `.venv/bin/python frontend/scripts/openapi.py`"
    )


def test_browser_session_refreshes_through_its_cookies(client: TestClient) -> None:
    """The UI's session: httpOnly cookies only; the refresh cookie renews both, once."""
    from tests.conftest import ADMIN_PASSWORD

    login = client.post("/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    set_cookie = "\n".join(login.headers.get_list("set-cookie"))
    assert "refresh_token=" in set_cookie and "Path=/api/auth" in set_cookie
    assert set_cookie.count("HttpOnly") == 2
    (first,) = [c for c in client.cookies.jar if c.name == "refresh_token"]
    first_refresh = first.value
    client.cookies.delete("access_token")  # as the browser does once the hour is over
    assert client.get("/api/auth/users/me").status_code == 401

    renewed = client.post("/api/auth/refresh")  # no query parameter: the cookie
    assert renewed.status_code == 200, renewed.text
    assert client.cookies.get("refresh_token") not in (None, first_refresh)
    assert client.get("/api/auth/users/me").json()["username"] == "admin"

    # the old refresh cookie replayed (stolen) ends the session, as for the SDK
    client.cookies.set("refresh_token", first_refresh or "", first.domain, "/api/auth")
    replay = client.post("/api/auth/refresh")
    assert replay.status_code == 401
    assert client.get("/api/auth/users/me").status_code == 401

    client.cookies.clear()
    refused = client.post("/api/auth/refresh")  # nothing to refresh with: a clear 400
    assert refused.status_code == 400 and "refresh_token is required" in refused.json()["detail"]


def test_sign_out_clears_both_cookies(client: TestClient) -> None:
    from tests.conftest import ADMIN_PASSWORD

    client.post("/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert client.post("/api/auth/logout", json={}).status_code == 200
    assert client.cookies.get("access_token") is None
    assert client.cookies.get("refresh_token") is None
    assert client.post("/api/auth/refresh").status_code == 400  # nothing left to refresh with


def test_the_built_initial_bundle_stays_under_budget() -> None:
    """What ``index.html`` loads before any page (gzip) stays under 500 KB, because every page is
    a lazy chunk of its own; `benchmarks/webui.py` reports the sizes and the page timings."""
    from benchmarks.webui import bundle_report

    if not (webui.STATIC_DIR / "index.html").is_file():
        pytest.fail(f"the web UI is not built in {webui.STATIC_DIR}: run scripts/setup.sh")
    report = bundle_report(webui.STATIC_DIR)
    assert report["initial_gzip"] < 500 * 1024, report["initial"]
    lazy = [chunk["file"] for chunk in report["lazy_chunks"] if chunk["file"].endswith(".js")]
    assert len(lazy) >= 8, lazy  # the pages are split out of the initial bundle
