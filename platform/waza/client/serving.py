"""`client.serving`: deploy models, follow their lifecycle, read their logs, chat with them.

    dep_id = client.serving.deploy(model.id)                 # answers at once
    dep = client.serving.wait(dep_id, timeout=300)           # DEPLOYED, or DeploymentFailed
    client.serving.chat(dep_id, "What is the capital of France?", max_tokens=32)
    for piece in client.serving.chat(dep_id, "Tell me a story", stream=True):
        print(piece, end="", flush=True)
    oa = client.serving.openai(dep_id)                       # an `openai.OpenAI` on the runtime
    client.serving.stop(dep_id)

Statuses are uppercase: REQUESTED → DEPLOYING → INITIALIZING → DEPLOYED, or FAILED / ERROR with
`last_error_code` (MODEL_LOADING_FAILURE, OOM, STARTUP_TIMEOUT, ...) and `last_error_message`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from waza.client.base import Transport, drop_none
from waza.client.errors import ConnectionFailed, WazaAPIError
from waza.services.serving import schemas

if TYPE_CHECKING:
    import openai

Id = uuid.UUID | str
Message = dict[str, Any]
Deployments = list[schemas.UIModelDeployment]
Instances = list[schemas.ModelInstance]
Usage = list[schemas.UsageSummary]
Nodes = list[dict[str, Any]]
Pieces = Generator[str, None, None]

READY = "DEPLOYED"
FAILED = frozenset({"FAILED", "ERROR", "MUST_REDOWNLOAD"})
GONE = frozenset({"STOPPING", "STOPPED"})
_OPTIONS = frozenset(schemas.CreateModelDeployment.model_fields) | {"inferenceResources"}


class DeploymentFailed(WazaAPIError):
    """A deployment ended FAILED/ERROR (or was stopped) instead of becoming DEPLOYED.

    ``code`` is its ``last_error_code`` (e.g. ``MODEL_LOADING_FAILURE``), ``reason`` its
    ``last_error_message`` and ``deployment`` the last state read.
    """

    def __init__(self, deployment: schemas.UIModelDeployment) -> None:
        self.deployment = deployment
        self.code = deployment.last_error_code or deployment.status
        self.reason = deployment.last_error_message or f"the deployment is {deployment.status}"
        super().__init__(
            422,
            f"deployment {deployment.id} of {deployment.m_name} is {deployment.status}: "
            f"[{self.code}] {self.reason}",
        )


class ServingAPI:
    """Deployments (`/api/serving/...`) and the OpenAI runtime (`/runtime/models/{id}/v1`)."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    # ---- deploy and inspect ---------------------------------------------------------------------
    def deploy(
        self,
        model_id: Id,
        config_id: Id | None = None,
        engine: str | None = None,
        *,
        file_id: Id | None = None,
        **options: Any,
    ) -> uuid.UUID:
        """Ask for a deployment and return its id at once (follow it with `wait`).

        ``options`` are `CreateModelDeployment` fields: ``starting_copies``, ``min_copies``,
        ``max_copies``, ``autoscaling``, ``cpu_allocation``, ``gpu_allocation``, ``force_cpu``,
        ``node_resource_type``, ``max_concurrent_requests`` ... A refused deploy (unknown model
        or config, bad engine, resources the cluster can never give) raises at once with the
        server's reason.
        """
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            known = ", ".join(sorted(_OPTIONS))
            raise TypeError(f"unknown deploy option(s) {', '.join(unknown)}; known: {known}")
        body = schemas.CreateModelDeployment.model_validate(
            {
                "m_id": str(model_id),
                "m_config_id": str(config_id) if config_id else None,
                "m_file_id": str(file_id) if file_id else None,
                "engine_name": engine,
                **options,
            }
        )
        payload = body.model_dump(mode="json", by_alias=True, exclude_none=True)
        return uuid.UUID(str(self._t.json("POST", "serving/deploy_model", json=payload)))

    def list(self, model_id: Id | None = None) -> Deployments:
        """Deployments you may see (your own and those of shared models), newest first."""
        params = drop_none(model_id=str(model_id) if model_id else None)
        return self._t.parse(Deployments, "GET", "serving/deployments", params=params)

    def get(self, deployment_id: Id) -> schemas.UIModelDeployment:
        return self._t.parse(
            schemas.UIModelDeployment, "GET", f"serving/deployment/{deployment_id}"
        )

    def status(self, deployment_id: Id) -> str:
        """The status alone, e.g. ``"DEPLOYED"``."""
        return str(self._t.json("GET", f"serving/deployment/{deployment_id}/status"))

    def stop(self, deployment_id: Id, *, force: bool = False) -> bool:
        """Stop: graceful (in-flight requests finish) or ``force`` (replicas killed at once)."""
        path = f"serving/deployment/{deployment_id}"
        return bool(self._t.json("DELETE", path, params={"force": force}, timeout=120))

    def wait(
        self,
        deployment_id: Id,
        timeout: float | None = 600.0,
        *,
        poll: float = 0.5,
        on_status: Callable[[schemas.UIModelDeployment], None] | None = None,
    ) -> schemas.UIModelDeployment:
        """Poll until DEPLOYED and return the deployment.

        ``on_status`` is called with the deployment each time its status changes. Raises
        `DeploymentFailed` on FAILED/ERROR (or when it is stopped meanwhile), `TimeoutError`
        after ``timeout`` seconds (the deployment goes on). Up to three transient failures in a
        row (5xx, connection errors) are retried.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: str | None = None
        strikes = 0
        while True:
            try:
                dep = self.get(deployment_id)
                strikes = 0
            except (ConnectionFailed, WazaAPIError) as exc:
                transient = isinstance(exc, ConnectionFailed) or exc.status_code >= 500
                strikes += 1
                if not transient or strikes > 3:
                    raise
            else:
                if dep.status != seen:
                    seen = dep.status
                    if on_status is not None:
                        on_status(dep)
                if dep.status == READY:
                    return dep
                if dep.status in FAILED or dep.status in GONE:
                    raise DeploymentFailed(dep)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"deployment {deployment_id} is still {seen or 'unknown'} after {timeout:g} s"
                )
            time.sleep(poll)

    def instances(self, deployment_id: Id | None = None) -> Instances:
        """Replicas of one deployment, or of every deployment you may see."""
        params = drop_none(deployment_id=str(deployment_id) if deployment_id else None)
        return self._t.parse(Instances, "GET", "serving/model_instances", params=params)

    def instance(self, instance_id: Id) -> schemas.ModelInstance:
        return self._t.parse(schemas.ModelInstance, "GET", f"serving/model_instance/{instance_id}")

    # ---- logs -----------------------------------------------------------------------------------
    def logs(self, deployment_id: Id) -> schemas.DeploymentLogs:
        """Lifecycle events, then the replica's recent lines."""
        return self._t.parse(
            schemas.DeploymentLogs, "GET", f"serving/deployment/{deployment_id}/logs"
        )

    def patterns(self, deployment_id: Id) -> schemas.LogPatterns:
        """Known failure patterns (OOM, loading failure, CUDA errors ...) found in the logs."""
        return self._t.parse(
            schemas.LogPatterns, "GET", f"serving/deployment/{deployment_id}/logs/patterns"
        )

    def stream_logs(self, deployment_id: Id) -> Pieces:
        """Log lines as they come (server-sent events): the current ones, then new ones until
        the deployment is no longer active. Stop early by closing the iterator."""
        path = f"serving/deployment/{deployment_id}/logs/stream"
        with self._t.stream("GET", path) as response:
            for event, data in sse_events(response.iter_lines()):
                if event == "end":
                    return
                line = json.loads(data).get("line")
                if line is not None:
                    yield str(line)

    def engine_logs(self, engine: str) -> schemas.EngineLogs:
        """Recent lifecycle lines of every deployment of one engine."""
        return self._t.parse(schemas.EngineLogs, "GET", f"serving/logs/{engine}")

    # ---- cluster --------------------------------------------------------------------------------
    def estimate(self, model_id: Id, **options: Any) -> schemas.VramEstimate:
        """Memory one replica would need (``estimation_source`` says how it was guessed)."""
        body = {"m_id": str(model_id), **options}
        return self._t.parse(schemas.VramEstimate, "POST", "serving/estimate_model_vram", json=body)

    def cluster_status(self) -> schemas.ServingStatus:
        """Whether Ray runs (``running`` / ``not running``), its resources and applications."""
        return self._t.parse(schemas.ServingStatus, "GET", "serving/status")

    def health(self) -> Nodes:
        """The Ray nodes and whether each is alive."""
        return list(self._t.json("GET", "serving/health"))

    def start(
        self,
        address: str | None = None,
        runtime_env: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Start (or join) Ray now rather than on the first deploy (admin)."""
        body = {"address": address, "runtime_env": runtime_env, "options": options}
        return dict(self._t.json("POST", "serving/start", json=body, timeout=300))

    def usage(self, deployment_id: Id | None = None, *, all_users: bool = False) -> Usage:
        """Runtime token usage per deployment: yours (admins: everyone's with ``all_users``)."""
        params = drop_none(
            deployment_id=str(deployment_id) if deployment_id else None,
            all_users=all_users or None,
        )
        return self._t.parse(Usage, "GET", "serving/usage", params=params)

    # ---- runtime (OpenAI) -----------------------------------------------------------------------
    def runtime_url(self, deployment_id: Id) -> str:
        """The OpenAI base URL of a deployment: ``<origin>/runtime/models/<id>/v1``."""
        return f"{runtime_origin(self._t.url)}/runtime/models/{deployment_id}/v1"

    def openai(self, deployment_id: Id, **kwargs: Any) -> openai.OpenAI:
        """An `openai.OpenAI` client on the deployment, with this client's token.

        Any ``model=`` string works in its calls. A password session's access token expires
        (about an hour): make a new client then, or use a personal access token.
        """
        import httpx
        import openai

        if not self._t.token:
            raise WazaAPIError(401, "no credentials: log in or set WAZA_API_KEY")
        kwargs.setdefault("http_client", httpx.Client(verify=getattr(self._t, "verify", True)))
        return openai.OpenAI(
            api_key=self._t.token, base_url=self.runtime_url(deployment_id), **kwargs
        )

    @overload
    def chat(
        self,
        deployment_id: Id,
        prompt: str | Sequence[Message],
        *,
        stream: Literal[False] = False,
        system: str | None = None,
        timeout: float | None = 300.0,
        **sampling: Any,
    ) -> str: ...

    @overload
    def chat(
        self,
        deployment_id: Id,
        prompt: str | Sequence[Message],
        *,
        stream: Literal[True],
        system: str | None = None,
        timeout: float | None = 300.0,
        **sampling: Any,
    ) -> Pieces: ...

    def chat(
        self,
        deployment_id: Id,
        prompt: str | Sequence[Message],
        *,
        stream: bool = False,
        system: str | None = None,
        timeout: float | None = 300.0,
        **sampling: Any,
    ) -> str | Pieces:
        """One chat answer: its text, or with ``stream`` an iterator of text pieces.

        ``prompt`` is the user's message or a whole conversation (``[{"role": ..., "content":
        ...}]``); ``system`` prepends a system message. ``sampling``: ``max_tokens``,
        ``temperature``, ``top_p``, ``stop``, ``seed``. A stream is opened on first iteration;
        closing it early stops generation on the server.
        """
        messages: list[Message] = (
            [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        )
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        body = {"model": "waza", "messages": messages, **sampling}
        url = f"{self.runtime_url(deployment_id)}/chat/completions"
        if stream:
            return self._chat_stream(url, body)
        reply = self._t.json("POST", url, json=body, timeout=timeout)
        return str(reply["choices"][0]["message"].get("content") or "")

    def chat_stream(
        self,
        deployment_id: Id,
        prompt: str | Sequence[Message],
        *,
        system: str | None = None,
        **sampling: Any,
    ) -> ChatStream:
        """A streamed answer that also measures itself: iterate it for text pieces, then read
        ``usage`` (token counts from the runtime), ``ttft`` and ``tokens_per_s``.

            s = client.serving.chat_stream(dep_id, "Hi!", max_tokens=64)
            for piece in s: print(piece, end="")
            s.ttft, s.tokens_per_s, s.usage["completion_tokens"]

        ``close()`` (or leaving the loop early and closing) stops generation on the server.
        """
        messages: list[Message] = (
            [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        )
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        body = {
            "model": "waza",
            "messages": messages,
            "stream_options": {"include_usage": True},
            **sampling,
        }
        return ChatStream(self, f"{self.runtime_url(deployment_id)}/chat/completions", body)

    def _chat_stream(
        self,
        url: str,
        body: dict[str, Any],
        on_usage: Callable[[dict[str, Any]], None] | None = None,
    ) -> Pieces:
        with self._t.stream("POST", url, json={**body, "stream": True}) as response:
            for _, data in sse_events(response.iter_lines()):
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if "error" in chunk:
                    error = chunk["error"]
                    raise WazaAPIError(502, error.get("message") or str(error))
                if on_usage is not None and chunk.get("usage"):
                    on_usage(dict(chunk["usage"]))
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield str(text)


class ChatStream:
    """One streamed chat answer (`ServingAPI.chat_stream`): an iterator of text pieces that
    times itself. ``ttft`` is the seconds from opening the stream to the first piece,
    ``tokens_per_s`` the completion tokens over the seconds from the first piece to the end
    (the runtime's own definition), ``usage`` the runtime's token counts."""

    def __init__(self, api: ServingAPI, url: str, body: dict[str, Any]) -> None:
        self.usage: dict[str, Any] = {}
        self.text = ""
        self.started: float | None = None
        self.first_piece: float | None = None
        self.finished: float | None = None
        self._pieces = api._chat_stream(url, body, on_usage=self.usage.update)

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        if self.started is None:
            self.started = time.perf_counter()
        try:
            piece = next(self._pieces)
        except StopIteration:
            self.finished = self.finished or time.perf_counter()
            raise
        if self.first_piece is None:
            self.first_piece = time.perf_counter()
        self.text += piece
        return piece

    def close(self) -> None:
        """Stop reading (the server stops generating)."""
        self._pieces.close()
        self.finished = self.finished or time.perf_counter()

    @property
    def ttft(self) -> float | None:
        if self.started is None or self.first_piece is None:
            return None
        return self.first_piece - self.started

    @property
    def completion_tokens(self) -> int | None:
        value = self.usage.get("completion_tokens")
        return int(value) if value is not None else None

    @property
    def tokens_per_s(self) -> float | None:
        tokens = self.completion_tokens
        if tokens is None or self.first_piece is None or self.finished is None:
            return None
        return tokens / max(self.finished - self.first_piece, 1e-6)


ServingClient = ServingAPI


def runtime_origin(api_url: str) -> str:
    """The API root without its trailing ``/api``: the runtime routes sit beside it."""
    url = api_url.rstrip("/")
    return url[: -len("/api")] if url.endswith("/api") else url


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """``(event, data)`` pairs of a server-sent-events stream (event ``message`` by default)."""
    event = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()
    if data:
        yield event, "\n".join(data)
