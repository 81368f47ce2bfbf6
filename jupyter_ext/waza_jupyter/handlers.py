"""REST handlers under ``<base_url>/waza/``: the platform as the server's user, JSON out.

Every handler needs the Jupyter login (token or hub cookie). Platform errors keep their status
and come back as ``{"message", "status", "source": "platform", "reason"?, "request_id"?}``;
an unreachable platform is 502 with ``source: "connection"``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel, ValidationError
from tornado import web
from tornado.iostream import StreamClosedError

from waza.client import Client, ConnectionFailed, WazaAPIError
from waza_jupyter import snippets
from waza_jupyter.app import WazaJupyterApp
from waza_jupyter.schema import read_schema

T = TypeVar("T")
URL_HEADER = "X-Waza-Api-Url"  # the panel's "API URL override" setting
DEPLOY_FIELDS = {
    "engine": "engine",
    "config_id": "config_id",
    "replicas": "starting_copies",
    "cpu": "cpu_allocation",
    "gpu": "gpu_allocation",
    "force_cpu": "force_cpu",
}
CHAT_SAMPLING = {"max_tokens", "temperature", "top_p", "stop", "seed"}


class PlatformError(web.HTTPError):
    """An error to show in the panels: its status, a readable message and where it came from."""

    def __init__(self, status: int, message: str, source: str, **extra: Any) -> None:
        super().__init__(status, message)
        self.message = message
        self.source = source
        self.extra = {k: v for k, v in extra.items() if v is not None}


def platform_error(exc: WazaAPIError | ConnectionFailed) -> PlatformError:
    """Map a `waza.client` failure to the JSON error the panels read."""
    if isinstance(exc, ConnectionFailed):
        return PlatformError(502, str(exc), "connection")
    detail = exc.detail
    if isinstance(detail, dict):
        message = str(detail.get("message") or detail.get("detail") or exc.message)
        return PlatformError(
            exc.status_code,
            message,
            "platform",
            reason=detail.get("reason"),
            detail=detail,
            request_id=exc.request_id,
        )
    return PlatformError(exc.status_code, exc.message, "platform", request_id=exc.request_id)


def invalid_values(exc: ValidationError) -> str:
    """``cpu: Input should be less than or equal to 256; ...``, in the extension's field names."""
    names = {platform: ours for ours, platform in DEPLOY_FIELDS.items()}
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{names.get(field, field) or 'value'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def jsonable(value: Any) -> Any:
    """Pydantic models (and lists of them) as JSON-ready data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


class WazaHandler(ExtensionHandlerMixin, APIHandler):
    """Base: the user's platform client, blocking calls off the event loop, JSON errors."""

    @property
    def platform(self) -> Client:
        override = (self.request.headers.get(URL_HEADER) or "").strip() or None
        if override and not override.startswith(("http://", "https://")):
            raise PlatformError(400, f"{URL_HEADER} must be an http(s) URL", "extension")
        return cast(WazaJupyterApp, self.extensionapp).client(override)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking client call in a thread; platform failures become `PlatformError`,
        values the client refuses before sending (its schemas' bounds) a 400."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (WazaAPIError, ConnectionFailed) as exc:
            raise platform_error(exc) from None
        except ValidationError as exc:
            raise PlatformError(400, invalid_values(exc), "extension") from None

    def body(self, allowed: set[str] | None = None) -> dict[str, Any]:
        """The JSON object sent (400 when it is not one, or names unknown fields)."""
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise PlatformError(400, "the body is not JSON", "extension") from None
        if not isinstance(data, dict):
            raise PlatformError(400, "the body must be a JSON object", "extension")
        if allowed is not None and (unknown := sorted(set(data) - allowed)):
            raise PlatformError(
                400,
                f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}",
                "extension",
            )
        return data

    def reply(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(jsonable(value)))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        self.set_header("Content-Type", "application/json")
        if isinstance(exc, PlatformError):
            body = {"message": exc.message, "status": status_code, "source": exc.source}
            body.update(exc.extra)
        else:
            message = getattr(exc, "log_message", None) or self._reason
            body = {"message": message, "status": status_code, "source": "extension"}
        self.finish(json.dumps(jsonable(body)))


# ---- status -------------------------------------------------------------------------------------
class StatusHandler(WazaHandler):
    @web.authenticated
    async def get(self) -> None:
        """Where the platform is and who we are there (the panels' connection check)."""
        client = self.platform
        me = await self.call(client.auth.me)
        self.reply(
            {
                "api_url": client.url,
                "user": me.username,
                "user_id": me.sub,
                "admin": me.is_admin,
            }
        )


# ---- models -------------------------------------------------------------------------------------
class ModelsHandler(WazaHandler):
    @web.authenticated
    async def get(self) -> None:
        """Models you may see; ``?q=`` searches (``&hub=1`` the Hugging Face Hub too)."""
        client = self.platform
        query = self.get_query_argument("q", "").strip()
        if not query:
            self.reply({"models": await self.call(client.models.list_models), "errors": []})
            return
        hubs = ("*",) if self.get_query_argument("hub", "0") in {"1", "true"} else ("local",)
        found = await self.call(client.models.search, query, hubs=hubs)
        self.reply({"models": [r.model for r in found.results], "errors": found.errors})


class ModelImportHandler(WazaHandler):
    @web.authenticated
    async def post(self) -> None:
        """Register a file or folder (relative to the Jupyter root, or absolute) as a model."""
        data = self.body({"path", "name", "description", "private"})
        raw = str(data.pop("path", "") or "").strip()
        if not raw:
            raise PlatformError(400, "path is required", "extension")
        path = Path(raw)
        if not path.is_absolute():
            root = Path(self.serverapp.root_dir).resolve()
            path = (root / raw).resolve()
            if not path.is_relative_to(root):
                raise PlatformError(400, f"{raw!r} is outside the Jupyter root", "extension")
        fields = {k: v for k, v in data.items() if v not in (None, "")}
        model = await self.call(self.platform.models.import_path, path, **fields)
        self.reply(model, 201)


class ModelDeployHandler(WazaHandler):
    @web.authenticated
    async def post(self, model_id: str) -> None:
        """Deploy: ``engine``, ``replicas``, ``cpu``, ``gpu`` (fractions), ``force_cpu``.

        A deployment that cannot fit is refused by the platform with its reason (4xx)."""
        data = self.body(set(DEPLOY_FIELDS))
        options = {DEPLOY_FIELDS[k]: v for k, v in data.items() if v not in (None, "")}
        engine = options.pop("engine", None)
        config_id = options.pop("config_id", None)
        dep_id = await self.call(
            self.platform.serving.deploy, model_id, config_id, engine, **options
        )
        self.reply({"deployment_id": str(dep_id)}, 201)


class HubDownloadHandler(WazaHandler):
    @web.authenticated
    async def post(self) -> None:
        """Start importing a Hugging Face Hub repo: ``{"repo", "files"?, "version"?}``; the
        platform downloads in the background (follow it with ``GET models/downloads``)."""
        data = self.body({"repo", "files", "version"})
        repo = str(data.get("repo") or "").strip()
        if not repo:
            raise PlatformError(400, "repo (a Hub repo id, e.g. org/name) is required", "extension")
        files = data.get("files")
        if files is not None and not (
            isinstance(files, list) and all(isinstance(f, str) for f in files)
        ):
            raise PlatformError(400, "files must be a list of file names", "extension")
        version = data.get("version") or None
        result = await self.call(self.platform.models.download, repo, files=files, version=version)
        self.reply(result, 202)


class HubDownloadsHandler(WazaHandler):
    @web.authenticated
    async def get(self) -> None:
        """Download progress per file (``?model_id=`` one model's): bytes, size, speed, ETA."""
        model_id = self.get_query_argument("model_id", "").strip() or None
        self.reply(await self.call(self.platform.models.download_status, model_id))


class HubDownloadCancelHandler(WazaHandler):
    @web.authenticated
    async def delete(self, model_id: str) -> None:
        """Cancel every running download of this model."""
        self.reply(await self.call(self.platform.models.cancel_all_downloads, model_id))


# ---- deployments --------------------------------------------------------------------------------
class DeploymentsHandler(WazaHandler):
    @web.authenticated
    async def get(self) -> None:
        """Deployments you may see (admins: everyone's), newest first; ``?owners=1`` adds
        ``owner_name`` where the caller may list users (admins)."""
        client = self.platform
        deployments = jsonable(await self.call(client.serving.list))
        if self.get_query_argument("owners", "0") in {"1", "true"}:
            try:
                users = await self.call(client.auth.list_users)
            except PlatformError as exc:
                if exc.status_code != 403:
                    raise
                users = []
            names = {str(u.id): u.username for u in users}
            for dep in deployments:
                dep["owner_name"] = names.get(str(dep.get("owner_id")))
        self.reply(deployments)


class DeploymentHandler(WazaHandler):
    @web.authenticated
    async def get(self, dep_id: str) -> None:
        self.reply(await self.call(self.platform.serving.get, dep_id))

    @web.authenticated
    async def delete(self, dep_id: str) -> None:
        """Stop (``?force=1``: at once)."""
        force = self.get_query_argument("force", "0") in {"1", "true"}
        stopped = await self.call(self.platform.serving.stop, dep_id, force=force)
        self.reply({"stopped": stopped})


class DeploymentLogsHandler(WazaHandler):
    @web.authenticated
    async def get(self, dep_id: str) -> None:
        self.reply(await self.call(self.platform.serving.logs, dep_id))


class ChatHandler(WazaHandler):
    """Server-sent events: ``data: {"delta": "..."}`` per piece, then ``event: done`` with
    ``usage``, ``ttft`` and ``tokens_per_s`` (or ``event: error``). Closing the request stops
    generation on the platform."""

    @web.authenticated
    async def post(self, dep_id: str) -> None:
        data = self.body({"prompt", "messages", "system", *CHAT_SAMPLING})
        prompt = data.pop("messages", None) or data.pop("prompt", None)
        if not prompt or not isinstance(prompt, str | list):
            raise PlatformError(400, "prompt (text) or messages (a list) is required", "extension")
        system = data.pop("system", None)
        stream = self.platform.serving.chat_stream(dep_id, prompt, system=system, **data)
        done = object()

        def step() -> Any:
            return next(stream, done)

        try:
            piece = await self.call(step)  # the first piece: errors still get a JSON status
            self.set_header("Content-Type", "text/event-stream")
            self.set_header("Cache-Control", "no-cache")
            self.set_header("X-Accel-Buffering", "no")
            while piece is not done:
                self.write(f"data: {json.dumps({'delta': piece})}\n\n")
                await self.flush()
                try:
                    piece = await self.call(step)
                except PlatformError as exc:
                    error = {"message": exc.message, "status": exc.status_code}
                    self.write(f"event: error\ndata: {json.dumps(error)}\n\n")
                    break
            else:
                summary = {
                    "usage": stream.usage,
                    "ttft": stream.ttft,
                    "tokens_per_s": stream.tokens_per_s,
                }
                self.write(f"event: done\ndata: {json.dumps(summary)}\n\n")
            self.finish()
        except StreamClosedError:
            pass  # the browser stopped reading (the chat's stop button)
        finally:
            await asyncio.to_thread(stream.close)


# ---- vector stores ------------------------------------------------------------------------------
class VectorDBsHandler(WazaHandler):
    @web.authenticated
    async def get(self) -> None:
        self.reply(await self.call(self.platform.vectors.list_dbs))


class CollectionsHandler(WazaHandler):
    @web.authenticated
    async def get(self, db_id: str) -> None:
        self.reply(await self.call(self.platform.vectors.list_collections, db_id))


class VectorSearchHandler(WazaHandler):
    @web.authenticated
    async def post(self, db_id: str) -> None:
        """``{"collection", "query": text | "vector": [...], "limit", "filter"}``: hits with
        metadata (a text query is embedded by the platform's default model first)."""
        data = self.body({"collection", "query", "vector", "limit", "filter"})
        collection = str(data.get("collection") or "")
        if not collection:
            raise PlatformError(400, "collection is required", "extension")
        client = self.platform
        vector = data.get("vector")
        if vector is None:
            text = str(data.get("query") or "").strip()
            if not text:
                raise PlatformError(400, "query (text) or vector is required", "extension")
            vector = (await self.call(client.embedding.generate, text)).embedding
        if not isinstance(vector, list):
            raise PlatformError(400, "vector must be a list of numbers", "extension")
        limit = int(data.get("limit") or 10)
        hits = await self.call(
            client.vectors.search,
            db_id,
            collection,
            [vector],
            limit=limit,
            filter=data.get("filter"),
        )
        self.reply({"hits": hits})


# ---- catalog ------------------------------------------------------------------------------------
class DatasetsHandler(WazaHandler):
    @web.authenticated
    async def get(self) -> None:
        query = self.get_query_argument("q", "").strip() or None
        self.reply(await self.call(self.platform.catalog.datasets, query))

    @web.authenticated
    async def post(self) -> None:
        """Register a file or folder of the Jupyter root as a ``file`` dataset (with the
        columns of a CSV, TSV, Parquet or Arrow file as its schema)."""
        data = self.body({"path", "description", "tags"})
        raw = str(data.get("path") or "").strip()
        if not raw:
            raise PlatformError(400, "path is required", "extension")
        root = Path(self.serverapp.root_dir).resolve()
        path = Path(raw) if os.path.isabs(raw) else (root / raw).resolve()
        if not os.path.isabs(raw) and not path.is_relative_to(root):
            raise PlatformError(400, f"{raw!r} is outside the Jupyter root", "extension")
        found = await asyncio.to_thread(read_schema, path)  # CSV/Parquet/Arrow: its columns
        urn = await self.call(
            self.platform.catalog.create_dataset,
            str(path),
            "file",
            description=data.get("description"),
            tags=list(data.get("tags") or []),
            dataset_schema=found,
        )
        self.reply({"urn": urn}, 201)


class DatasetDetailHandler(WazaHandler):
    @web.authenticated
    async def get(self) -> None:
        """``?urn=``: the dataset with its schema (``schema`` null when it has none)."""
        urn = self.get_query_argument("urn", "")
        if not urn:
            raise PlatformError(400, "urn is required", "extension")
        client = self.platform
        dataset = await self.call(client.catalog.dataset, urn)
        try:
            schema: Any = await self.call(client.catalog.schema, urn)
        except PlatformError as exc:
            if exc.status_code != 404:
                raise
            schema = None
        self.reply({"dataset": dataset, "schema": schema})


class ContainersHandler(WazaHandler):
    @web.authenticated
    async def get(self) -> None:
        query = self.get_query_argument("q", "").strip() or None
        self.reply(await self.call(self.platform.catalog.containers, query))


class SecretsHandler(WazaHandler):
    @web.authenticated
    async def get(self) -> None:
        """Secrets by name only (never a value)."""
        secrets = await self.call(self.platform.catalog.secrets)
        self.reply([{"name": s.name, "urn": s.urn, "description": s.description} for s in secrets])


# ---- snippets -----------------------------------------------------------------------------------
class SnippetHandler(WazaHandler):
    @web.authenticated
    async def get(self) -> None:
        """``?kind=model|deployment|collection|dataset&id=...`` (``&db=`` for a collection,
        ``&flavor=openai`` for a deployment): a notebook cell's code."""
        kind = self.get_query_argument("kind", "")
        ident = self.get_query_argument("id", "")
        try:
            code = snippets.snippet(
                kind,
                ident,
                db=self.get_query_argument("db", None),
                flavor=self.get_query_argument("flavor", "waza"),
            )
        except ValueError as exc:
            raise PlatformError(400, str(exc), "extension") from None
        self.reply({"code": code})


ID = r"(?P<{}>[^/]+)"


def handlers() -> list[tuple[str, type[WazaHandler]]]:
    """URL patterns relative to the server's base URL."""
    routes: list[tuple[str, type[WazaHandler]]] = [
        ("status", StatusHandler),
        ("models", ModelsHandler),
        ("models/import", ModelImportHandler),
        ("models/download", HubDownloadHandler),
        ("models/downloads", HubDownloadsHandler),
        (f"models/{ID.format('model_id')}/download", HubDownloadCancelHandler),
        (f"models/{ID.format('model_id')}/deploy", ModelDeployHandler),
        ("deployments", DeploymentsHandler),
        (f"deployments/{ID.format('dep_id')}", DeploymentHandler),
        (f"deployments/{ID.format('dep_id')}/logs", DeploymentLogsHandler),
        (f"deployments/{ID.format('dep_id')}/chat", ChatHandler),
        ("vectordbs", VectorDBsHandler),
        (f"vectordbs/{ID.format('db_id')}/collections", CollectionsHandler),
        (f"vectordbs/{ID.format('db_id')}/search", VectorSearchHandler),
        ("catalog/datasets", DatasetsHandler),
        ("catalog/dataset", DatasetDetailHandler),
        ("catalog/containers", ContainersHandler),
        ("catalog/secrets", SecretsHandler),
        ("snippets", SnippetHandler),
    ]
    return [(f"waza/{pattern}", handler) for pattern, handler in routes]
