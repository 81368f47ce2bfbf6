"""Catalog logic: datasets, containers and secrets identified by DataHub URNs.

Access rules:

- **datasets** belong to their creator (``owner_id``); other users get 403, admins reach all.
  Listing shows a user their own datasets, an admin every dataset.
- **containers** are admin-only (the routes require admin; the methods check it again).
- **secrets** belong to their creator and to the corpuser named as ``owner``; others get 403.
  Values are encrypted with :class:`waza.crypto.Envelope` before they reach the database and
  no method returns them except :meth:`CatalogService.reveal_secret` (server-side use only).

Other services use the public methods directly (ingestion registers datasets with
:meth:`create_dataset`, retrieval reads them with :meth:`get_dataset`, credentials come from
:meth:`reveal_secret`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from waza.crypto import DecryptionError, Envelope
from waza.db import Database
from waza.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from waza.gateway.principal import Principal
from waza.services.catalog import schemas, urns
from waza.services.catalog.datahub_sync import DataHubSync
from waza.services.catalog.models import (
    CatalogContainer,
    CatalogDataset,
    CatalogPublisher,
    CatalogSecret,
)
from waza.settings import Settings

MAX_LIST = 10_000


def _search_text(*parts: str | None, tags: Iterable[str] = ()) -> str:
    return "\n".join(p for p in (*parts, *tags) if p).lower()


def normalize_location(properties: dict[str, Any]) -> dict[str, Any]:
    """Keep ``path`` and ``location`` equal when only one is given (as the SDK expects)."""
    props = dict(properties)
    path, location = props.get("path"), props.get("location")
    if path and not location:
        props["location"] = path
    elif location and not path:
        props["path"] = location
    return props


def _schema_out(stored: dict[str, Any] | None) -> schemas.Schema | None:
    return schemas.Schema.model_validate(stored) if stored else None


def _dataset_out(row: CatalogDataset) -> schemas.Dataset:
    return schemas.Dataset(
        urn=row.urn,
        name=row.name,
        platform=row.platform,
        environment=row.environment,
        description=row.description,
        tags=list(row.tags or []),
        properties=dict(row.properties or {}),
        dataset_schema=_schema_out(row.dataset_schema),
        container_urn=row.container_urn,
        owner=urns.user_urn(row.created_by),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _secret_out(row: CatalogSecret) -> schemas.Secret:
    return schemas.Secret(
        urn=row.urn,
        name=row.name,
        owner=row.owner,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("Admin privileges required")


class CatalogService:
    """The catalog; routes in `api.py` are thin wrappers over these methods."""

    def __init__(self, db: Database, settings: Settings, envelope: Envelope) -> None:
        self.db, self.settings, self.envelope = db, settings, envelope
        previous = settings.secret_key_previous
        self.previous_envelope: Envelope | None = (
            Envelope(previous.get_secret_value().encode()) if previous else None
        )
        self.sync: DataHubSync | None = DataHubSync.from_settings(settings)

    def close(self) -> None:
        """Finish pending DataHub emits."""
        if self.sync is not None:
            self.sync.close()

    # ---- datasets ------------------------------------------------------------------------------
    def _dataset_row(self, s: Session, principal: Principal, urn: str) -> CatalogDataset:
        canonical = urns.canonical_dataset_urn(urn)
        row = s.scalar(select(CatalogDataset).where(CatalogDataset.urn == canonical))
        if row is None:
            raise NotFound(f"Dataset not found: {canonical}")
        if not principal.can_access(row.owner_id):
            raise Forbidden(f"Not allowed to access dataset {canonical}")
        return row

    @staticmethod
    def _container_exists(s: Session, urn: str) -> str:
        canonical = urns.canonical_container_urn(urn)
        if s.scalar(select(CatalogContainer.id).where(CatalogContainer.urn == canonical)) is None:
            raise NotFound(f"Container not found: {canonical}")
        return canonical

    @staticmethod
    def _schema_dict(schema: schemas.Schema, version: int) -> dict[str, Any]:
        data = schema.model_dump(mode="json")
        data["version"] = schema.version if schema.version is not None else version
        return data

    @staticmethod
    def _index(row: CatalogDataset) -> None:
        row.search_text = _search_text(row.name, row.description, tags=row.tags or [])

    def _dataset_changed(self, out: schemas.Dataset) -> None:
        if self.sync is not None:
            self.sync.dataset_changed(out)

    def create_dataset(self, principal: Principal, body: schemas.DatasetCreate) -> str:
        """Register a dataset owned by the caller; returns its URN. Same URN again → 409."""
        platform = urns.platform_name(body.platform)
        env = urns.environment(body.environment)
        urn = urns.dataset_urn(platform, body.name, env)

        def work(s: Session) -> schemas.Dataset:
            if s.scalar(select(CatalogDataset.id).where(CatalogDataset.urn == urn)) is not None:
                raise Conflict(f"Dataset already exists: {urn}")
            container = (
                self._container_exists(s, body.container_urn) if body.container_urn else None
            )
            schema = self._schema_dict(body.dataset_schema, 1) if body.dataset_schema else None
            row = CatalogDataset(
                urn=urn,
                name=body.name,
                platform=platform,
                environment=env,
                description=body.description,
                tags=list(body.tags),
                properties=normalize_location(body.properties),
                dataset_schema=schema,
                schema_version=schema["version"] if schema else 0,
                container_urn=container,
                owner_id=principal.user_id,
                created_by=principal.username,
            )
            self._index(row)
            s.add(row)
            s.flush()
            return _dataset_out(row)

        try:
            out = self.db.transaction(work)
        except IntegrityError as exc:  # created concurrently
            raise Conflict(f"Dataset already exists: {urn}") from exc
        self._dataset_changed(out)
        return urn

    def get_dataset(self, principal: Principal, urn: str) -> schemas.Dataset:
        """One dataset: 400 malformed URN, 404 unknown, 403 someone else's."""
        with self.db.session() as s:
            return _dataset_out(self._dataset_row(s, principal, urn))

    def list_datasets(
        self, principal: Principal, query: str | None = None, skip: int = 0, limit: int = 1000
    ) -> list[schemas.Dataset]:
        """Newest first; `query` matches name, description or tags (case-insensitive)."""
        stmt = select(CatalogDataset)
        if not principal.is_admin:
            stmt = stmt.where(CatalogDataset.owner_id == principal.user_id)
        if query and query.strip():
            needle = query.strip().lower()
            stmt = stmt.where(CatalogDataset.search_text.contains(needle, autoescape=True))
        stmt = stmt.order_by(CatalogDataset.created_at.desc(), CatalogDataset.urn)
        with self.db.session() as s:
            rows = s.scalars(stmt.offset(skip).limit(min(limit, MAX_LIST))).all()
            return [_dataset_out(r) for r in rows]

    def update_dataset(
        self, principal: Principal, urn: str, body: schemas.DatasetUpdate
    ) -> schemas.Dataset:
        """Change the fields that were sent; the URN (platform, name, environment) never changes."""
        sent = body.model_fields_set

        def work(s: Session) -> schemas.Dataset:
            row = self._dataset_row(s, principal, urn)
            if "description" in sent:
                row.description = body.description
            if "tags" in sent:
                row.tags = list(body.tags or [])
            if "properties" in sent:
                row.properties = normalize_location(body.properties or {})
            if "container_urn" in sent:
                row.container_urn = (
                    self._container_exists(s, body.container_urn) if body.container_urn else None
                )
            if "dataset_schema" in sent:
                if body.dataset_schema is None:
                    row.dataset_schema = None
                else:
                    row.dataset_schema = self._schema_dict(
                        body.dataset_schema, row.schema_version + 1
                    )
                    row.schema_version = row.dataset_schema["version"]
            self._index(row)
            s.flush()
            return _dataset_out(row)

        out = self.db.transaction(work)
        self._dataset_changed(out)
        return out

    def delete_dataset(self, principal: Principal, urn: str) -> None:
        """Remove the catalog entry (the data itself is left alone)."""

        def work(s: Session) -> str:
            row = self._dataset_row(s, principal, urn)
            s.delete(row)
            return row.urn

        removed = self.db.transaction(work)
        if self.sync is not None:
            self.sync.removed(removed)

    def get_schema(self, principal: Principal, urn: str) -> schemas.Schema:
        """The recorded schema; a dataset without one answers an empty field list."""
        ds = self.get_dataset(principal, urn)
        if ds.dataset_schema is not None:
            return ds.dataset_schema
        return schemas.Schema(name=ds.name, platform=ds.platform, version=0, fields=[])

    def put_schema(self, principal: Principal, urn: str, schema: schemas.Schema) -> schemas.Schema:
        """Replace the schema; `version` defaults to the previous one plus one."""
        out = self.update_dataset(principal, urn, schemas.DatasetUpdate(dataset_schema=schema))
        assert out.dataset_schema is not None
        return out.dataset_schema

    def register_from_spec(self, principal: Principal, spec: schemas.ConnectorSpec) -> str:
        """Register a connector spec as a dataset (nothing is fetched); returns the URN.

        A credential reference must name a catalog secret the caller may use.
        """
        ref = spec.auth.credential_ref
        if ref:
            if not ref.startswith("urn:li:dataHubSecret:"):
                raise BadRequest(
                    "auth.credential_ref must be a catalog secret URN "
                    "(urn:li:dataHubSecret:<name>), never a secret value"
                )
            self.get_secret(principal, ref)
        spec_data = spec.model_dump(mode="json", exclude_none=True)
        body = schemas.DatasetCreate(
            name=spec.name or spec.index,
            platform=spec.platform,
            environment=spec.environment,
            description=spec.description,
            tags=spec.tags,
            properties={
                "connector_spec": spec_data,
                "spec_version": spec.spec_version,
                "base_url": spec.base_url,
                "index": spec.index,
            },
        )
        return self.create_dataset(principal, body)

    # ---- publishers ------------------------------------------------------------------------------
    def add_publisher(self, principal: Principal, subject_user_id: str) -> schemas.PublisherChange:
        """Record the dataset publisher relation for a user (admin)."""
        _require_admin(principal)

        def work(s: Session) -> None:
            if s.get(CatalogPublisher, subject_user_id) is None:
                s.add(
                    CatalogPublisher(subject_user_id=subject_user_id, granted_by=principal.username)
                )

        self.db.transaction(work)
        return schemas.PublisherChange(subject_user_id=subject_user_id, publisher=True)

    def remove_publisher(
        self, principal: Principal, subject_user_id: str
    ) -> schemas.PublisherChange:
        """Revoke the relation (admin); revoking one that does not exist is not an error."""
        _require_admin(principal)

        def work(s: Session) -> None:
            row = s.get(CatalogPublisher, subject_user_id)
            if row is not None:
                s.delete(row)

        self.db.transaction(work)
        return schemas.PublisherChange(subject_user_id=subject_user_id, publisher=False)

    def is_publisher(self, subject_user_id: str | uuid.UUID) -> bool:
        with self.db.session() as s:
            return s.get(CatalogPublisher, str(subject_user_id)) is not None

    # ---- containers (admin) ---------------------------------------------------------------------
    @staticmethod
    def _container_row(s: Session, urn: str) -> CatalogContainer:
        canonical = urns.canonical_container_urn(urn)
        row = s.scalar(select(CatalogContainer).where(CatalogContainer.urn == canonical))
        if row is None:
            raise NotFound(f"Container not found: {canonical}")
        return row

    @staticmethod
    def _containers_out(s: Session, rows: list[CatalogContainer]) -> list[schemas.Container]:
        """Containers with their sub-containers and datasets (two queries for any number)."""
        keys = [r.urn for r in rows]
        children: dict[str, list[str]] = {k: [] for k in keys}
        members: dict[str, list[str]] = {k: [] for k in keys}
        if keys:
            for urn, parent in s.execute(
                select(CatalogContainer.urn, CatalogContainer.parent_urn)
                .where(CatalogContainer.parent_urn.in_(keys))
                .order_by(CatalogContainer.urn)
            ):
                children[parent].append(urn)
            for urn, container in s.execute(
                select(CatalogDataset.urn, CatalogDataset.container_urn)
                .where(CatalogDataset.container_urn.in_(keys))
                .order_by(CatalogDataset.urn)
            ):
                members[container].append(urn)
        return [
            schemas.Container(
                urn=r.urn,
                name=r.name,
                platform=r.platform,
                description=r.description,
                tags=list(r.tags or []),
                properties=dict(r.properties or {}),
                parent_urn=r.parent_urn,
                sub_containers=children[r.urn],
                datasets=members[r.urn],
                created_by=r.created_by,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in rows
        ]

    def _container_changed(self, out: schemas.Container) -> None:
        if self.sync is not None:
            self.sync.container_changed(out)

    def create_container(self, principal: Principal, body: schemas.ContainerCreate) -> str:
        """Create a container (admin); returns its URN. The same name, platform and parent → 409."""
        _require_admin(principal)
        platform = urns.platform_name(body.platform) if body.platform else None
        parent = urns.canonical_container_urn(body.parent_urn) if body.parent_urn else None
        urn = urns.container_urn(body.name, platform, parent)

        def work(s: Session) -> schemas.Container:
            if s.scalar(select(CatalogContainer.id).where(CatalogContainer.urn == urn)):
                raise Conflict(f"Container already exists: {urn}")
            if parent:
                self._container_exists(s, parent)
            row = CatalogContainer(
                urn=urn,
                name=body.name,
                platform=platform,
                description=body.description,
                tags=list(body.tags),
                properties=dict(body.properties),
                parent_urn=parent,
                owner_id=principal.user_id,
                created_by=principal.username,
                search_text=_search_text(body.name, body.description, tags=body.tags),
            )
            s.add(row)
            s.flush()
            return self._containers_out(s, [row])[0]

        try:
            out = self.db.transaction(work)
        except IntegrityError as exc:
            raise Conflict(f"Container already exists: {urn}") from exc
        self._container_changed(out)
        return urn

    def get_container(self, principal: Principal, urn: str) -> schemas.Container:
        _require_admin(principal)
        with self.db.session() as s:
            return self._containers_out(s, [self._container_row(s, urn)])[0]

    def list_containers(
        self, principal: Principal, query: str | None = None, skip: int = 0, limit: int = 1000
    ) -> list[schemas.Container]:
        """Every container (admin), newest first; `query` as for datasets."""
        _require_admin(principal)
        stmt: Select[tuple[CatalogContainer]] = select(CatalogContainer)
        if query and query.strip():
            needle = query.strip().lower()
            stmt = stmt.where(CatalogContainer.search_text.contains(needle, autoescape=True))
        stmt = stmt.order_by(CatalogContainer.created_at.desc(), CatalogContainer.urn)
        with self.db.session() as s:
            rows = list(s.scalars(stmt.offset(skip).limit(min(limit, MAX_LIST))).all())
            return self._containers_out(s, rows)

    def update_container(
        self, principal: Principal, urn: str, body: schemas.ContainerUpdate
    ) -> schemas.Container:
        """Change the fields sent (admin); a parent that would make a cycle → 400."""
        _require_admin(principal)
        sent = body.model_fields_set

        def work(s: Session) -> schemas.Container:
            row = self._container_row(s, urn)
            if "name" in sent and body.name:
                row.name = body.name
            if "description" in sent:
                row.description = body.description
            if "tags" in sent:
                row.tags = list(body.tags or [])
            if "properties" in sent:
                row.properties = dict(body.properties or {})
            if "parent_urn" in sent:
                row.parent_urn = self._valid_parent(s, row.urn, body.parent_urn)
            row.search_text = _search_text(row.name, row.description, tags=row.tags)
            s.flush()
            return self._containers_out(s, [row])[0]

        out = self.db.transaction(work)
        self._container_changed(out)
        return out

    def _valid_parent(self, s: Session, urn: str, parent_urn: str | None) -> str | None:
        if not parent_urn:
            return None
        parent = self._container_exists(s, parent_urn)
        cursor: str | None = parent
        while cursor is not None:
            if cursor == urn:
                raise BadRequest(
                    f"{parent} is {urn} or inside it: a container cannot contain itself"
                )
            cursor = s.scalar(
                select(CatalogContainer.parent_urn).where(CatalogContainer.urn == cursor)
            )
        return parent

    def delete_container(self, principal: Principal, urn: str) -> None:
        """Delete a container (admin); its datasets and sub-containers stay, detached."""
        _require_admin(principal)

        def work(s: Session) -> tuple[str, list[str]]:
            row = self._container_row(s, urn)
            detached = list(
                s.scalars(select(CatalogDataset.urn).where(CatalogDataset.container_urn == row.urn))
            )
            s.execute(
                update(CatalogDataset)
                .where(CatalogDataset.container_urn == row.urn)
                .values(container_urn=None)
            )
            s.execute(
                update(CatalogContainer)
                .where(CatalogContainer.parent_urn == row.urn)
                .values(parent_urn=None)
            )
            s.delete(row)
            return row.urn, detached

        removed, detached = self.db.transaction(work)
        if self.sync is not None:
            self.sync.removed(removed)
            for ds_urn in detached:
                self._dataset_changed(self.get_dataset(principal, ds_urn))

    def add_dataset_to_container(
        self, principal: Principal, container_urn: str, dataset_urn: str
    ) -> schemas.Membership:
        """Put a dataset in a container (admin); a dataset is in at most one container."""
        _require_admin(principal)

        def work(s: Session) -> tuple[schemas.Membership, schemas.Dataset]:
            container = self._container_row(s, container_urn)
            ds = self._dataset_row(s, principal, dataset_urn)
            ds.container_urn = container.urn
            s.flush()
            members = self._containers_out(s, [container])[0].datasets
            return (
                schemas.Membership(
                    container_urn=container.urn, dataset_urn=ds.urn, member=True, datasets=members
                ),
                _dataset_out(ds),
            )

        result, ds_out = self.db.transaction(work)
        self._dataset_changed(ds_out)
        return result

    def remove_dataset_from_container(
        self, principal: Principal, container_urn: str, dataset_urn: str
    ) -> schemas.Membership:
        """Take a dataset out of a container (admin); 404 when it is not in it."""
        _require_admin(principal)

        def work(s: Session) -> tuple[schemas.Membership, schemas.Dataset]:
            container = self._container_row(s, container_urn)
            ds = self._dataset_row(s, principal, dataset_urn)
            if ds.container_urn != container.urn:
                raise NotFound(f"Dataset {ds.urn} is not in container {container.urn}")
            ds.container_urn = None
            s.flush()
            members = self._containers_out(s, [container])[0].datasets
            return (
                schemas.Membership(
                    container_urn=container.urn, dataset_urn=ds.urn, member=False, datasets=members
                ),
                _dataset_out(ds),
            )

        result, ds_out = self.db.transaction(work)
        self._dataset_changed(ds_out)
        return result

    # ---- secrets --------------------------------------------------------------------------------
    @staticmethod
    def _may_use_secret(principal: Principal, row: CatalogSecret) -> bool:
        return principal.can_access(row.owner_id) or row.owner == principal.urn

    def _secret_row(self, s: Session, principal: Principal, urn: str) -> CatalogSecret:
        canonical = urns.canonical_secret_urn(urn)
        row = s.scalar(select(CatalogSecret).where(CatalogSecret.urn == canonical))
        if row is None:
            raise NotFound(f"Secret not found: {canonical}")
        if not self._may_use_secret(principal, row):
            raise Forbidden(f"Not allowed to access secret {canonical}")
        return row

    def create_secret(
        self, principal: Principal, body: schemas.SecretCreate, clobber: bool = False
    ) -> str:
        """Store a secret (encrypted); returns its URN.

        An existing name → 409 unless ``clobber`` (then the caller must be allowed to use the
        existing secret, else 403). Only admins may name another user as ``owner``.
        """
        name = body.name.strip()
        urn = urns.secret_urn(name)
        owner = urns.user_urn(body.owner) if body.owner else principal.urn
        if owner != principal.urn and not principal.is_admin:
            raise Forbidden("Only an admin may create a secret owned by another user")
        encrypted = self.envelope.encrypt(body.value.get_secret_value())

        def work(s: Session) -> None:
            row = s.scalar(select(CatalogSecret).where(CatalogSecret.urn == urn))
            if row is not None:
                if not clobber:
                    raise Conflict(f"Secret already exists: {urn} (pass clobber=true to replace)")
                if not self._may_use_secret(principal, row):
                    raise Forbidden(f"Not allowed to replace secret {urn}")
                row.value_encrypted, row.owner = encrypted, owner
                row.description = body.description
                return
            s.add(
                CatalogSecret(
                    urn=urn,
                    name=name,
                    owner=owner,
                    description=body.description,
                    value_encrypted=encrypted,
                    owner_id=principal.user_id,
                    created_by=principal.username,
                )
            )

        try:
            self.db.transaction(work)
        except IntegrityError as exc:
            raise Conflict(f"Secret already exists: {urn} (pass clobber=true to replace)") from exc
        return urn

    def get_secret(self, principal: Principal, urn: str) -> schemas.Secret:
        """A secret's metadata (never its value)."""
        with self.db.session() as s:
            return _secret_out(self._secret_row(s, principal, urn))

    def list_secrets(self, principal: Principal, query: str | None = None) -> list[schemas.Secret]:
        """The caller's secrets (an admin: all), by name; `query` matches name or description."""
        stmt = select(CatalogSecret)
        if not principal.is_admin:
            stmt = stmt.where(
                or_(
                    CatalogSecret.owner_id == principal.user_id,
                    CatalogSecret.owner == principal.urn,
                )
            )
        if query and query.strip():
            needle = query.strip().lower()
            stmt = stmt.where(
                or_(
                    func.lower(CatalogSecret.name).contains(needle, autoescape=True),
                    func.lower(CatalogSecret.description).contains(needle, autoescape=True),
                )
            )
        with self.db.session() as s:
            return [_secret_out(r) for r in s.scalars(stmt.order_by(CatalogSecret.name)).all()]

    def delete_secret(self, principal: Principal, urn: str) -> None:
        self.db.transaction(lambda s: s.delete(self._secret_row(s, principal, urn)))

    def reveal_secret(self, principal: Principal, urn: str) -> str:
        """The plaintext value, for server-side use (e.g. ingestion credentials); never routed.

        Same access rule as reading the secret (owner, named owner or admin).
        """
        with self.db.session() as s:
            row = self._secret_row(s, principal, urn)
            stored = row.value_encrypted
        try:
            return self.envelope.decrypt(stored).decode()
        except DecryptionError as exc:
            raise ServiceUnavailable(
                f"Secret {row.urn} cannot be decrypted with the configured key; if the key was "
                "changed, set the previous one and rotate (POST /api/catalog/secrets/rotate-key)"
            ) from exc

    def rotate_key(self, previous: Envelope | None = None) -> schemas.KeyRotation:
        """Re-encrypt every secret still under the previous key with the current one.

        ``previous`` defaults to the one configured (``secret_key_previous``). Secrets already
        under the current key are left alone; those neither key decrypts are reported, not
        changed. All in one transaction.
        """
        old = previous or self.previous_envelope
        if old is None:
            raise BadRequest(
                "No previous key-encryption key is configured (WAZA_SECRET_KEY_PREVIOUS)"
            )

        def work(s: Session) -> schemas.KeyRotation:
            rotated, current, failed = 0, 0, []
            for row in s.scalars(select(CatalogSecret).order_by(CatalogSecret.urn)):
                try:
                    self.envelope.decrypt(row.value_encrypted)
                    current += 1
                    continue
                except DecryptionError:
                    pass
                try:
                    row.value_encrypted = self.envelope.encrypt(old.decrypt(row.value_encrypted))
                    rotated += 1
                except DecryptionError:
                    failed.append(row.urn)
            return schemas.KeyRotation(rotated=rotated, already_current=current, failed=failed)

        return self.db.transaction(work)
