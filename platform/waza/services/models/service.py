"""The model repository: models, files and configs, access rules, built-ins, and what serving
needs to deploy a model (`deploy_source`).

Access: a model that is not ``private`` is visible to every user; a private one only to its owner
and admins (another user gets 403 on direct access and never sees it in lists). Only the owner
or an admin may change or delete a model, its files and configs; built-ins (no owner) are
changed by admins. Hub search and downloads live in `transfers`, imports and uploads in
`imports`; this class is the one entry point the routes and other services use.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import ColumnElement, delete, false, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import waza
from waza.db import Database
from waza.errors import BadRequest, Forbidden, NotFound
from waza.gateway.principal import Principal
from waza.services.ingestion.paths import allowed_roots, within
from waza.services.models import builtin as builtins_mod
from waza.services.models import imports, schemas, storage, transfers, views
from waza.services.models.downloads import Downloader
from waza.services.models.hub import HubClient, normalize_hub
from waza.services.models.models import DBBuiltinModel, DBModel, DBModelConfig, DBModelFile
from waza.services.models.storage import NewFile
from waza.settings import Settings

DeploymentsOf = Callable[[uuid.UUID], list[dict[str, Any]]]


@dataclass(frozen=True)
class ModelSource:
    """What serving needs to deploy one model with one config."""

    model_id: uuid.UUID
    config_id: uuid.UUID
    file_id: uuid.UUID | None
    name: str
    repo_id: str | None
    purpose: str | None
    owner_id: uuid.UUID | None
    private: bool
    path: Path | None
    config: dict[str, Any]
    system_config: dict[str, Any]


class ModelService:
    """Models, files and configs; routes in `api.py` wrap these methods."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self.hub = HubClient(settings)
        self.downloads = Downloader(db, self.hub)
        self.register_lock = threading.Lock()
        self.deployments_of: DeploymentsOf | None = None
        """Set by the serving service: the deployments of a model, for `deployment_info`."""

    def close(self) -> None:
        """Cancel running downloads (their partial files are removed) and release the Hub client."""
        self.downloads.close()
        self.hub.close()

    # ---- access --------------------------------------------------------------------------------
    @staticmethod
    def can_read(principal: Principal, row: DBModel) -> bool:
        return not row.private or principal.can_access(row.owner_id)

    def check_read(self, principal: Principal, row: DBModel) -> None:
        if not self.can_read(principal, row):
            raise Forbidden(f"Model {row.id} is private to another user")

    @staticmethod
    def check_write(principal: Principal, row: DBModel) -> None:
        if not principal.can_access(row.owner_id):
            owner = "an admin" if row.owner_id is None else "its owner or an admin"
            raise Forbidden(f"Only {owner} may change model {row.id} ({row.name})")

    @staticmethod
    def visible(principal: Principal) -> ColumnElement[bool]:
        """SQL condition: models this caller may see."""
        if principal.is_admin:
            return true()
        return or_(DBModel.private == false(), DBModel.owner_id == principal.user_id)

    @staticmethod
    def model_row(s: Session, model_id: uuid.UUID) -> DBModel:
        row = s.get(DBModel, model_id)
        if row is None:
            raise NotFound(f"Model {model_id} not found")
        return row

    def readable_model(self, principal: Principal, model_id: uuid.UUID) -> DBModel:
        with self.db.session() as s:
            row = self.model_row(s, model_id)
        self.check_read(principal, row)
        return row

    def check_location(self, principal: Principal, location: str | None, kind: str | None) -> None:
        """A non-admin may only point file records at paths inside their data folders."""
        if principal.is_admin or not location or kind not in (None, "file"):
            return
        given = Path(location).expanduser()
        if not given.is_absolute():
            raise BadRequest(f"storage_location must be an absolute path, got {location!r}")
        roots = allowed_roots(self.settings, principal)
        if not within(Path(os.path.realpath(given)), roots):
            allowed = ", ".join(str(r) for r in roots)
            raise Forbidden(f"{location} is outside the folders you may use ({allowed})")

    # ---- reading helpers -----------------------------------------------------------------------
    @staticmethod
    def files_of(s: Session, model_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[DBModelFile]]:
        found: dict[uuid.UUID, list[DBModelFile]] = {m: [] for m in model_ids}
        if model_ids:
            query = select(DBModelFile).where(DBModelFile.m_id.in_(list(model_ids)))
            for row in s.scalars(query.order_by(DBModelFile.name, DBModelFile.created_at)):
                assert row.m_id is not None
                found[row.m_id].append(row)
        return found

    @staticmethod
    def configs_of(s: Session, model_id: uuid.UUID) -> list[DBModelConfig]:
        query = select(DBModelConfig).where(DBModelConfig.m_id == model_id)
        return list(s.scalars(query.order_by(DBModelConfig.created_at, DBModelConfig.id)))

    @staticmethod
    def defaults_of(s: Session, model_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, DBModelConfig]:
        found: dict[uuid.UUID, DBModelConfig] = {}
        if model_ids:
            query = select(DBModelConfig).where(
                DBModelConfig.m_id.in_(list(model_ids)), DBModelConfig.is_default == true()
            )
            for row in s.scalars(query.order_by(DBModelConfig.created_at)):
                found.setdefault(row.m_id, row)
        return found

    def out(self, s: Session, rows: list[DBModel], load_files: bool = True) -> list[schemas.Model]:
        ids = [r.id for r in rows]
        files, defaults = self.files_of(s, ids), self.defaults_of(s, ids)
        return [
            views.model_out(r, files[r.id], defaults.get(r.id), load_files=load_files) for r in rows
        ]

    def visible_models(
        self, s: Session, principal: Principal, *conditions: ColumnElement[bool]
    ) -> list[DBModel]:
        query = select(DBModel).where(self.visible(principal), *conditions)
        return list(s.scalars(query.order_by(DBModel.created_at, DBModel.id)))

    # ---- models --------------------------------------------------------------------------------
    def list_models(self, principal: Principal, load_files: bool = False) -> list[schemas.Model]:
        """Models the caller may see, oldest first."""
        with self.db.session() as s:
            return self.out(s, self.visible_models(s, principal), load_files)

    def get_model(self, principal: Principal, model_id: uuid.UUID) -> schemas.Model:
        with self.db.session() as s:
            row = self.model_row(s, model_id)
            self.check_read(principal, row)
            return self.out(s, [row])[0]

    def find(self, principal: Principal, key: str) -> schemas.Model:
        """A model by id, or the oldest visible one with this ``repo_modelId``."""
        with contextlib.suppress(ValueError):
            return self.get_model(principal, uuid.UUID(key))
        with self.db.session() as s:
            rows = self.visible_models(s, principal, DBModel.repo_model_id == key)
            if not rows:
                raise NotFound(f"No model {key!r}")
            return self.out(s, rows[:1])[0]

    def create_model(self, principal: Principal, body: schemas.CreateModel) -> schemas.Model:
        """Register a model (no download); ``default_config`` becomes its default config."""
        for f in body.m_files:
            self.check_location(principal, f.storage_location, f.storage_type)
        config = _config_from(body.default_config) if body.default_config is not None else None
        files = [
            NewFile(
                name=f.name,
                path=Path(f.storage_location) if f.storage_location else None,
                size=f.size,
                storage_type=f.storage_type,
                hub=f.hub,
                checksum=f.checksum,
                checksum_type=f.checksum_type,
            )
            for f in body.m_files
        ]
        fields = body.model_dump(exclude={"m_files", "default_config", "private", "repo_modelId"})
        fields["hub"] = normalize_hub(body.hub)
        model_id = self.register(
            owner_id=principal.user_id,
            private=bool(body.private),
            source="registered",
            repo_model_id=body.repo_modelId,
            files=files,
            config=config,
            **fields,
        )
        return self.get_model(principal, model_id)

    def register(
        self,
        *,
        owner_id: uuid.UUID | None,
        source: str,
        files: list[NewFile],
        config: schemas.CreateModelConfig | dict[str, Any] | None,
        model_id: uuid.UUID | None = None,
        builtin_key: str | None = None,
        local_path: Path | None = None,
        repo_model_id: str | None = None,
        **fields: Any,
    ) -> uuid.UUID:
        """Create a model with its files and (optionally) its default config, in one transaction."""
        new_id = model_id or uuid.uuid4()

        def work(s: Session) -> uuid.UUID:
            if builtin_key is not None:
                s.merge(DBBuiltinModel(key=builtin_key))
            s.add(
                DBModel(
                    id=new_id,
                    owner_id=owner_id,
                    source=source,
                    builtin_key=builtin_key,
                    local_path=str(local_path) if local_path is not None else None,
                    repo_model_id=repo_model_id,
                    **fields,
                )
            )
            s.flush()
            for f in files:
                row = DBModelFile(
                    m_id=new_id,
                    owner_id=owner_id,
                    name=f.name,
                    size=f.size,
                    storage_type=f.storage_type,
                    storage_host="localhost",
                    storage_location=str(f.path) if f.path is not None else None,
                    hub=f.hub,
                    checksum=f.checksum,
                    checksum_type=f.checksum_type,
                )
                s.add(row)
            if config is not None:
                cfg = (
                    schemas.CreateModelConfig(
                        m_id=new_id, **{"name": "default", "default": True, **config}
                    )
                    if isinstance(config, dict)
                    else config
                )
                s.add(
                    DBModelConfig(
                        m_id=new_id,
                        m_file_id=cfg.m_file_id,
                        name=cfg.name,
                        is_default=cfg.default,
                        description=cfg.description,
                        config=cfg.config,
                        system_config=cfg.system_config,
                        kamiwaza_version=waza.__version__,
                    )
                )
            return new_id

        return self.db.transaction(work)

    def delete_model(self, principal: Principal, model_id: uuid.UUID) -> schemas.ModelDeleted:
        """Delete a model with its configs and files; waza-managed files leave the disk too."""
        with self.db.session() as s:
            row = self.model_row(s, model_id)
            self.check_write(principal, row)
            files = self.files_of(s, [model_id])[model_id]
        for f in files:
            self.downloads.cancel(f.id)
        doomed: list[Path] = []

        def work(s: Session) -> None:
            row = self.model_row(s, model_id)
            doomed.extend(self.disk_leftovers(s, row, files))
            s.execute(delete(DBModelConfig).where(DBModelConfig.m_id == model_id))
            s.execute(delete(DBModelFile).where(DBModelFile.m_id == model_id))
            s.delete(row)

        self.db.transaction(work)
        storage.remove(self.settings, doomed)
        return schemas.ModelDeleted(message=f"Model {row.name} deleted", id=model_id)

    def disk_leftovers(self, s: Session, row: DBModel, files: list[DBModelFile]) -> list[Path]:
        """Managed paths only this model uses (hub files no other model has, its upload folder)."""
        if row.source == "upload":
            return [storage.uploads_dir(self.settings) / str(row.id)]
        locations = {f.storage_location for f in files if f.storage_location}
        if not locations:
            return []
        others = set(
            s.scalars(
                select(DBModelFile.storage_location).where(
                    DBModelFile.storage_location.in_(locations),
                    or_(DBModelFile.m_id != row.id, DBModelFile.m_id.is_(None)),
                )
            )
        )
        paths = [Path(loc) for loc in sorted(locations - others)]
        if row.source == "hub" and row.repo_model_id and not others:
            shared = s.scalar(
                select(DBModelFile.id)
                .join(DBModel, DBModel.id == DBModelFile.m_id)
                .where(
                    DBModel.repo_model_id == row.repo_model_id,
                    DBModel.id != row.id,
                    or_(
                        DBModelFile.storage_location.is_not(None),
                        DBModelFile.is_downloading == true(),
                    ),
                )
                .limit(1)
            )
            if shared is None:
                return [self.hub.repo_cache_folder(row.repo_model_id)]
        return paths

    def memory_usage(self, principal: Principal, model_id: uuid.UUID) -> int:
        """Bytes of the model's files on disk (each file counted once)."""
        with self.db.session() as s:
            row = self.model_row(s, model_id)
            self.check_read(principal, row)
            files = self.files_of(s, [model_id])[model_id]
        seen: set[str] = set()
        total = 0
        for f in files:
            if not f.storage_location:
                continue
            real = os.path.realpath(f.storage_location)
            if real not in seen:
                seen.add(real)
                total += storage.size_on_disk(Path(f.storage_location))
        if not files and row.local_path:
            total = storage.size_on_disk(Path(row.local_path))
        return total

    # ---- files ---------------------------------------------------------------------------------
    def file_row(self, principal: Principal, s: Session, file_id: uuid.UUID) -> DBModelFile:
        row = s.get(DBModelFile, file_id)
        if row is None:
            raise NotFound(f"Model file {file_id} not found")
        if row.m_id is not None:
            self.check_read(principal, self.model_row(s, row.m_id))
        elif not principal.can_access(row.owner_id):
            raise Forbidden(f"Model file {file_id} belongs to another user")
        return row

    def list_files(self, principal: Principal) -> list[schemas.ModelFile]:
        """Files of the models the caller may see, plus their own free-standing files."""
        with self.db.session() as s:
            query = (
                select(DBModelFile)
                .outerjoin(DBModel, DBModel.id == DBModelFile.m_id)
                .where(
                    or_(
                        DBModelFile.m_id.is_not(None) & self.visible(principal),
                        DBModelFile.m_id.is_(None)
                        & (
                            true()
                            if principal.is_admin
                            else DBModelFile.owner_id == principal.user_id
                        ),
                    )
                )
                .order_by(DBModelFile.created_at, DBModelFile.name)
            )
            return [views.file_out(r) for r in s.scalars(query)]

    def get_file(self, principal: Principal, file_id: uuid.UUID) -> schemas.ModelFile:
        with self.db.session() as s:
            return views.file_out(self.file_row(principal, s, file_id))

    def create_file(self, principal: Principal, body: schemas.CreateModelFile) -> schemas.ModelFile:
        """Record a file (attached to ``model_id`` when given: owner or admin only)."""
        self.check_location(principal, body.storage_location, body.storage_type)

        def work(s: Session) -> DBModelFile:
            if body.model_id is not None:
                self.check_write(principal, self.model_row(s, body.model_id))
            row = DBModelFile(
                m_id=body.model_id,
                owner_id=principal.user_id,
                name=body.name,
                size=body.size,
                storage_type=body.storage_type,
                storage_host=body.storage_host,
                storage_location=body.storage_location,
                hub=body.hub,
                checksum=body.checksum,
                checksum_type=body.checksum_type,
            )
            s.add(row)
            s.flush()
            return row

        return views.file_out(self.db.transaction(work))

    def delete_file(self, principal: Principal, file_id: uuid.UUID) -> dict[str, Any]:
        """Delete a file record; a waza-managed file no other record uses leaves the disk."""
        doomed: list[Path] = []

        def work(s: Session) -> str:
            row = self.file_row(principal, s, file_id)
            if row.m_id is not None:
                self.check_write(principal, self.model_row(s, row.m_id))
            elif not principal.can_access(row.owner_id):
                raise Forbidden(f"Only the owner of model file {file_id} may delete it")
            if row.storage_location:
                shared = s.scalar(
                    select(DBModelFile.id)
                    .where(
                        DBModelFile.storage_location == row.storage_location,
                        DBModelFile.id != row.id,
                    )
                    .limit(1)
                )
                if shared is None:
                    doomed.append(Path(row.storage_location))
            s.execute(
                update(DBModelConfig)
                .where(DBModelConfig.m_file_id == file_id)
                .values(m_file_id=None)
            )
            s.delete(row)
            return row.name

        self.downloads.cancel(file_id)
        name = self.db.transaction(work)
        storage.remove(self.settings, doomed)
        return {"result": True, "message": f"Model file {name} deleted", "id": str(file_id)}

    def file_memory_usage(self, principal: Principal, file_id: uuid.UUID) -> int:
        """Bytes of the file on disk (its recorded size when it is not on disk)."""
        with self.db.session() as s:
            row = self.file_row(principal, s, file_id)
        if row.storage_location and Path(row.storage_location).exists():
            return storage.size_on_disk(Path(row.storage_location))
        return row.size or 0

    # ---- configs -------------------------------------------------------------------------------
    def list_configs(
        self, principal: Principal, model_id: uuid.UUID, default_only: bool = False
    ) -> list[schemas.ModelConfig]:
        with self.db.session() as s:
            self.check_read(principal, self.model_row(s, model_id))
            rows = self.configs_of(s, model_id)
        return [views.config_out(r) for r in rows if r.is_default or not default_only]

    def config_row(self, principal: Principal, s: Session, config_id: uuid.UUID) -> DBModelConfig:
        row = s.get(DBModelConfig, config_id)
        if row is None:
            raise NotFound(f"Model config {config_id} not found")
        self.check_read(principal, self.model_row(s, row.m_id))
        return row

    def get_config(self, principal: Principal, config_id: uuid.UUID) -> schemas.ModelConfig:
        with self.db.session() as s:
            return views.config_out(self.config_row(principal, s, config_id))

    def _check_config(self, s: Session, body: schemas.CreateModelConfig) -> None:
        if body.m_file_id is not None:
            f = s.get(DBModelFile, body.m_file_id)
            if f is None:
                raise NotFound(f"Model file {body.m_file_id} not found")
            if f.m_id != body.m_id:
                raise BadRequest(f"Model file {body.m_file_id} belongs to another model")

    @staticmethod
    def _only_default(s: Session, model_id: uuid.UUID, keep: uuid.UUID) -> None:
        for other in s.scalars(
            select(DBModelConfig).where(
                DBModelConfig.m_id == model_id,
                DBModelConfig.id != keep,
                DBModelConfig.is_default == true(),
            )
        ):
            other.is_default = False

    def create_config(
        self, principal: Principal, body: schemas.CreateModelConfig
    ) -> schemas.ModelConfig:
        """Add a config; a new default config makes the others non-default."""

        def work(s: Session) -> DBModelConfig:
            self.check_write(principal, self.model_row(s, body.m_id))
            self._check_config(s, body)
            row = DBModelConfig(
                m_id=body.m_id,
                m_file_id=body.m_file_id,
                name=body.name,
                is_default=body.default,
                description=body.description,
                config=body.config,
                system_config=body.system_config,
                kamiwaza_version=waza.__version__,
            )
            s.add(row)
            s.flush()
            if row.is_default:
                self._only_default(s, body.m_id, row.id)
            return row

        return views.config_out(self.db.transaction(work))

    def update_config(
        self, principal: Principal, config_id: uuid.UUID, body: schemas.CreateModelConfig
    ) -> schemas.ModelConfig:
        """Replace a config's fields (its model cannot change)."""

        def work(s: Session) -> DBModelConfig:
            row = self.config_row(principal, s, config_id)
            if body.m_id != row.m_id:
                raise BadRequest(
                    f"Config {config_id} belongs to model {row.m_id}; m_id cannot change"
                )
            self.check_write(principal, self.model_row(s, row.m_id))
            self._check_config(s, body)
            row.m_file_id, row.name, row.is_default = body.m_file_id, body.name, body.default
            row.description, row.config = body.description, body.config
            row.system_config = body.system_config
            if row.is_default:
                self._only_default(s, row.m_id, row.id)
            s.flush()
            return row

        return views.config_out(self.db.transaction(work))

    def delete_config(self, principal: Principal, config_id: uuid.UUID) -> dict[str, Any]:
        def work(s: Session) -> None:
            row = self.config_row(principal, s, config_id)
            self.check_write(principal, self.model_row(s, row.m_id))
            s.delete(row)

        self.db.transaction(work)
        return {
            "result": True,
            "message": f"Model config {config_id} deleted",
            "id": str(config_id),
        }

    # ---- serving -------------------------------------------------------------------------------
    def deploy_source(
        self,
        principal: Principal,
        model_id: uuid.UUID,
        config_id: uuid.UUID | None = None,
        file_id: uuid.UUID | None = None,
    ) -> ModelSource:
        """The files and config to deploy ``model_id`` with (see the serving brief)."""
        with self.db.session() as s:
            row = s.get(DBModel, model_id)
            if row is None or not self.can_read(principal, row):
                raise NotFound(f"Model {model_id} not found")
            configs = self.configs_of(s, model_id)
            files = self.files_of(s, [model_id])[model_id]
            if config_id is not None:
                config = s.get(DBModelConfig, config_id)
                if config is None:
                    raise NotFound(f"Model config {config_id} not found")
                if config.m_id != model_id:
                    raise BadRequest(f"Config {config_id} belongs to another model")
            elif configs:
                config = next((c for c in configs if c.is_default), configs[0])
            else:
                raise BadRequest(
                    f"model {row.name} ({model_id}) has no config; create one with "
                    "POST /api/model_configs/"
                )
            chosen = file_id or config.m_file_id
            picked: DBModelFile | None = None
            if chosen is not None:
                picked = s.get(DBModelFile, chosen)
                if picked is None:
                    raise NotFound(f"Model file {chosen} not found")
                if picked.m_id != model_id:
                    raise BadRequest(f"Model file {chosen} belongs to another model")
        return ModelSource(
            model_id=row.id,
            config_id=config.id,
            file_id=picked.id if picked is not None else None,
            name=row.name,
            repo_id=row.repo_model_id,
            purpose=row.purpose,
            owner_id=row.owner_id,
            private=row.private,
            path=self._serving_path(row, files, picked),
            config=dict(config.config or {}),
            system_config=dict(config.system_config or {}),
        )

    @staticmethod
    def _serving_path(
        row: DBModel, files: list[DBModelFile], picked: DBModelFile | None
    ) -> Path | None:
        if picked is not None:
            return Path(picked.storage_location) if picked.storage_location else None
        local = [f for f in files if f.storage_location and not f.is_downloading]
        ggufs = [f for f in local if f.name.lower().endswith(".gguf")]
        if row.source in ("hub", "registered") and ggufs:
            if len(ggufs) > 1:
                names = ", ".join(f.name for f in ggufs)
                raise BadRequest(
                    f"model {row.name} has several GGUF files ({names}); pick one with file_id "
                    "or a config's m_file_id"
                )
            assert ggufs[0].storage_location is not None
            return Path(ggufs[0].storage_location)
        if row.source in ("hub", "registered") and any(f.is_downloading for f in files):
            busy = ", ".join(f.name for f in files if f.is_downloading)
            raise BadRequest(
                f"model {row.name} is still downloading ({busy}); wait for "
                "/api/model_files/download_status/ to report it done"
            )
        if row.local_path:
            return Path(row.local_path)
        return None

    def deployment_info(self, principal: Principal, model_id: uuid.UUID) -> dict[str, Any]:
        row = self.readable_model(principal, model_id)
        found = self.deployments_of(model_id) if self.deployments_of is not None else []
        return {"model_id": str(row.id), "deployed": bool(found), "deployments": found}

    # ---- search, hub files, downloads (transfers.py) -------------------------------------------
    def search(
        self, principal: Principal, body: schemas.ModelSearchRequest
    ) -> schemas.ModelSearchResponse:
        return transfers.search(self, principal, body)

    def hub_files(
        self, principal: Principal, body: schemas.HubModelFileSearch
    ) -> list[schemas.ModelFile]:
        return transfers.hub_files(self, principal, body)

    def download(
        self, principal: Principal, body: schemas.ModelDownloadRequest
    ) -> schemas.DownloadResult:
        return transfers.download(self, principal, body)

    def download_status(
        self, principal: Principal, model_ids: list[uuid.UUID] | None = None
    ) -> list[schemas.ModelDownloadStatus]:
        return transfers.download_status(self, principal, model_ids)

    def cancel_download(
        self, principal: Principal, file_id: uuid.UUID
    ) -> schemas.DownloadCancelResult:
        return transfers.cancel(self, principal, file_id)

    def cancel_all_downloads(
        self, principal: Principal, model_id: uuid.UUID | None = None
    ) -> schemas.BulkDownloadCancelResult:
        return transfers.cancel_all(self, principal, model_id)

    def pending_deployments(self, principal: Principal) -> dict[str, Any]:
        return transfers.pending(self, principal)

    # ---- import and upload (imports.py) --------------------------------------------------------
    def import_model(self, principal: Principal, body: schemas.ImportModel) -> schemas.Model:
        return imports.import_model(self, principal, body)

    def upload_model(
        self,
        principal: Principal,
        uploads: list[tuple[str | None, BinaryIO]],
        meta: schemas.ImportModel,
    ) -> schemas.Model:
        return imports.upload_model(self, principal, uploads, meta)

    # ---- built-ins -----------------------------------------------------------------------------
    def builtin_model_id(self, key: str) -> uuid.UUID | None:
        with self.db.session() as s:
            return s.scalar(select(DBModel.id).where(DBModel.builtin_key == key).limit(1))

    def list_builtins(self) -> list[schemas.BuiltinModel]:
        """The built-in models, whether their files are here and whether they are registered."""
        found = []
        for b in builtins_mod.BUILTINS.values():
            path, reason = builtins_mod.locate(b, self.settings)
            build_reason = builtins_mod.can_build(b) if b.built_here else None
            model_id = self.builtin_model_id(b.key)
            found.append(
                schemas.BuiltinModel(
                    key=b.key,
                    name=b.name,
                    repo_modelId=b.repo_model_id,
                    purpose=b.purpose,
                    description=b.description,
                    config=b.config,
                    installed=path is not None or (b.built_here and build_reason is None),
                    needs_build=path is None and b.built_here,
                    registered=model_id is not None,
                    model_id=model_id,
                    path=str(path) if path is not None else None,
                    reason=None if path is not None else (build_reason or reason),
                )
            )
        return found

    def ensure_builtins(self) -> None:
        """Register, once, each built-in whose files are here (nothing is built).

        Idempotent; a built-in an admin deleted stays deleted (`add_builtin` brings it back).
        """
        for b in builtins_mod.BUILTINS.values():
            path, _ = builtins_mod.locate(b, self.settings)
            if path is None:
                continue
            with self.db.session() as s:
                if s.get(DBBuiltinModel, b.key) is not None:
                    continue
            with contextlib.suppress(IntegrityError):  # another API process registered it
                self._register_builtin(b, path)

    def add_builtin(self, key: str) -> schemas.Model:
        """Register a built-in (building the tiny model when needed); idempotent."""
        b = builtins_mod.BUILTINS.get(key)
        if b is None:
            known = ", ".join(builtins_mod.BUILTINS)
            raise NotFound(f"No built-in model {key!r}; known: {known}")
        with self.register_lock:
            existing = self.builtin_model_id(key)
            if existing is None:
                path, reason = builtins_mod.locate(b, self.settings)
                if path is None and b.built_here:
                    why = builtins_mod.can_build(b)
                    if why is not None:
                        raise BadRequest(f"cannot build {key} here: {why}")
                    path = builtins_mod.build(b, self.settings)
                if path is None:
                    raise BadRequest(f"built-in {key} is not available here: {reason}")
                existing = self._register_builtin(b, path)
        with self.db.session() as s:
            return self.out(s, [self.model_row(s, existing)])[0]

    def _register_builtin(self, b: builtins_mod.Builtin, path: Path) -> uuid.UUID:
        found = storage.walk_model(path, None)
        return self.register(
            owner_id=None,
            private=False,
            source="builtin",
            builtin_key=b.key,
            local_path=path,
            repo_model_id=b.repo_model_id,
            files=[NewFile(name=n, path=p, size=size) for n, p, size in found],
            config={"name": "default", "config": dict(b.config)},
            name=b.name,
            purpose=b.purpose,
            description=b.description,
            modelfamily=b.modelfamily,
            author=b.author,
        )

    def guide(self) -> list[schemas.ModelGuide]:
        """Guide entries for the built-in models."""
        entries = []
        for b in builtins_mod.BUILTINS.values():
            path, _ = builtins_mod.locate(b, self.settings)
            recommended = path.name if path is not None and path.is_file() else None
            entries.append(
                schemas.ModelGuide(
                    id=b.key,
                    base_model_id=b.repo_model_id,
                    name=b.name,
                    producer=b.author,
                    context_length=b.context_length,
                    use_case=b.use_case,
                    size_category="small",
                    quality_overall="noise (random weights)" if b.built_here else "basic",
                    description=b.description,
                    kamiwaza_notes=f"waza built-in: POST /api/models/builtin/{b.key}",
                    guide_version=waza.__version__,
                    variants=[
                        schemas.ModelVariant(
                            platform=["CPU", "GPU"],
                            variant_repo=b.repo_model_id,
                            variant_type=b.variant_type,
                            minimum_vram=0,
                            recommended_file=recommended,
                            speed_rating="fast",
                        )
                    ],
                )
            )
        return entries


def _scrub_credentials(config: dict[str, Any]) -> dict[str, Any]:
    """Drop inline credentials of an external endpoint: waza never stores them in plain text."""
    blob = config.get("external_endpoint")
    if blob is None:
        return config
    parsed = json.loads(blob) if isinstance(blob, str) else dict(blob)
    if isinstance(parsed, dict) and "credential_secret" in parsed:
        parsed.pop("credential_secret")
        parsed["credential_stored"] = False
    return {**config, "external_endpoint": json.dumps(parsed) if isinstance(blob, str) else parsed}


def _config_from(raw: dict[str, Any]) -> dict[str, Any]:
    """The fields of a CreateModel ``default_config`` (a CreateModelConfig without m_id)."""
    try:
        config = _scrub_credentials(dict(raw.get("config") or {}))
        system = _scrub_credentials(dict(raw.get("system_config") or {}))
    except (ValueError, TypeError) as exc:
        raise BadRequest(
            f"default_config.config.external_endpoint is not valid JSON: {exc}"
        ) from exc
    return {
        "name": raw.get("name") or "default",
        "default": bool(raw.get("default", True)),
        "description": raw.get("description"),
        "config": config,
        "system_config": system,
    }
