"""`client.models`: the model repository (models, files, configs, Hub search and downloads,
imports, uploads and built-ins).

>>> m = client.models.add_builtin("tiny-random-chat")
>>> client.models.list_models()
>>> found = client.models.search("SmolLM2").results
>>> started = client.models.download("org/name", files=["model.gguf"])
>>> client.models.wait_for_download(started.model_id, progress=print)
>>> client.models.import_path("/home/me/.waza/data/my-model", name="my-model")
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from waza.client.base import Transport, drop_none
from waza.client.errors import WazaAPIError
from waza.services.models import schemas

Id = uuid.UUID | str
Progress = Callable[[list[schemas.ModelDownloadStatus]], None]


def _why(status: schemas.ModelDownloadStatus) -> str:
    if status.download_error:
        return status.download_error
    return "cancelled" if status.download_cancelled_at else "failed"


class DownloadFailed(WazaAPIError):
    """A download ended without every file on disk; ``statuses`` says which and why."""

    def __init__(self, statuses: list[schemas.ModelDownloadStatus]) -> None:
        bad = [s for s in statuses if not s.download]
        reasons = "; ".join(f"{s.name}: {_why(s)}" for s in bad)
        super().__init__(422, f"download incomplete: {reasons}")
        self.statuses = statuses


class ModelsAPI:
    """The model repository (`/api/models`, `/api/model_files`, `/api/model_configs`)."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    # ---- models ---------------------------------------------------------------------------------
    def list_models(self, *, load_files: bool = False) -> list[schemas.Model]:
        """Models you may see, oldest first (``m_files`` only with ``load_files``)."""
        return self._t.parse(
            list[schemas.Model], "GET", "models/", params={"load_files": load_files}
        )

    def get_model(self, model_id: Id) -> schemas.Model:
        return self._t.parse(schemas.Model, "GET", f"models/{model_id}")

    def by_repo(self, repo_id: str) -> schemas.Model | None:
        """The first model registered for this Hub repo id, if any."""
        return next((m for m in self.list_models() if m.repo_modelId == repo_id), None)

    def create_model(self, name: str, **fields: Any) -> schemas.Model:
        """Register a model (``repo_modelId``, ``purpose``, ``private``, ``default_config`` ...)."""
        body = schemas.CreateModel(name=name, **fields)
        return self._t.parse(
            schemas.Model, "POST", "models/", json=body.model_dump(mode="json", exclude_none=True)
        )

    def delete_model(self, model_id: Id) -> schemas.ModelDeleted:
        """Delete a model with its configs (and its downloaded or uploaded files)."""
        return self._t.parse(schemas.ModelDeleted, "DELETE", f"models/{model_id}")

    def memory_usage(self, model_id: Id) -> int:
        """Bytes of the model's files on disk."""
        return int(self._t.json("GET", f"models/{model_id}/memory_usage"))

    # ---- files ----------------------------------------------------------------------------------
    def list_files(self, model_id: Id | None = None) -> list[schemas.ModelFile]:
        """Every file you may see, or the files of one model."""
        if model_id is not None:
            return self.get_model(model_id).m_files
        return self._t.parse(list[schemas.ModelFile], "GET", "model_files/")

    def get_file(self, file_id: Id) -> schemas.ModelFile:
        return self._t.parse(schemas.ModelFile, "GET", f"model_files/{file_id}")

    def create_file(self, name: str, **fields: Any) -> schemas.ModelFile:
        body = schemas.CreateModelFile(name=name, **fields)
        return self._t.parse(
            schemas.ModelFile, "POST", "model_files/", json=body.model_dump(mode="json")
        )

    def delete_file(self, file_id: Id) -> dict[str, Any]:
        return dict(self._t.json("DELETE", f"model_files/{file_id}"))

    def file_memory_usage(self, file_id: Id) -> int:
        return int(self._t.json("GET", f"model_files/{file_id}/memory_usage"))

    # ---- configs --------------------------------------------------------------------------------
    def configs(self, model_id: Id, *, default_only: bool = False) -> list[schemas.ModelConfig]:
        return self._t.parse(
            list[schemas.ModelConfig],
            "GET",
            f"models/{model_id}/configs",
            params={"default": default_only},
        )

    def get_config(self, config_id: Id) -> schemas.ModelConfig:
        return self._t.parse(schemas.ModelConfig, "GET", f"model_configs/{config_id}")

    def create_config(
        self,
        model_id: Id,
        config: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        default: bool = False,
        description: str | None = None,
        file_id: Id | None = None,
        system_config: dict[str, Any] | None = None,
    ) -> schemas.ModelConfig:
        """Add a serving config, e.g. ``{"engine": "llamacpp", "n_ctx": 4096}``."""
        body = schemas.CreateModelConfig(
            m_id=uuid.UUID(str(model_id)),
            m_file_id=uuid.UUID(str(file_id)) if file_id else None,
            name=name,
            default=default,
            description=description,
            config=config or {},
            system_config=system_config or {},
        )
        return self._t.parse(
            schemas.ModelConfig, "POST", "model_configs/", json=body.model_dump(mode="json")
        )

    def update_config(self, config_id: Id, **changes: Any) -> schemas.ModelConfig:
        """Change some fields of a config (the others are kept)."""
        current = self.get_config(config_id)
        body = schemas.CreateModelConfig(
            **{**current.model_dump(include=set(schemas.CreateModelConfig.model_fields)), **changes}
        )
        return self._t.parse(
            schemas.ModelConfig,
            "PUT",
            f"model_configs/{config_id}",
            json=body.model_dump(mode="json"),
        )

    def delete_config(self, config_id: Id) -> None:
        self._t.json("DELETE", f"model_configs/{config_id}")

    # ---- search and downloads -------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        exact: bool = False,
        limit: int = 100,
        hubs: Sequence[str] = ("*",),
    ) -> schemas.ModelSearchResponse:
        """Local models, then Hub repos (``errors`` lists hubs that could not be searched)."""
        body = {"query": query, "exact": exact, "limit": limit, "hubs_to_search": list(hubs)}
        return self._t.parse(schemas.ModelSearchResponse, "POST", "models/search/", json=body)

    def hub_files(self, repo_id: str, *, version: str | None = None) -> list[schemas.ModelFile]:
        """The files of a Hub repo, with their local state when it is registered here."""
        body = {"hub": schemas.HUB_HF, "model": repo_id, "version": version}
        return self._t.parse(list[schemas.ModelFile], "POST", "model_files/search/", json=body)

    def download(
        self, repo_id: str, *, files: Sequence[str] | None = None, version: str | None = None
    ) -> schemas.DownloadResult:
        """Start downloading a Hub repo's files (default: all) in the background."""
        body = drop_none(
            model=repo_id,
            hub=schemas.HUB_HF,
            version=version,
            files_to_download=list(files) if files is not None else None,
        )
        return self._t.parse(schemas.DownloadResult, "POST", "models/download/", json=body)

    def download_status(
        self, model_ids: Sequence[Id] | Id | None = None
    ) -> list[schemas.ModelDownloadStatus]:
        if model_ids is not None and isinstance(model_ids, uuid.UUID | str):
            model_ids = [model_ids]
        params = {"model_ids": [str(m) for m in model_ids]} if model_ids else None
        return self._t.parse(
            list[schemas.ModelDownloadStatus],
            "GET",
            "model_files/download_status/",
            params=params,
        )

    def wait_for_download(
        self,
        model_id: Id,
        *,
        poll: float = 1.0,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> list[schemas.ModelDownloadStatus]:
        """Poll until no file of the model is downloading; raise `DownloadFailed` when one
        failed or was cancelled, `TimeoutError` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            statuses = self.download_status(model_id)
            if progress is not None:
                progress(statuses)
            if not any(s.is_downloading for s in statuses):
                if any(not s.download for s in statuses):
                    raise DownloadFailed(statuses)
                return statuses
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"model {model_id} is still downloading after {timeout} s")
            time.sleep(poll)

    def cancel_download(self, file_id: Id) -> schemas.DownloadCancelResult:
        return self._t.parse(
            schemas.DownloadCancelResult, "DELETE", f"model_files/{file_id}/download"
        )

    def cancel_all_downloads(self, model_id: Id | None = None) -> schemas.BulkDownloadCancelResult:
        return self._t.parse(
            schemas.BulkDownloadCancelResult,
            "DELETE",
            "model_files/downloads/cancel_all",
            params=drop_none(model_id=str(model_id) if model_id else None),
        )

    # ---- import, upload and built-ins -----------------------------------------------------------
    def import_path(self, path: str | Path, **fields: Any) -> schemas.Model:
        """Register a folder or file on the server as a model, in place."""
        body = schemas.ImportModel(path=str(path), **fields)
        return self._t.parse(
            schemas.Model, "POST", "models/import", json=body.model_dump(mode="json")
        )

    def upload(
        self,
        paths: Sequence[str | Path] | str | Path,
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        **fields: Any,
    ) -> schemas.Model:
        """Upload files (or every file of one folder, keeping sub-folders) as a new model."""
        items = [paths] if isinstance(paths, str | Path) else list(paths)
        chosen: list[tuple[str, Path]] = []
        for item in map(Path, items):
            if item.is_dir():
                chosen += [
                    (p.relative_to(item).as_posix(), p)
                    for p in sorted(item.rglob("*"))
                    if p.is_file() and not any(part.startswith(".") for part in p.parts)
                ]
            else:
                chosen.append((item.name, item))
        form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
        if name:
            form["name"] = name
        if config is not None:
            form["config"] = json.dumps(config)
        with contextlib.ExitStack() as stack:
            handles: list[tuple[str, tuple[str, BinaryIO, str]]] = [
                ("files", (rel, stack.enter_context(path.open("rb")), "application/octet-stream"))
                for rel, path in chosen
            ]
            return self._t.parse(
                schemas.Model, "POST", "models/upload", data=form, files=handles, timeout=None
            )

    def builtins(self) -> list[schemas.BuiltinModel]:
        """The built-in models and whether each is installed and registered."""
        return self._t.parse(list[schemas.BuiltinModel], "GET", "models/builtin")

    def add_builtin(self, key: str) -> schemas.Model:
        """Register a built-in (admin); the tiny model is built first, in seconds."""
        return self._t.parse(schemas.Model, "POST", f"models/builtin/{key}", timeout=600)

    def guide(self) -> list[schemas.ModelGuide]:
        return self._t.parse(list[schemas.ModelGuide], "GET", "guide/")
