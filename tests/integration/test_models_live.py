"""`waza models ...` and `waza.client`'s models API against a live `waza api`.

The Hugging Face Hub cannot be reached from the tests: `tests.fixtures.fake_hf_hub` stands in for
the internet, and the server's `WAZA_HF_ENDPOINT` points at it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import (
    ADMIN_PASSWORD,
    LiveServer,
    create_pat,
    live_platform,
    login,
)
from tests.fixtures.fake_hf_hub import BIG_REPO, TINY_REPO, FakeHub, hub_env
from waza.cli.models import app
from waza.client import Client
from waza.client.models import DownloadFailed, ModelsAPI
from waza.services.models.schemas import ModelDownloadStatus


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, hub: FakeHub) -> Iterator[LiveServer]:
    with live_platform(tmp_path_factory.mktemp("live-models-cli"), hub_env(hub)) as server:
        yield server


@pytest.fixture(scope="module")
def token(live: LiveServer) -> str:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        return create_pat(http, login(http, "admin", ADMIN_PASSWORD), "admin")


@pytest.fixture(scope="module")
def models(live: LiveServer, token: str) -> Iterator[ModelsAPI]:
    with Client(live.api, token) as client:
        yield ModelsAPI(client.transport)


def cli(live: LiveServer, token: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, [*args], env={"WAZA_API_URL": live.api, "WAZA_API_KEY": token, "COLUMNS": "200"}
    )
    return result.exit_code, result.stdout, result.stderr


def test_builtins_list_show_and_configs(live: LiveServer, token: str) -> None:
    code, out, _ = cli(live, token, "builtin")
    assert code == 0 and "smollm2-135m-instruct" in out and "tiny-random-chat" in out
    code, out, _ = cli(live, token, "list")
    assert code == 0 and "SmolLM2-135M-Instruct" in out and "builtin" in out
    code, out, _ = cli(live, token, "show", "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert code == 0 and "llamacpp" in out and ".gguf" in out
    code, out, _ = cli(live, token, "list", "--json")
    smol = next(m for m in json.loads(out) if m["name"] == "SmolLM2-135M-Instruct")
    code, out, _ = cli(live, token, "configs", smol["id"], "--json")
    assert code == 0 and json.loads(out)[0]["config"]["engine"] == "llamacpp"


def test_search_and_download_with_progress(live: LiveServer, token: str) -> None:
    code, out, _ = cli(live, token, "search", "waza-test")
    assert code == 0 and TINY_REPO in out and BIG_REPO in out
    code, out, err = cli(live, token, "download", TINY_REPO, "--poll", "0.2")
    assert code == 0, err
    model_id = out.strip().splitlines()[-1]
    assert uuid.UUID(model_id)
    assert "Downloading 3 file(s)" in err and "model.safetensors" in err  # the progress bars
    code, out, _ = cli(live, token, "show", TINY_REPO, "--json")
    shown = json.loads(out)
    assert shown["id"] == model_id and all(f["storage_location"] for f in shown["m_files"])
    code, out, err = cli(live, token, "download", TINY_REPO, "-f", "config.json")
    assert code == 0 and "already downloaded" in err
    code, _, err = cli(live, token, "delete", TINY_REPO, "--yes")
    assert code == 0 and "deleted" in err
    code, _, err = cli(live, token, "download", "nobody/nothing")
    assert code == 1 and "nobody/nothing" in err
    code, _, err = cli(live, token, "show", "no/such")
    assert code == 1 and "no model" in err


def test_import_and_upload(live: LiveServer, token: str, tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.bin").write_bytes(b"0" * 100)
    code, out, err = cli(live, token, "import", str(folder), "--engine", "transformers")
    assert code == 0, err
    imported = out.strip()
    code, out, _ = cli(live, token, "configs", imported, "--json")
    assert json.loads(out)[0]["config"] == {"engine": "transformers"}
    code, out, err = cli(
        live, token, "upload", str(folder), "--name", "sent", "--config", '{"n_ctx": 128}'
    )
    assert code == 0, err
    code, out, _ = cli(live, token, "show", out.strip(), "--json")
    uploaded = json.loads(out)
    assert uploaded["name"] == "sent" and uploaded["source"] == "upload"
    assert sorted(f["name"] for f in uploaded["m_files"]) == ["config.json", "weights.bin"]
    assert (folder / "weights.bin").exists()


def test_client_download_cancel_and_configs(
    models: ModelsAPI, hub: FakeHub, tmp_path: Path
) -> None:
    listing = models.hub_files(BIG_REPO)
    assert [f.name for f in listing] == ["weights.bin"]
    with hub.slow(256 * 1024):
        started = models.download(BIG_REPO)
        seen: list[int] = []

        def watch(statuses: list[ModelDownloadStatus]) -> None:
            seen.append(len(statuses))
            if statuses and statuses[0].is_downloading:
                models.cancel_download(statuses[0].id)

        with pytest.raises(DownloadFailed, match="cancelled"):
            models.wait_for_download(started.model_id, poll=0.2, timeout=30, progress=watch)
    assert seen

    one = tmp_path / "tiny.gguf"
    one.write_bytes(b"GGUF")
    model = models.upload(one)
    assert model.id is not None and model.local_path and model.local_path.endswith("tiny.gguf")
    cfg = models.create_config(model.id, {"engine": "llamacpp"}, name="a", default=True)
    changed = models.update_config(cfg.id, name="b")
    assert changed.name == "b" and changed.config == {"engine": "llamacpp"}
    assert [c.name for c in models.configs(model.id, default_only=True)] == ["b"]
    assert models.memory_usage(model.id) == 4
    models.delete_model(model.id)
    assert models.by_repo(BIG_REPO) is not None
