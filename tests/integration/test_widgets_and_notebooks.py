"""The notebook widgets and every notebook of ``notebooks/``, against one live platform.

One `waza api` process on the session's Ray head (a real Ray Serve deployment of the tiny
random-weights model) and a stand-in Hugging Face Hub (`tests.fixtures.fake_hf_hub`: the tests
cannot reach the internet). Widgets are driven as a user would: `.click()` on buttons, values
changed, state observed while background work runs. Each notebook is then executed top to
bottom by nbclient in a real kernel (as the admin, or as a normal user from a copy of the
notebooks in that user's home, where the hub would put them), widget state stored.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import (
    ADMIN_PASSWORD,
    LiveServer,
    create_database,
    create_pat,
    login,
    start_server,
    stop_server,
)
from tests.fixtures.fake_hf_hub import BIG_REPO, TINY_REPO, FakeHub, hub_env
from tests.integration.serving_helpers import serving_env
from waza.client import Client
from waza.settings import Settings
from waza_widgets import (
    CatalogBrowser,
    ChatPlayground,
    ClusterMonitor,
    DeployPanel,
    ModelBrowser,
    VectorSearch,
)

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
TINY = "tiny-random-chat"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

pytestmark = pytest.mark.timeout(600)


def eventually(check: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


# ---- the platform -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hf_hub() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        yield hub


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, ray_head: Any, hf_hub: FakeHub
) -> Iterator[LiveServer]:
    """A live API on the session's Ray head; its deployments are force-stopped at the end."""
    home = tmp_path_factory.mktemp("widgets")
    url, drop = create_database(home)
    settings = Settings(home=home, database_url=url)  # type: ignore[call-arg]
    env = {**serving_env(ray_head.address), **hub_env(hf_hub)}
    live = start_server(settings, env)
    try:
        yield live
    finally:
        try:
            with Client(live.api, username="admin", password=ADMIN_PASSWORD) as client:
                for dep in client.serving.list():
                    if dep.status != "STOPPED":
                        client.serving.stop(dep.id, force=True)
        finally:
            stop_server(live)
            drop()


@pytest.fixture(scope="module")
def admin_token(server: LiveServer) -> str:
    with server.http() as http:
        return create_pat(http, login(http, "admin", ADMIN_PASSWORD), "admin")


@pytest.fixture(scope="module")
def admin(server: LiveServer, admin_token: str) -> Iterator[Client]:
    with Client(server.api, admin_token) as client:
        yield client


@pytest.fixture(scope="module")
def alice(server: LiveServer, admin: Client) -> Iterator[Client]:
    """A normal user with a write token."""
    admin.auth.create_user("alice", "pw-alice-123")
    with Client(server.api, username="alice", password="pw-alice-123") as session:
        token = session.auth.create_token("widgets", scope="write").token
    with Client(server.api, token) as client:
        yield client


@pytest.fixture(scope="module")
def tiny(admin: Client, tiny_chat_model: Path) -> uuid.UUID:
    model = admin.models.import_path(tiny_chat_model, name=TINY, config={"engine": "transformers"})
    assert model.id is not None
    return model.id


@pytest.fixture(scope="module")
def deployed(alice: Client, tiny: uuid.UUID) -> dict[str, Any]:
    """The tiny model deployed by clicking Deploy in a DeployPanel (as alice), with what the
    panel showed on the way; shared by the chat tests and the notebooks."""
    panel = DeployPanel(alice, model=TINY, poll=0.1)
    panel.cpus.value = 0.5
    shown: list[str] = []
    panel.status.observe(lambda change: shown.append(change["new"]), names="value")
    panel.deploy_button.click()
    assert panel.deploy_button.disabled and panel.deployment_id is not None
    panel.join(300)
    return {"panel": panel, "shown": shown, "id": panel.deployment_id}


