"""App Garden end to end: digest flow 18 with the real kamiwaza-sdk on the process runtime, the
built-in chat app wired to a tiny deployed model, reached through Traefik with a browser.

One `waza up` stack (Traefik with the file provider, JupyterHub, the API) on the session's Ray
head: the model is a Ray Serve deployment, the app a detached Ray actor supervising uvicorn
(``WAZA_APPS_PLACEMENT=ray``, the default). The browser logs in at the hub, opens
``/apps/<id>/`` (forward-auth → hub OAuth → app pass cookie), asks a question and gets the
streamed answer; after the SDK stops the app its route is gone.
"""

from __future__ import annotations

import shutil
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import CHROMIUM, FLAGS
from tests.e2e.hubstack import HubStack, api_login, create_user, start_stack
from tests.fixtures.ray import RayNode
from tests.integration.serving_helpers import deploy, import_model, wait_status

playwright_sync = pytest.importorskip("playwright.sync_api")
kamiwaza_sdk = pytest.importorskip("kamiwaza_sdk")

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="apt-get install -y chromium"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, ray_head: RayNode) -> Iterator[HubStack]:
    env = {"WAZA_RAY_ADDRESS": ray_head.address, "WAZA_DEPLOY_TIMEOUT": "180"}
    started = start_stack(tmp_path_factory.mktemp("apps-e2e"), extra_env=env)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def admin(stack: HubStack) -> dict[str, str]:
    return api_login(stack.url, "admin", stack.admin_password)


@pytest.fixture(scope="module")
def model_deployment(
    stack: HubStack, admin: dict[str, str], tiny_chat_model: Path
) -> Iterator[str]:
    with httpx.Client(base_url=stack.url, timeout=60) as api:
        model = import_model(api, admin, tiny_chat_model, "tiny-chat", {"engine": "transformers"})
        dep_id = deploy(api, admin, model["id"])
        dep = wait_status(api, admin, dep_id)
        assert dep["status"] == "DEPLOYED", dep
        yield dep_id
        api.delete(f"/api/serving/deployment/{dep_id}", params={"force": "true"}, headers=admin)


@pytest.fixture(scope="module")
def sdk(stack: HubStack, admin: dict[str, str]) -> Any:
    reply = httpx.post(
        stack.api + "/auth/pats",
        params={"name": "flow18", "scope": "admin", "aud": "kamiwaza-platform"},
        headers=admin,
    )
    assert reply.status_code == 201, reply.text
    return kamiwaza_sdk.KamiwazaClient(stack.api, api_key=reply.json()["token"])


def _apps(sdk: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # AppService is deprecated upstream
        return sdk.apps


def stuck_chat_report(stack: HubStack, app_id: str) -> str:
    """The logs that tell where a streamed answer stopped: the app's, the stack's, Ray's."""
    parts = [f"--- stack.log (tail)\n{stack.log()[-4000:]}"]
    for folder, pattern in (
        (stack.home / "logs" / "app_garden", f"{app_id}*.log"),
        (Path("/tmp"), "waza-test-ray-*/session_latest/logs/serve/replica_*.log"),
    ):
        for path in sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime)[-3:]:
            parts.append(f"--- {path} (tail)\n{path.read_text(errors='replace')[-2000:]}")
    return "\n".join(parts)


