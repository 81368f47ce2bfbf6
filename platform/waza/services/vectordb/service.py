"""Vector DBs over Milvus and Qdrant: records, access rules and one engine client per DB.

Where data lives: with no server configured, each vector DB has its own folder
``$WAZA_HOME/vectors/<id>/`` holding a milvus-lite file (``milvus.db``) or Qdrant local storage
(``qdrant/``). With `WAZA_MILVUS_URI` / `WAZA_QDRANT_URL` set, new DBs of that engine live on the
server, their collections named ``v<16 hex of the id>_<name>`` so DBs never see each other's.

Engine clients are opened on first use and shared by every request (milvus-lite and Qdrant local
storage accept one client per path per process); `close` releases them at shutdown. So the API
must run as one process per `WAZA_HOME` when embedded engines are used.

Records are read through a per-process cache (`waza.gateway.cache.InvalidatedCache`, the
mechanism of the token cache): a search needs no database read once its DB was seen, and an
update or delete clears every API process's copy through the config store.

Access: owners and admins do everything; other users may read and search a ``shared`` DB and
get 403 on writes; a DB neither theirs nor shared is a 403; lists show only what the caller may
read. Calls that name no vector DB use the caller's DB named ``default``, created (with the
platform's engine) by the first write.

Other services use `insert_vectors`, `query_vectors` and `drop_collection` with the caller's
`Principal`.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from waza.db import Database
from waza.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from waza.gateway.cache import InvalidatedCache
from waza.gateway.logging import get_logger
from waza.gateway.principal import Principal
from waza.services.vectordb import schemas
from waza.services.vectordb.backends import (
    DEFAULT_METRIC,
    VectorBackend,
    check_collection_name,
    normalize_engine,
    normalize_metric,
    open_backend,
)
from waza.services.vectordb.filters import parse_filter
from waza.services.vectordb.models import DEFAULT_WORKROOM_ID, VectorDB
from waza.settings import Settings

log = get_logger("waza.vectordb")

DEFAULT_DB_NAME = "default"
FEATURES = [
    "vectordbs",
    "collections",
    "insert_vectors",
    "query_vectors",
    "delete_vectors",
    "metadata_filters",
    "engines:milvus",
    "engines:qdrant",
    "legacy_vectordb",
]
_DEFAULT_PORTS = {"milvus": 19530, "qdrant": 6333}
ROWS_EPOCH_KEY = "vectordb/epoch"


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def is_embedded(row: VectorDB) -> bool:
    return "://" not in row.endpoint


class VectorService:
    """Vector DB records plus their engines; routes in `api.py` wrap these methods."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._backends: dict[uuid.UUID, VectorBackend] = {}
        self._lock = threading.Lock()
        self._opening: dict[uuid.UUID, threading.Lock] = {}
        # Records by id and callers' default DBs; enabled when the API attaches the config store.
        self.rows: InvalidatedCache[VectorDB] = InvalidatedCache(
            ROWS_EPOCH_KEY, ttl=settings.auth_cache_ttl
        )

    # ---- placement and engine clients -----------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.settings.home / "vectors"

    def _placement(self, engine: str, db_id: uuid.UUID) -> str:
        folder = self.root / str(db_id)
        if engine == "milvus":
            return self.settings.milvus_uri or str(folder / "milvus.db")
        return self.settings.qdrant_url or str(folder / "qdrant")

    def _secret(self, engine: str) -> str | None:
        value = self.settings.milvus_token if engine == "milvus" else self.settings.qdrant_api_key
        return value.get_secret_value() if value is not None else None

    @staticmethod
    def _namespace(db_id: uuid.UUID) -> str:
        return f"v{db_id.hex[:16]}_"

    def _storage(self, db_id: uuid.UUID, endpoint: str) -> Path | None:
        """The folder to delete with the DB (embedded engines only, always under home)."""
        if "://" in endpoint:
            return None
        folder = Path(endpoint).parent
        return folder if folder.name == str(db_id) else None

    def _open(self, db_id: uuid.UUID, engine: str, endpoint: str) -> VectorBackend:
        embedded = "://" not in endpoint
        return open_backend(
            engine,
            endpoint,
            namespace="" if embedded else self._namespace(db_id),
            secret=None if embedded else self._secret(engine),
            storage=self._storage(db_id, endpoint),
        )

    def backend(self, row: VectorDB) -> VectorBackend:
        """The shared engine client of a vector DB, opened on first use."""
        found = self._backends.get(row.id)
        if found is not None:
            return found
        with self._lock:
            gate = self._opening.setdefault(row.id, threading.Lock())
        with gate:
            found = self._backends.get(row.id)
            if found is None:
                found = self._open(row.id, row.engine, row.endpoint)
                with self._lock:
                    self._backends[row.id] = found
        return found

    def _release(self, db_id: uuid.UUID) -> VectorBackend | None:
        with self._lock:
            self._opening.pop(db_id, None)
            return self._backends.pop(db_id, None)

    def close(self) -> None:
        """Release engine clients (called at shutdown)."""
        with self._lock:
            backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            try:
                backend.close()
            except Exception as exc:  # shutting down: log and carry on
                log.warning("closing a vector engine failed", error=str(exc))

    # ---- records and access -----------------------------------------------------------------
    @staticmethod
    def _row(s: Session, db_id: uuid.UUID) -> VectorDB:
        row = s.get(VectorDB, db_id)
        if row is None:
            raise NotFound(f"Vector DB {db_id} not found")
        return row

    @staticmethod
    def _check_read(principal: Principal, row: VectorDB) -> None:
        if not (row.shared or principal.can_access(row.owner_id)):
            raise Forbidden(f"Vector DB {row.id} belongs to another user")

    @staticmethod
    def _check_write(principal: Principal, row: VectorDB) -> None:
        if not principal.can_access(row.owner_id):
            raise Forbidden(f"Only the owner of vector DB {row.id} (or an admin) may change it")

    def _get(self, principal: Principal, db_id: uuid.UUID, write: bool = False) -> VectorDB:
        key = str(db_id)
        row = self.rows.get(key)
        if row is None:
            generation = self.rows.generation
            with self.db.session() as s:
                row = self._row(s, db_id)
            self.rows.put(key, row, None, generation)
        (self._check_write if write else self._check_read)(principal, row)
        return row

    def _default(self, principal: Principal) -> VectorDB | None:
        key = f"default/{principal.user_id}"
        row = self.rows.get(key)
        if row is not None:
            return row
        generation = self.rows.generation
        with self.db.session() as s:
            row = s.scalars(
                select(VectorDB).where(
                    VectorDB.owner_id == principal.user_id, VectorDB.name == DEFAULT_DB_NAME
                )
            ).first()
        if row is not None:
            self.rows.put(key, row, None, generation)
        return row

    def resolve(
        self, principal: Principal, db_id: uuid.UUID | None, write: bool = False
    ) -> VectorDB | None:
        """The named vector DB (checked), or the caller's default one (created by writes)."""
        if db_id is not None:
            return self._get(principal, db_id, write)
        row = self._default(principal)
        if row is None and write:
            try:
                created = self.create_vectordb(
                    principal, schemas.CreateVectorDB(name=DEFAULT_DB_NAME)
                )
            except Conflict:  # created by a concurrent request
                row = self._default(principal)
            else:
                row = self._get(principal, created.id)
        return row

    def _require(
        self, principal: Principal, db_id: uuid.UUID | None, write: bool = False
    ) -> VectorDB:
        row = self.resolve(principal, db_id, write)
        if row is None:
            raise NotFound("You have no default vector DB yet: insert vectors to create it")
        return row

    def default_metric(self, row: VectorDB) -> str:
        return normalize_metric((row.config or {}).get("metric"), DEFAULT_METRIC)

    def instance(self, row: VectorDB) -> schemas.VectorDBInstance:
        embedded = is_embedded(row)
        if embedded:
            note = (
                f"embedded {row.engine} runs as a single replica inside the API process; "
                "the requested count is recorded"
            )
        else:
            note = (
                f"the {row.engine} server manages its own replicas; the requested count is recorded"
            )
        return schemas.VectorDBInstance(
            id=row.id,
            name=row.name,
            engine=row.engine,
            status=row.status,
            endpoint=row.endpoint if embedded else _strip_userinfo(row.endpoint),
            owner_id=row.owner_id,
            shared=row.shared,
            description=row.description,
            workroom_id=row.workroom_id,
            replicas=row.replicas,
            effective_replicas=1 if embedded else None,
            replica_note=note,
            default_metric=self.default_metric(row),
            namespace=None if embedded else self._namespace(row.id),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    # ---- vector DBs ---------------------------------------------------------------------------
    def create_vectordb(
        self, principal: Principal, body: schemas.CreateVectorDB, workroom_id: str | None = None
    ) -> schemas.VectorDBInstance:
        """Create a DB and open its engine; ready (``running``) when this returns."""
        engine = normalize_engine(body.engine or self.settings.vector_engine)
        name = body.name.strip()
        config = dict(body.config or {})
        if "metric" in config:
            config["metric"] = normalize_metric(config["metric"])
        with self.db.session() as s:
            taken = s.scalars(
                select(VectorDB.id).where(
                    VectorDB.owner_id == principal.user_id, VectorDB.name == name
                )
            ).first()
        if taken is not None:
            raise Conflict(f"You already have a vector DB named {name!r} ({taken})")
        db_id = uuid.uuid4()
        endpoint = self._placement(engine, db_id)
        backend = self._open(db_id, engine, endpoint)  # a 503 here leaves nothing behind
        try:
            backend.list_collections()  # the engine answers (a server may be unreachable)
        except ServiceUnavailable:
            backend.close()
            if backend.storage is not None:
                shutil.rmtree(backend.storage, ignore_errors=True)
            raise
        row = VectorDB(
            id=db_id,
            name=name,
            engine=engine,
            owner_id=principal.user_id,
            shared=body.shared,
            status="running",
            endpoint=endpoint,
            description=body.description,
            replicas=body.replicas,
            workroom_id=body.workroom_id or workroom_id or DEFAULT_WORKROOM_ID,
            config=config,
        )

        def add(s: Session) -> VectorDB:
            s.add(row)
            s.flush()
            return row

        try:
            self.db.transaction(add)
        except IntegrityError as exc:
            backend.destroy()
            raise Conflict(f"You already have a vector DB named {name!r}") from exc
        except BaseException:
            backend.destroy()
            raise
        with self._lock:
            self._backends[db_id] = backend
        return self.instance(row)

    def get_vectordb(self, principal: Principal, db_id: uuid.UUID) -> schemas.VectorDBInstance:
        return self.instance(self._get(principal, db_id))

    def list_vectordbs(
        self,
        principal: Principal,
        *,
        workroom_id: str | None = None,
        engine: str | None = None,
    ) -> list[schemas.VectorDBInstance]:
        """The DBs the caller may read (own and shared; admins all), oldest first."""
        query = select(VectorDB).order_by(VectorDB.created_at, VectorDB.id)
        if not principal.is_admin:
            query = query.where(or_(VectorDB.owner_id == principal.user_id, VectorDB.shared))
        if workroom_id:
            query = query.where(VectorDB.workroom_id == workroom_id)
        if engine:
            query = query.where(VectorDB.engine == normalize_engine(engine))
        with self.db.session() as s:
            rows = list(s.scalars(query))
        return [self.instance(r) for r in rows]

    def update_vectordb(
        self, principal: Principal, db_id: uuid.UUID, body: schemas.UpdateVectorDB
    ) -> schemas.VectorDBInstance:
        """Change config, replicas, sharing or description (owner or admin)."""
        config = None
        if body.config is not None:
            config = dict(body.config)
            if "metric" in config:
                config["metric"] = normalize_metric(config["metric"])

        def work(s: Session) -> VectorDB:
            row = self._row(s, db_id)
            self._check_write(principal, row)
            if config is not None:
                row.config = config
            if body.replicas is not None:
                row.replicas = body.replicas
            if body.shared is not None:
                row.shared = body.shared
            if body.description is not None:
                row.description = body.description
            s.flush()
            return row

        row = self.db.transaction(work)
        self.rows.invalidate_everywhere()
        return self.instance(row)

    def scale_vectordb(
        self, principal: Principal, db_id: uuid.UUID, replicas: int
    ) -> schemas.VectorDBInstance:
        """Record the requested replica count (see ``replica_note`` for what serves)."""
        return self.update_vectordb(principal, db_id, schemas.UpdateVectorDB(replicas=replicas))

    def delete_vectordb(self, principal: Principal, db_id: uuid.UUID) -> schemas.VectorDBDeleted:
        """Delete a DB with all its data: its files, or its collections on a server."""
        row = self._get(principal, db_id, write=True)
        backend = self._release(db_id)
        try:
            if backend is None:
                backend = self._open(row.id, row.engine, row.endpoint)
            backend.destroy()
        except ServiceUnavailable:
            storage = self._storage(row.id, row.endpoint)
            if storage is None:  # the server is unreachable: keep the record, report
                raise
            if backend is not None:
                with contextlib.suppress(Exception):
                    backend.close()
            shutil.rmtree(storage, ignore_errors=True)

        def work(s: Session) -> None:
            found = s.get(VectorDB, db_id)
            if found is not None:
                s.delete(found)

        try:
            self.db.transaction(work)
        finally:
            self.rows.invalidate_everywhere()
        return schemas.VectorDBDeleted(id=row.id, name=row.name)

    # ---- collections ----------------------------------------------------------------------------
    def _collection(self, row: VectorDB, name: str) -> schemas.Collection:
        backend = self.backend(row)
        info = backend.require(name)
        return schemas.Collection(
            name=info.name,
            display_name=info.name,
            vectordb_id=row.id,
            engine=row.engine,
            dimension=info.dimension,
            metric=info.metric,
            description=info.description,
            count=backend.count(name),
        )

    def list_collections(
        self, principal: Principal, db_id: uuid.UUID | None = None
    ) -> list[schemas.Collection]:
        row = self.resolve(principal, db_id)
        if row is None:
            return []
        return [self._collection(row, n) for n in self.backend(row).list_collections()]

    def collection_names(self, principal: Principal, db_id: uuid.UUID | None = None) -> list[str]:
        row = self.resolve(principal, db_id)
        return [] if row is None else self.backend(row).list_collections()

    def create_collection(
        self, principal: Principal, body: schemas.CreateCollection
    ) -> schemas.Collection:
        row = self._require(principal, body.vectordb_id, write=True)
        metric = normalize_metric(body.metric, self.default_metric(row))
        self.backend(row).create_collection(
            body.name, body.dimension, metric, body.description or ""
        )
        return self._collection(row, body.name)

    def get_collection(
        self, principal: Principal, name: str, db_id: uuid.UUID | None = None
    ) -> schemas.Collection:
        check_collection_name(name)
        row = self.resolve(principal, db_id)
        if row is None:
            raise NotFound(f"Collection {name!r} not found")
        return self._collection(row, name)

    def drop_collection(
        self, principal: Principal, name: str, db_id: uuid.UUID | None = None
    ) -> schemas.CollectionDeleted:
        """Drop a collection and its vectors; 404 when there is none."""
        check_collection_name(name)
        row = self.resolve(principal, db_id, write=False)
        if row is None:
            raise NotFound(f"Collection {name!r} not found")
        self._check_write(principal, row)
        if not self.backend(row).drop_collection(name):
            raise NotFound(f"Collection {name!r} not found")
        return schemas.CollectionDeleted(
            name=name, display_name=name, vectordb_id=row.id, deleted=True
        )

    # ---- vectors --------------------------------------------------------------------------------
    def insert_vectors(
        self,
        principal: Principal,
        db_id: uuid.UUID | None,
        collection: str,
        vectors: Sequence[Sequence[float]],
        metadata: Sequence[dict[str, Any]] | None = None,
        *,
        create_if_missing: bool = True,
        ids: Sequence[str] | None = None,
        metric: str | None = None,
    ) -> schemas.InsertVectorsResult:
        """Insert a batch; a missing collection is created with the vectors' dimension."""
        row = self._require(principal, db_id, write=True)
        backend = self.backend(row)
        result = backend.insert(
            collection,
            vectors,
            metadata,
            ids=ids,
            create_if_missing=create_if_missing,
            metric=normalize_metric(metric, self.default_metric(row)),
        )
        return schemas.InsertVectorsResult(
            inserted_count=len(result.ids),
            ids=result.ids,
            collection_name=collection,
            vectordb_id=row.id,
            created_collection=result.created_collection,
        )

    def delete_vectors(
        self,
        principal: Principal,
        db_id: uuid.UUID | None,
        collection: str,
        *,
        ids: Sequence[str] | None = None,
        filter: Any = None,
    ) -> schemas.DeleteVectorsResult:
        """Delete vectors by id and/or metadata filter; how many went. Needs write access."""
        flt = parse_filter(filter)
        check_collection_name(collection)
        row = self._get(principal, db_id, True) if db_id is not None else self._default(principal)
        if row is None:
            raise NotFound(f"Collection {collection!r} not found")
        deleted = self.backend(row).delete(collection, ids=ids, flt=flt)
        return schemas.DeleteVectorsResult(
            deleted_count=deleted, collection_name=collection, vectordb_id=row.id
        )

    def query_vectors(
        self,
        principal: Principal,
        db_id: uuid.UUID | None,
        collection: str,
        vectors: Sequence[Sequence[float]],
        limit: int = 10,
        *,
        filter: Any = None,
        output_fields: Sequence[str] | None = None,
        score_threshold: float | None = None,
    ) -> schemas.QueryVectorsResult:
        """The nearest vectors of each query vector (flattened, ``query_index`` says which)."""
        flt = parse_filter(filter)
        check_collection_name(collection)
        row = self.resolve(principal, db_id)
        if row is None:
            raise NotFound(f"Collection {collection!r} not found")
        found = self.backend(row).search(
            collection, vectors, limit, flt=flt, output_fields=output_fields
        )
        hits = [
            schemas.SearchHit(id=h.id, score=h.score, metadata=h.metadata, query_index=q)
            for q, group in enumerate(found)
            for h in group
            if score_threshold is None or h.score >= score_threshold
        ]
        return schemas.QueryVectorsResult(
            results=hits, collection_name=collection, vectordb_id=row.id
        )

    # ---- legacy /vectordb records ------------------------------------------------------------
    def legacy(self, instance: schemas.VectorDBInstance) -> schemas.LegacyVectorDB:
        """The legacy record: host/port of the server, or the local path and port 0."""
        host, port = instance.endpoint, 0
        if "://" in instance.endpoint:
            parts = urlsplit(instance.endpoint)
            host = parts.hostname or ""
            port = parts.port or _DEFAULT_PORTS.get(instance.engine, 0)
        return schemas.LegacyVectorDB(
            name=instance.name,
            engine=instance.engine,
            description=instance.description,
            host=host,
            port=port,
            id=instance.id,
            created_at=instance.created_at,
            modified_at=instance.updated_at,
        )

    # ---- health ---------------------------------------------------------------------------------
    def health(self) -> schemas.ContextHealth:
        engines = {
            "milvus": "server" if self.settings.milvus_uri else "milvus-lite (embedded)",
            "qdrant": "server" if self.settings.qdrant_url else "local storage (embedded)",
        }
        return schemas.ContextHealth(
            status="healthy",
            service="context",
            features=FEATURES,
            engines=engines,
            default_engine=self.settings.vector_engine,
        )