# ---- widgets ------------------------------------------------------------------------------------
def test_model_browser_searches_imports_and_cancels(admin: Client, hf_hub: FakeHub) -> None:
    browser = ModelBrowser(admin, poll=0.1)
    assert browser.last_error is None
    browser.query.value = "waza-test"  # searching on change, as pressing Enter does
    keys = [key for _, key in browser.results.options]
    assert f"hub:{TINY_REPO}" in keys and f"hub:{BIG_REPO}" in keys

    browser.select(f"hub:{TINY_REPO}")
    assert set(browser.files.value) == {"config.json", "model.safetensors", "tokenizer.json"}
    assert not browser.import_button.disabled
    browser.import_button.click()
    assert browser.state == "downloading" and not browser.cancel_button.disabled
    browser.join(60)
    assert browser.state == "imported", browser.message.value
    assert browser.progress.value == 100 and browser.cancel_button.disabled
    assert "imported in" in browser.progress_label.value
    imported = browser.imported_id
    assert imported is not None and admin.models.get_model(imported).repo_modelId == TINY_REPO

    # A slow download: cancel it midway.
    with hf_hub.slow(200_000):
        browser.select(f"hub:{BIG_REPO}")
        browser.import_button.click()
        eventually(lambda: browser.progress.value > 0, 30, "download progress")
        assert 0 < browser.progress.value < 100
        browser.cancel_button.click()
        browser.join(60)
    assert browser.state == "cancelled"
    assert "cancelled" in browser.progress_label.value and browser.last_error is None

    # Back to the registry: the imported model is listed and shows its files.
    browser.query.value = ""
    assert f"local:{imported}" in [key for _, key in browser.results.options]
    browser.select(f"local:{imported}")
    assert "model.safetensors" in browser.details.value


def test_deploy_panel_follows_the_lifecycle(deployed: dict[str, Any], alice: Client) -> None:
    panel: DeployPanel = deployed["panel"]
    assert panel.ready and panel.last_error is None, panel.message.value
    assert panel.progress.value == 4 and panel.progress.bar_style == "success"
    states = [re.search(r"data-state='(\w+)'", s) for s in deployed["shown"]]
    seen = [m.group(1) for m in states if m]
    assert seen[0] == "REQUESTED" and seen[-1] == "DEPLOYED", seen
    assert "DEPLOYING" in seen or "INITIALIZING" in seen
    assert "/runtime/models/" in panel.status.value and "waza-took" in panel.status.value
    assert panel.deploy_seconds is not None and panel.deploy_seconds > 0
    assert alice.serving.get(deployed["id"]).status == "DEPLOYED"
    panel.logs_button.click()
    assert panel.logs.layout.display == "" and "DEPLOYED" in panel.logs.value


def test_deploy_panel_shows_failures_inline(
    alice: Client, admin: Client, tiny_chat_model: Path, tmp_path: Path
) -> None:
    # refused at once: resources the cluster can never give
    panel = DeployPanel(alice, model=TINY)
    panel.gpus.value = 64
    panel.deploy_button.click()
    assert panel.deployment_id is None and "GPU" in (panel.last_error or "")
    assert "Traceback" not in panel.message.value and "waza-error" in panel.message.value

    # accepted, then FAILED: the model's files vanished before it loaded
    gone = tmp_path / "gone-model"
    shutil.copytree(tiny_chat_model, gone)
    admin.models.import_path(gone, name="gone-model", config={"engine": "transformers"})
    shutil.rmtree(gone)
    broken = DeployPanel(alice, model="gone-model", poll=0.1)
    broken.cpus.value = 0.5
    broken.deploy_button.click()
    broken.join(180)
    assert broken.deployment is not None and broken.deployment.status == "FAILED"
    assert "MODEL_LOADING_FAILURE" in (broken.last_error or "")
    assert "waza-error-code" in broken.status.value and broken.progress.bar_style == "danger"
    assert broken.logs.value  # the logs were loaded to say why


def test_chat_playground_streams_and_measures(deployed: dict[str, Any], alice: Client) -> None:
    chat = ChatPlayground(alice, temperature=0.0, max_tokens=48)
    assert str(deployed["id"]) in [value for _, value in chat.deployment.options]
    chat.deployment.value = str(deployed["id"])
    frames: list[str] = []
    chat.transcript.observe(lambda change: frames.append(change["new"]), names="value")
    chat.prompt.value = "Hello there"
    chat.send_button.click()
    assert chat.send_button.disabled and not chat.stop_button.disabled
    chat.join(120)
    assert chat.last_error is None, chat.message.value
    assert chat.last is not None and chat.last.text
    assert chat.updates > 1 and sum("waza-streaming" in f for f in frames) > 1  # piece by piece
    assert chat.last.completion_tokens and chat.last.ttft is not None
    assert "time to first token" in chat.stats.value and "tokens/s" in chat.stats.value
    assert [m["role"] for m in chat.history] == ["user", "assistant"]
    assert not chat.send_button.disabled and chat.stop_button.disabled

    # Stop: the answer ends early, well short of max_tokens.
    chat.max_tokens.value = 2000
    chat.ask("Tell me a very long story")
    eventually(lambda: chat.updates >= 1, 60, "the first piece")
    chat.stop_button.click()
    chat.join(60)
    assert "stopped" in chat.stats.value
    assert chat.last is not None and len(chat.last.text) < 2000 * 4
    assert len(chat.history) == 4

    # Errors stay inline: an empty prompt, and a deployment that does not exist.
    chat.ask("   ")
    assert chat.last_error == "Type a message first."
    broken = ChatPlayground(alice, deployment_id=uuid.uuid4())
    assert "not DEPLOYED" in (broken.last_error or "")