def test_flow18_chat_app_through_traefik_in_a_browser(
    stack: HubStack, admin: dict[str, str], model_deployment: str, sdk: Any
) -> None:
    apps = _apps(sdk)
    # --- flow 18 with the real SDK ---------------------------------------------------------------
    assert {t.name for t in apps.list_templates()} >= {"waza-chat", "waza-rag", "waza-voila"}
    chat = apps.find_template("waza-chat")
    assert chat is not None and apps.get_template(chat.id).compose_yml == chat.compose_yml
    images = apps.check_image_status(chat.id)
    assert images.images == [] and images.all_images_pulled
    assert apps.pull_images(chat.id).all_successful
    dep = apps.deploy(
        template_id=chat.id, name="flow18 chat", env_vars={"MODEL_DEPLOYMENT": model_deployment}
    )
    deadline = time.monotonic() + 120
    while (status := apps.get_deployment_status(dep.id)) not in ("DEPLOYED", "FAILED"):
        assert time.monotonic() < deadline, f"app stuck in {status}"
        time.sleep(0.5)
    detail = apps.get_deployment(dep.id)
    assert status == "DEPLOYED", stack.log()[-4000:]
    (instance,) = apps.list_instances(dep.id)
    assert instance.listen_port and instance.node_id  # supervised by a Ray actor on a node
    assert detail.env_vars == {"MODEL_DEPLOYMENT": model_deployment}
    garden = apps.list_garden_apps()
    assert "waza-chat" in {g.name for g in garden}
    imported = apps.import_garden_apps()
    assert imported["success"] is True and imported["total_apps"] == len(garden)
    with pytest.raises(kamiwaza_sdk.exceptions.NotFoundError):
        apps.get_deployment(uuid.uuid4())

    app_url = f"{stack.url}/apps/{dep.id}/"
    # --- through Traefik: the gate, the identity, the streamed answer ----------------------------
    assert httpx.get(app_url, timeout=30).status_code == 401
    alice = api_login(stack.url, "alice", create_user(stack.url, admin, "alice"))
    assert httpx.get(app_url, headers=alice, timeout=30).status_code == 403
    who = httpx.get(app_url + "whoami", headers=admin, timeout=30).json()
    assert who["user"] == "admin" and who["credentials_forwarded"] is False
    chunks = []
    with httpx.stream(
        "POST",
        app_url + "chat",
        json={"messages": [{"role": "user", "content": "Hello there"}]},
        headers=admin,
        timeout=120,
    ) as reply:
        assert reply.status_code == 200
        chunks = [c for c in reply.iter_text() if c]
    assert len(chunks) > 1 and "[error" not in "".join(chunks)  # streamed, token by token

    # --- a browser: hub login, then the app (forward-auth → hub OAuth → app pass) ----------------
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_context().new_page()
            page.goto(stack.url + "/hub/login")
            page.fill("#username_input", "admin")
            page.fill("#password_input", stack.admin_password)
            page.click("#login_submit")
            page.wait_for_url("**/hub/**", timeout=60_000)
            page.goto(app_url)
            playwright_sync.expect(page.locator("#who")).to_contain_text("admin", timeout=60_000)
            assert page.url == app_url
            page.fill("#prompt", "What is the capital of France?")
            page.click("#send")
            try:
                playwright_sync.expect(page.locator("#state")).to_have_text("done", timeout=120_000)
            except AssertionError as exc:  # seen once in CI (12-04): say where the answer stuck
                raise AssertionError(f"{exc}\n{stuck_chat_report(stack, dep.id)}") from None
            answer = page.locator(".answer").first.inner_text()
            assert answer.strip() and "[error" not in answer
        finally:
            browser.close()

    # --- stop: the route is gone ------------------------------------------------------------------
    assert apps.stop_deployment(dep.id) is True
    assert apps.get_deployment_status(dep.id) == "STOPPED"
    assert not (stack.home / "hub" / "routes" / f"app-{dep.id}.yaml").exists()
    deadline = time.monotonic() + 30
    while True:  # Traefik drops the router: the path falls through to the hub's default route
        reply = httpx.get(app_url, headers=admin, timeout=30)
        if reply.status_code != 503 and "is STOPPED" not in reply.text:
            break
        assert time.monotonic() < deadline, "the app's route outlived the app"
        time.sleep(0.5)
    assert reply.status_code in (302, 404) and "x-waza-user" not in reply.headers
    assert apps.stop_deployment(dep.id) is True  # twice: harmless
