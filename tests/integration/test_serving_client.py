"""`waza.client`'s serving API and the `waza deploy | deployments | deployment | serving | chat`
commands against a live API on the session's Ray head, with the tiny random-weights model.

One deployment is shared by the client tests; the CLI makes one with `waza deploy` (then stops
it) and `waza chat` one more for a model that is not deployed. The missing-files failure is
caught before Ray is asked for anything, so it costs no replica.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import LiveServer, create_database, create_pat, login
from tests.fixtures.ray import RayNode
from tests.integration.serving_helpers import ADMIN_PASSWORD, api_client, serving_server
from waza.cli.serving import register
from waza.client import Client, ConflictError, NotFoundError, ValidationError
from waza.client.models import ModelsAPI
from waza.client.serving import DeploymentFailed, ServingAPI
from waza.services.models.schemas import Model
from waza.services.serving.schemas import UIModelDeployment
from waza.settings import Settings

pytestmark = pytest.mark.timeout(300)

LIFECYCLE = ["REQUESTED", "DEPLOYING", "INITIALIZING", "DEPLOYED"]
GREEDY = {"max_tokens": 8, "temperature": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ray_head: RayNode) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("serving-client")
    url, drop = create_database(home)
    settings = Settings(home=home, database_url=url)  # type: ignore[call-arg]
    with serving_server(settings, ray_head.address) as live:
        yield live
    drop()


@pytest.fixture(scope="module")
def token(server: LiveServer) -> str:
    with api_client(server) as http:
        return create_pat(http, login(http, "admin", ADMIN_PASSWORD), "admin")


@pytest.fixture(scope="module")
def client(server: LiveServer, token: str) -> Iterator[Client]:
    with Client(server.api, token) as c:
        yield c


@pytest.fixture(scope="module")
def serving(client: Client) -> ServingAPI:
    return ServingAPI(client.transport)


@pytest.fixture(scope="module")
def models(client: Client) -> ModelsAPI:
    return ModelsAPI(client.transport)


@pytest.fixture(scope="module")
def tiny(models: ModelsAPI, tiny_chat_model: Path) -> Model:
    return models.import_path(tiny_chat_model, name="tiny-chat", config={"engine": "transformers"})


@pytest.fixture(scope="module")
def deployed(serving: ServingAPI, tiny: Model) -> tuple[UIModelDeployment, list[str]]:
    """The shared deployment and the statuses `wait` reported on the way."""
    assert tiny.id is not None
    seen: list[str] = []
    dep_id = serving.deploy(tiny.id, cpu_allocation=0.5)
    dep = serving.wait(dep_id, 240, on_status=lambda d: seen.append(d.status))
    return dep, seen


def cli(
    server: LiveServer, token: str, *args: str, stdin: str | None = None
) -> tuple[int, str, str]:
    app = typer.Typer()
    register(app)
    env = {"WAZA_API_URL": server.api, "WAZA_API_KEY": token, "COLUMNS": "200"}
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_deploy_wait_and_inspect(
    serving: ServingAPI, tiny: Model, deployed: tuple[UIModelDeployment, list[str]]
) -> None:
    dep, seen = deployed
    assert seen[-1] == "DEPLOYED" and len(set(seen)) == len(seen)
    assert seen == [s for s in LIFECYCLE if s in seen]  # reported once each, in order
    assert dep.m_name == "tiny-chat" and dep.engine_name == "transformers"
    assert dep.instances and dep.instances[0].status == "DEPLOYED"
    assert serving.wait(dep.id, 5).id == dep.id  # already DEPLOYED: at once
    assert serving.status(dep.id) == "DEPLOYED"
    assert dep.id in [d.id for d in serving.list(tiny.id)]
    assert serving.list(uuid.uuid4()) == []
    instances = serving.instances(dep.id)
    assert [i.id for i in instances] == [i.id for i in dep.instances]
    assert serving.instance(instances[0].id).deployment_id == dep.id
    state = serving.cluster_status()
    assert state.status == "running" and state.deployments_active >= 1
    assert any(node["alive"] for node in serving.health())
    assert tiny.id is not None
    estimate = serving.estimate(tiny.id)
    assert estimate.estimation_source == "model_file_size"
    assert estimate.computed_vram_estimate and estimate.computed_vram_estimate > 0
    assert serving.estimate(uuid.uuid4()).estimation_source == "unavailable"
    # refused deploys raise at once, with the server's reason
    with pytest.raises(NotFoundError):
        serving.deploy(uuid.uuid4())
    with pytest.raises(ValidationError) as bad:
        serving.deploy(tiny.id, engine="nope")
    assert bad.value.detail["reason"] == "bad_engine"
    with pytest.raises(TypeError, match="replicas"):
        serving.deploy(tiny.id, replicas=2)
    with pytest.raises(NotFoundError):
        serving.get(uuid.uuid4())


def test_chat_plain_streamed_and_openai(
    server: LiveServer, serving: ServingAPI, deployed: tuple[UIModelDeployment, list[str]]
) -> None:
    dep_id = deployed[0].id
    text = serving.chat(dep_id, "hello", **GREEDY)
    assert isinstance(text, str) and text
    stream = serving.chat(dep_id, "hello", stream=True, **GREEDY)
    pieces = list(stream)
    assert pieces and "".join(pieces) == text  # greedy: the same answer streamed or not
    conversation = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": text},
        {"role": "user", "content": "again"},
    ]
    assert serving.chat(dep_id, conversation, system="Be brief.", max_tokens=4)
    # closing a stream early is fine, and the deployment answers again at once
    early = serving.chat(dep_id, "go on", stream=True, max_tokens=200)
    assert next(early)
    early.close()
    assert serving.runtime_url(dep_id) == f"{server.url}/runtime/models/{dep_id}/v1"
    oa = serving.openai(dep_id)
    assert str(oa.base_url).rstrip("/") == serving.runtime_url(dep_id)
    assert [m.id for m in oa.models.list()] == ["tiny-chat"]
    answer = oa.chat.completions.create(
        model="anything", messages=[{"role": "user", "content": "hello"}], **GREEDY
    )
    assert answer.choices[0].message.content == text


def test_logs_patterns_stream_and_usage(
    serving: ServingAPI, deployed: tuple[UIModelDeployment, list[str]]
) -> None:
    dep_id = deployed[0].id
    logs = serving.logs(dep_id)
    assert logs.capture_active and any("DEPLOYED" in line for line in logs.logs)
    assert serving.patterns(dep_id).patterns_detected["model_loading_failure"] is False
    # an active deployment's stream never ends by itself: take the first lines, then close it
    lines = serving.stream_logs(dep_id)
    first = list(itertools.islice(lines, 3))
    lines.close()
    assert first == logs.logs[:3]
    engine = serving.engine_logs("transformers")
    assert str(dep_id) in [entry["deployment_id"] for entry in engine.logs]
    serving.chat(dep_id, "count me", max_tokens=2)
    deadline = time.monotonic() + 10  # usage is written off the request path
    while not (rows := serving.usage(dep_id)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert rows and rows[0].requests >= 1 and rows[0].completion_tokens >= 1


def test_missing_files_fail_with_model_loading_failure(
    server: LiveServer, token: str, serving: ServingAPI, models: ModelsAPI,
    tiny_chat_model: Path, tmp_path: Path,
) -> None:  # fmt: skip
    gone = tmp_path / "gone-model"
    shutil.copytree(tiny_chat_model, gone)
    model = models.import_path(gone, name="gone-model", config={"engine": "transformers"})
    shutil.rmtree(gone)
    assert model.id is not None
    dep_id = serving.deploy(model.id)
    with pytest.raises(DeploymentFailed) as failed:
        serving.wait(dep_id, 120)
    assert failed.value.code == "MODEL_LOADING_FAILURE"
    assert failed.value.deployment.status == "FAILED"
    assert "gone-model" in str(failed.value) and "MODEL_LOADING_FAILURE" in str(failed.value)
    with pytest.raises(ConflictError):
        serving.chat(dep_id, "hi")
    # the CLI exits non-zero with the code and the message
    code, _, err = cli(server, token, "deploy", "gone-model")
    assert code == 1
    assert "FAILED" in err and "MODEL_LOADING_FAILURE" in err and "gone-model" in err
    code, _, err = cli(server, token, "chat", str(dep_id), "hi")
    assert code == 1 and "is FAILED" in err
    code, _, err = cli(server, token, "deploy", "no-such-model")
    assert code == 1 and "no model 'no-such-model'" in err


@pytest.fixture(scope="module")
def cli_model(models: ModelsAPI, tiny_chat_model: Path) -> Model:
    return models.import_path(tiny_chat_model, name="tiny-cli", config={"engine": "transformers"})


def test_cli_deploy_list_chat_stop(server: LiveServer, token: str, cli_model: Model) -> None:
    code, out, err = cli(server, token, "deploy", "tiny-cli", "--cpus", "0.5")
    assert code == 0, err
    dep_id = out.strip().splitlines()[-1]
    assert uuid.UUID(dep_id)
    assert "DEPLOYED" in err and "deployed tiny-cli" in err
    assert f"OpenAI base URL: {server.url}/runtime/models/{dep_id}/v1" in err

    code, out, _ = cli(server, token, "deployments")
    assert code == 0 and dep_id in out and "DEPLOYED" in out
    code, out, _ = cli(server, token, "deployments", "--model", "tiny-cli", "--json")
    assert [d["id"] for d in json.loads(out)] == [dep_id]

    # by model name: the running deployment answers, nothing new is deployed
    code, out, err = cli(server, token, "chat", "tiny-cli", "hello", "--max-tokens", "8")
    assert code == 0, err
    assert len(out) > 1 and "deploying" not in err
    code, out, err = cli(
        server, token, "chat", dep_id, "--max-tokens", "4", stdin="hello\n/reset\n\nhi\n/exit\n"
    )
    assert code == 0, err
    assert "chatting with tiny-cli" in err and err.count("you> ") == 5
    assert out.count("\n") >= 2  # two answers, each ended by a new line

    code, out, _ = cli(server, token, "deployment", "show", dep_id[:8])
    assert code == 0 and "DEPLOYED" in out and "instances" in out and "tiny-cli" in out
    code, out, _ = cli(server, token, "deployment", "logs", dep_id)
    assert code == 0 and "INITIALIZING" in out and "DEPLOYED" in out
    code, out, _ = cli(server, token, "serving", "status")
    assert code == 0 and "running" in out and "CPU" in out

    code, _, err = cli(server, token, "deployment", "stop", dep_id, "--force")
    assert code == 0 and "STOPPED" in err
    code, out, _ = cli(server, token, "deployments")
    assert dep_id not in out
    code, out, _ = cli(server, token, "deployments", "--all")
    assert dep_id in out and "STOPPED" in out
    # a stopped deployment's log stream ends by itself
    code, out, _ = cli(server, token, "deployment", "logs", dep_id, "--follow")
    assert code == 0 and "stopped (force)" in out


def test_cli_chat_deploys_an_undeployed_model_first(
    server: LiveServer, token: str, serving: ServingAPI, cli_model: Model
) -> None:
    assert cli_model.id is not None
    for dep in serving.list(cli_model.id):
        if dep.status != "STOPPED":
            serving.stop(dep.id, force=True)
    code, out, err = cli(server, token, "chat", "tiny-cli", "hello", "--max-tokens", "4")
    assert code == 0, err
    assert "tiny-cli is not deployed: deploying it" in err and "DEPLOYED" in err
    assert len(out) > 1
    running = [d for d in serving.list(cli_model.id) if d.status == "DEPLOYED"]
    assert len(running) == 1
    assert serving.stop(running[0].id, force=True) is True