def test_vector_search_and_catalog_browser(admin: Client, tmp_path: Path) -> None:
    job = admin.ingestion.rag.ingest_folder(NOTEBOOKS / "data" / "handbook", "widget_docs")
    assert admin.ingestion.rag.wait(job, timeout=240).status == "COMPLETED"
    search = VectorSearch(admin, collection="widget_docs", top_k=2)
    assert search.collection.value == "widget_docs"
    search.query.value = "How do I rotate the key-encryption key?"
    search.search_button.click()
    assert search.last_error is None, search.message.value
    assert len(search.hits) == 2 and search.hits[0].score >= search.hits[1].score
    assert search.hits[0].filename == "secrets.md"
    assert "secrets.md" in search.results.value and "<td>1</td>" in search.results.value
    search.query.value = ""
    search.search_button.click()
    assert search.last_error == "Type a query first."

    csv = tmp_path / "orders.csv"
    csv.write_text("order_id,amount,city\n1,9.5,Paris\n2,3.0,Lyon\n")
    catalog = CatalogBrowser(admin)
    catalog.path.value = str(csv)
    catalog.register_button.click()
    assert catalog.last_error is None, catalog.message.value
    assert len(catalog.registered) == 1 and catalog.tree.value == catalog.registered[0]
    assert "orders.csv" in catalog.details.value
    assert all(f"<td>{c}</td>" in catalog.details.value for c in ("order_id", "amount", "city"))
    catalog.path.value = str(tmp_path / "missing.csv")
    catalog.register_button.click()
    assert catalog.last_error == f"not found: No such file or folder: {tmp_path}/missing.csv"
    assert "Traceback" not in catalog.message.value


def test_cluster_monitor_updates_live(admin: Client) -> None:
    monitor = ClusterMonitor(admin, interval=0.2, live=False)
    assert monitor.last_error is None, monitor.message.value
    assert len(monitor.samples) == 1 and len(monitor.cpu_lines.x) == 1
    assert "<td>" in monitor.nodes.value and "Ray at" in monitor.nodes.value
    monitor.live.value = True  # the toggle starts polling
    eventually(lambda: len(monitor.samples) >= 4, 30, "live samples")
    monitor.stop()
    assert not monitor.live.value
    count = len(monitor.cpu_lines.x)
    assert count >= 4 and len(monitor.cpu_lines.y[0]) == count
    assert all(0 <= v <= 100 for v in monitor.cpu_lines.y[1])
    time.sleep(0.5)
    assert len(monitor.cpu_lines.x) == count  # stopped means stopped


def test_widgets_without_a_platform_explain_instead_of_failing(server: LiveServer) -> None:
    bad = Client(server.api, "wzp_not-a-real-token")
    for panel in (ModelBrowser(bad), DeployPanel(bad), CatalogBrowser(bad), VectorSearch(bad)):
        assert (panel.last_error or "").startswith("not signed in"), panel.last_error
        assert "Traceback" not in panel.message.value
    nowhere = Client("http://127.0.0.1:9/api", "x")
    assert "cannot reach" in (ChatPlayground(nowhere).last_error or "")


# ---- notebooks ----------------------------------------------------------------------------------
def run_notebook(path: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    """Execute a notebook in a fresh kernel from its folder; widget state is stored."""
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book,
        kernel_name="python3",
        timeout=300,
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=env)
    return book


def outputs(book: nbformat.NotebookNode) -> str:
    """All text the notebook printed or displayed (plain text reprs). Printed text is kept as
    printed: one `print` may arrive as several stream messages, which must not be split."""
    parts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            else:
                parts.append("\n" + out.get("data", {}).get("text/plain", "") + "\n")
    return "".join(parts)


def widget_values(book: nbformat.NotebookNode) -> str:
    state = book.metadata["widgets"][WIDGET_STATE]["state"]
    assert state, "no widget state stored"
    return "\n".join(str(m["state"].get("value", "")) for m in state.values())


