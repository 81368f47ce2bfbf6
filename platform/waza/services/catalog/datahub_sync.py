"""Optional mirror of the catalog into a DataHub GMS (`WAZA_DATAHUB_GMS_URL`).

Each dataset or container change becomes DataHub metadata change proposals (MCPs), built with
`acryl-datahub`'s classes and emitted by one background thread, so a slow or absent GMS never
slows or fails a catalog call: emit failures are logged and dropped. Deletes are DataHub soft
deletes (`Status(removed=True)`).

The emitter is any DataHub `Emitter`: `DatahubRestEmitter` in production; tests pass the
package's `SynchronizedFileEmitter` and read the MCPs back from its file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from datahub.emitter.generic_emitter import Emitter
from datahub.emitter.mce_builder import make_data_platform_urn, make_tag_urn, make_user_urn
from datahub.emitter.mcp import MetadataChangeProposalWrapper
from datahub.metadata import schema_classes as dh

from waza.gateway.logging import get_logger
from waza.services.catalog import schemas
from waza.settings import Settings

log = get_logger("waza.catalog.datahub")

_TYPES: dict[str, Callable[[], Any]] = {
    **dict.fromkeys(("string", "str", "text", "varchar", "char", "utf8"), dh.StringTypeClass),
    **dict.fromkeys(
        ("int", "integer", "int32", "int64", "long", "float", "double", "float32", "float64",
         "decimal", "number", "numeric", "bigint", "smallint"),
        dh.NumberTypeClass,
    ),
    **dict.fromkeys(("bool", "boolean"), dh.BooleanTypeClass),
    **dict.fromkeys(("date",), dh.DateTypeClass),
    **dict.fromkeys(("datetime", "timestamp", "time"), dh.TimeTypeClass),
    **dict.fromkeys(("bytes", "binary", "blob"), dh.BytesTypeClass),
}  # fmt: skip


def _field_type(native: str) -> dh.SchemaFieldDataTypeClass:
    base = native.lower().split("(", 1)[0].strip()
    if base.startswith(("array", "list")):
        return dh.SchemaFieldDataTypeClass(type=dh.ArrayTypeClass())
    if base.startswith(("map", "dict", "struct", "object", "record", "json")):
        return dh.SchemaFieldDataTypeClass(type=dh.RecordTypeClass())
    return dh.SchemaFieldDataTypeClass(type=_TYPES.get(base, dh.StringTypeClass)())


def _properties(values: dict[str, Any]) -> dict[str, str]:
    """DataHub custom properties are strings."""
    return {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in values.items()}


def _tags(tags: list[str]) -> dh.GlobalTagsClass:
    return dh.GlobalTagsClass(tags=[dh.TagAssociationClass(tag=make_tag_urn(t)) for t in tags])


def _millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def dataset_mcps(ds: schemas.Dataset) -> list[MetadataChangeProposalWrapper]:
    """The aspects of one dataset: properties, tags, owner, status, container and schema."""
    created, modified = _millis(ds.created_at), _millis(ds.updated_at)
    aspects: list[Any] = [
        dh.DatasetPropertiesClass(
            name=ds.name,
            description=ds.description,
            customProperties=_properties(ds.properties),
            created=dh.TimeStampClass(time=created) if created else None,
            lastModified=dh.TimeStampClass(time=modified) if modified else None,
        ),
        _tags(ds.tags),
        dh.StatusClass(removed=False),
    ]
    if ds.created_by:
        aspects.append(
            dh.OwnershipClass(
                owners=[
                    dh.OwnerClass(
                        owner=make_user_urn(ds.created_by), type=dh.OwnershipTypeClass.DATAOWNER
                    )
                ]
            )
        )
    if ds.container_urn:
        aspects.append(dh.ContainerClass(container=ds.container_urn))
    if ds.dataset_schema is not None:
        schema = ds.dataset_schema
        aspects.append(
            dh.SchemaMetadataClass(
                schemaName=schema.name,
                platform=make_data_platform_urn(ds.platform),
                version=schema.version or 0,
                hash="",
                platformSchema=dh.OtherSchemaClass(rawSchema=""),
                fields=[
                    dh.SchemaFieldClass(
                        fieldPath=f.name,
                        type=_field_type(f.type),
                        nativeDataType=f.type,
                        description=f.description,
                    )
                    for f in schema.fields
                ],
            )
        )
    return MetadataChangeProposalWrapper.construct_many(entityUrn=ds.urn, aspects=aspects)


def container_mcps(c: schemas.Container) -> list[MetadataChangeProposalWrapper]:
    """The aspects of one container: properties, tags, status, platform and parent."""
    aspects: list[Any] = [
        dh.ContainerPropertiesClass(
            name=c.name, description=c.description, customProperties=_properties(c.properties)
        ),
        _tags(c.tags),
        dh.StatusClass(removed=False),
    ]
    if c.platform:
        aspects.append(dh.DataPlatformInstanceClass(platform=make_data_platform_urn(c.platform)))
    if c.parent_urn:
        aspects.append(dh.ContainerClass(container=c.parent_urn))
    return MetadataChangeProposalWrapper.construct_many(entityUrn=c.urn, aspects=aspects)


def removal_mcps(urn: str) -> list[MetadataChangeProposalWrapper]:
    """A DataHub soft delete."""
    return [MetadataChangeProposalWrapper(entityUrn=urn, aspect=dh.StatusClass(removed=True))]


class DataHubSync:
    """Emits MCPs in the background, in order, on one worker thread; never raises to callers.

    `emitted` and `failed` count MCPs (failed ones are logged and dropped, not retried later).
    """

    def __init__(self, emitter_factory: Callable[[], Emitter]) -> None:
        self._factory = emitter_factory
        self._emitter: Emitter | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="datahub-sync")
        self._lock = threading.Lock()
        self._pending: list[Future[None]] = []
        self.emitted = 0
        self.failed = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> DataHubSync | None:
        """A sync to `settings.datahub_gms_url`, or None when it is not set."""
        url = settings.datahub_gms_url
        if not url:
            return None
        token = settings.datahub_token.get_secret_value() if settings.datahub_token else None

        def rest_emitter() -> Emitter:
            from datahub.emitter.rest_emitter import DatahubRestEmitter

            return DatahubRestEmitter(
                gms_server=url, token=token, connect_timeout_sec=5, retry_max_times=1
            )

        return cls(rest_emitter)

    def submit(self, mcps: Iterable[MetadataChangeProposalWrapper]) -> None:
        batch = list(mcps)
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(self._pool.submit(self._emit, batch))

    def dataset_changed(self, ds: schemas.Dataset) -> None:
        self.submit(dataset_mcps(ds))

    def container_changed(self, c: schemas.Container) -> None:
        self.submit(container_mcps(c))

    def removed(self, urn: str) -> None:
        self.submit(removal_mcps(urn))

    def _emit(self, batch: list[MetadataChangeProposalWrapper]) -> None:
        """Emit one change's MCPs in order; the first failure drops the rest of the change."""
        for i, mcp in enumerate(batch):
            try:
                if self._emitter is None:
                    self._emitter = self._factory()
                self._emitter.emit(mcp)
                self.emitted += 1
            except Exception as exc:  # a GMS outage must never break the catalog
                self.failed += len(batch) - i
                log.warning(
                    "datahub sync failed",
                    urn=mcp.entityUrn,
                    aspect=mcp.aspectName,
                    dropped=len(batch) - i,
                    error=f"{type(exc).__name__}: {exc}"[:500],
                )
                return
        try:
            if self._emitter is not None:
                self._emitter.flush()
        except Exception as exc:
            log.warning("datahub sync flush failed", error=str(exc)[:500])

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until everything submitted so far was emitted (or failed)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        emitter, self._emitter = self._emitter, None
        close = getattr(emitter, "close", None)
        if callable(close):
            close()
