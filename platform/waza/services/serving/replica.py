"""The Ray Serve deployment every model runs in: one engine per replica, OpenAI-shaped answers.

The gateway validates requests and calls these methods through a Serve handle; streams yield
ready-to-send SSE text (one or more ``data: {chunk}`` events: pieces generated within
``stream_interval_ms``, default 15, travel together, which keeps the per-item cost of Ray's
streaming and of the gateway off every token) and finish with one dict holding the token usage,
which the gateway records (and forwards when the client asked for it). A load failure is raised as
``RuntimeError("[CODE] message")`` so the code survives into Serve's status message.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from waza.services.serving import openai_format as oa
from waza.services.serving.engines import get_engine
from waza.services.serving.engines.base import EngineError, EngineSpec

LOG_LINES = 2000
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _RingHandler(logging.Handler):
    """Keeps the replica's last log lines for `GET .../logs`."""

    def __init__(self, lines: collections.deque[str]) -> None:
        super().__init__(level=logging.INFO)
        self.lines = lines
        self.seen = 0
        self.setFormatter(logging.Formatter(_LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        self.seen += 1
        self.lines.append(self.format(record))


class EngineReplica:
    """A Serve replica wrapping one engine (constructed by Ray with the engine spec as a dict)."""

    def __init__(self, spec: dict[str, Any], deployment_id: str) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self.handler = _RingHandler(self.lines)
        logging.getLogger().addHandler(self.handler)
        self.log = logging.getLogger("waza.replica")
        self.log.setLevel(logging.INFO)
        self.deployment_id = deployment_id
        self.spec = EngineSpec(**spec)
        # Stream output batching: chunks produced within this many seconds travel together
        # (one Ray stream item, one write); the first piece is never held back.
        self.stream_interval = float(self.spec.options.get("stream_interval_ms", 15)) / 1000.0
        self.log.info(
            "loading %s with engine %s on %s",
            self.spec.model_path,
            self.spec.engine,
            self.spec.device,
        )
        started = time.perf_counter()
        try:
            self.engine = get_engine(self.spec.engine)(self.spec)
        except EngineError as exc:
            self.log.error("load failed: [%s] %s", exc.code, exc.message)
            raise RuntimeError(f"[{exc.code}] {exc.message}") from None
        except MemoryError:
            raise RuntimeError(f"[OOM] out of memory loading {self.spec.model_path}") from None
        except Exception as exc:
            self.log.exception("load failed")
            raise RuntimeError(f"[MODEL_LOADING_FAILURE] {type(exc).__name__}: {exc}") from None
        self.log.info("model ready in %.1f s", time.perf_counter() - started)

    # --- control -------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        import ray

        return {
            "engine": self.spec.engine,
            "model": self.spec.model_name,
            "device": self.spec.device,
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "tasks": sorted(self.engine.tasks),
        }

    def logs(self) -> dict[str, Any]:
        return {"lines": list(self.lines), "seen": self.handler.seen}

    def check_health(self) -> None:
        """Serve's periodic probe: the engine object is alive."""

    # --- inference -----------------------------------------------------------------------------
    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        req = oa.ChatCompletionRequest.model_validate(body)
        gen = await self._run(self.engine.chat, req.message_dicts(), self._sampling(req))
        if isinstance(gen, dict):
            return gen
        return oa.chat_completion(_id("chatcmpl"), self.spec.model_name, int(time.time()), gen)

    async def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[Any]:
        req = oa.ChatCompletionRequest.model_validate(body)
        cid, created, model = _id("chatcmpl"), int(time.time()), self.spec.model_name
        first = oa.chat_chunk(cid, model, created, role="assistant", text="")
        yield f"data: {json.dumps(first)}\n\n"
        async for item in self._stream(
            self.engine.chat_stream,
            (req.message_dicts(), self._sampling(req)),
            cid,
            created,
            chat=True,
        ):
            yield item

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        req = oa.CompletionRequest.model_validate(body)
        gen = await self._run(self.engine.complete, req.prompt_text, self._sampling(req))
        if isinstance(gen, dict):
            return gen
        return oa.completion(_id("cmpl"), self.spec.model_name, int(time.time()), gen)

    async def complete_stream(self, body: dict[str, Any]) -> AsyncIterator[Any]:
        req = oa.CompletionRequest.model_validate(body)
        cid, created = _id("cmpl"), int(time.time())
        async for item in self._stream(
            self.engine.complete_stream,
            (req.prompt_text, self._sampling(req)),
            cid,
            created,
            chat=False,
        ):
            yield item

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        req = oa.EmbeddingRequest.model_validate(body)
        emb = await self._run(self.engine.embed, req.texts)
        if isinstance(emb, dict):
            return emb
        return oa.embeddings(self.spec.model_name, emb, req.encoding_format)

    # --- helpers -------------------------------------------------------------------------------
    def _sampling(self, req: Any) -> Any:
        """The request's sampling, with the model config's `temperature` / `top_p` where the
        request names none (small models answer far better near greedy)."""
        params = req.sampling()
        for name in ("temperature", "top_p"):
            if getattr(req, name, None) is None and name in self.spec.options:
                setattr(params, name, float(self.spec.options[name]))
        return params

    async def _run(self, method: Any, *args: Any) -> Any:
        """The engine's answer, or ``{"error": {code, message}}`` for an `EngineError`."""
        try:
            return await method(*args)
        except EngineError as exc:
            return {"error": {"code": exc.code, "message": exc.message}}

    async def _stream(
        self, method: Any, args: tuple[Any, ...], cid: str, created: int, *, chat: bool
    ) -> AsyncIterator[Any]:
        model = self.spec.model_name
        prompt_tokens = completion_tokens = chunks = 0
        finished = False
        stream: Any = None
        pending: list[str] = []
        last_sent = 0.0  # the first piece goes out at once
        try:
            stream = method(*args)
            async for delta in stream:
                chunks += 1
                if delta.prompt_tokens is not None:
                    prompt_tokens = delta.prompt_tokens
                if delta.completion_tokens is not None:
                    completion_tokens = delta.completion_tokens
                if not delta.text and delta.finish_reason is None:
                    continue
                if chat:
                    chunk = oa.chat_chunk(
                        cid, model, created, text=delta.text, finish_reason=delta.finish_reason
                    )
                else:
                    chunk = oa.completion_chunk(
                        cid, model, created, delta.text, finish_reason=delta.finish_reason
                    )
                pending.append(f"data: {json.dumps(chunk)}\n\n")
                now = time.monotonic()
                if now - last_sent >= self.stream_interval or delta.finish_reason is not None:
                    yield "".join(pending)
                    pending.clear()
                    last_sent = now
            if pending:
                yield "".join(pending)
            finished = True
        except EngineError as exc:
            finished = True
            yield {"error": {"code": exc.code, "message": exc.message}}
            return
        finally:
            if not finished:
                self.log.info("stream closed by the client after %d chunks", chunks)
            aclose = getattr(stream, "aclose", None) if stream is not None else None
            if aclose is not None:
                await aclose()
        yield {
            "usage": {
                "id": cid,
                "created": created,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
            }
        }


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"