def kernel_env(server: LiveServer, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAZA_", "JUPYTERHUB_"))}
    env.update(
        {
            "WAZA_API_URL": server.api,
            "WAZA_API_KEY": token,
            "WAZA_CLI_PROFILE": "",
            "WAZA_NOTEBOOK_MODEL": TINY,
        }
    )
    return env


@pytest.fixture(scope="module")
def alice_notebooks(server: LiveServer) -> Path:
    """The notebooks in alice's home, as the hub gives them to her (her ingestible folder)."""
    home = server.settings.home / "users" / "alice" / "notebooks"
    shutil.copytree(NOTEBOOKS, home, ignore=shutil.ignore_patterns("admin", "*.csv.bak"))
    return home


@pytest.fixture(scope="module")
def alice_env(server: LiveServer, alice: Client) -> dict[str, str]:
    return kernel_env(server, str(alice.transport.token))


def test_notebook_quickstart(
    deployed: dict[str, Any], alice_notebooks: Path, alice_env: dict[str, str]
) -> None:
    book = run_notebook(alice_notebooks / "01_quickstart.ipynb", alice_env)
    text = outputs(book)
    assert "Signed in as alice (user)" in text
    assert f"DEPLOYED: {deployed['id']}" in text  # the running deployment is reused
    assert re.search(r"ANSWER: \S", text), text


def test_notebook_deploy_and_chat(
    deployed: dict[str, Any], alice_notebooks: Path, alice_env: dict[str, str]
) -> None:
    book = run_notebook(alice_notebooks / "02_deploy_and_chat.ipynb", alice_env)
    text = outputs(book)
    assert f"status: DEPLOYED {deployed['id']}" in text
    assert re.search(r"answer: \S", text) and "tokens/s" in text
    assert re.search(r"OPENAI: \S", text) and "completion tokens" in text
    values = widget_values(book)
    assert "data-state='DEPLOYED'" in values  # the panel reopens showing DEPLOYED
    assert "time to first token" in values and "waza-assistant" in values
    assert "hub · waza-test/tiny-files" not in values  # nothing searched: registry listed


def test_notebook_rag(
    deployed: dict[str, Any], alice_notebooks: Path, alice_env: dict[str, str]
) -> None:
    book = run_notebook(alice_notebooks / "03_rag_over_your_documents.ipynb", alice_env)
    text = outputs(book)
    assert "COMPLETED files: 3" in text
    assert re.search(r"0\.\d{3}\s+secrets\.md", text), text
    assert re.search(r"ANSWER: \S", text) and "[1] " in text
    assert "deployments.md" in widget_values(book)  # VectorSearch's hits saved with the notebook


def test_notebook_catalog_and_secrets(alice_notebooks: Path, alice_env: dict[str, str]) -> None:
    book = run_notebook(alice_notebooks / "04_catalog_and_secrets.ipynb", alice_env)
    text = outputs(book)
    assert "success urn:li:dataset:" in text and "revenue" in text
    assert "SECRET: warehouse-password" in text and "'value'" not in text
    assert "secrets left: []" in text
    assert "Daily sales by region" in widget_values(book)


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("01_users_and_tokens", ["USER: demo-analyst", "disabled: True", "REVOKED: True"]),
        ("02_cluster_and_deployments", ["SAMPLES:", "Ray: running", "DEPLOYMENTS:"]),
        ("03_audit", ["EVENTS:", "failed calls:", "CSV rows:"]),
    ],
)
def test_admin_notebooks(
    name: str,
    expect: list[str],
    deployed: dict[str, Any],
    server: LiveServer,
    admin_token: str,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "admin"
    shutil.copytree(NOTEBOOKS / "admin", folder)
    book = run_notebook(folder / f"{name}.ipynb", kernel_env(server, admin_token))
    text = outputs(book)
    for piece in expect:
        assert piece in text, text
    if name == "02_cluster_and_deployments":
        assert "GPU" in widget_values(book) or "CPU" in widget_values(book)
        assert re.search(r"DEPLOYMENTS: [1-9]", text)  # alice's deployment too


def test_a_failing_notebook_fails(server: LiveServer, tmp_path: Path) -> None:
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell("from waza.client import Client\nClient().auth.me()")]
    path = tmp_path / "bad.ipynb"
    nbformat.write(book, path)
    with pytest.raises(Exception, match="AuthenticationError"):
        run_notebook(path, kernel_env(server, "wzp_bad"))


def test_stop_from_the_panel(deployed: dict[str, Any], alice: Client) -> None:
    """Last: the shared deployment is stopped through its panel."""
    panel: DeployPanel = deployed["panel"]
    panel.stop_button.click()
    assert panel.last_error is None, panel.message.value
    assert panel.stop_button.disabled and not panel.deploy_button.disabled
    assert alice.serving.get(deployed["id"]).status in ("STOPPING", "STOPPED")
    assert "data-state='STOP" in panel.status.value
