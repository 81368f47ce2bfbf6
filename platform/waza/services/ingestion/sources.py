"""Active ingestion of `file` and `s3` sources: each file or object becomes a catalog dataset.

A dataset is named by its absolute path (`file`) or `bucket/key` (`s3`), so ingesting the same
place again finds the same dataset: the caller's own dataset is refreshed, another user's is
reported as an error (403 from the catalog). Each file is registered on its own: one unreadable
file does not stop the others unless `fail_fast` is set, in which case every dataset this run
created is removed again and the run answers 422.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from waza.errors import BadRequest, Conflict, Unprocessable, WazaError
from waza.gateway.logging import get_logger
from waza.gateway.principal import Principal
from waza.services.catalog.schemas import DatasetCreate, DatasetUpdate, Schema, SchemaField
from waza.services.catalog.service import CatalogService
from waza.services.catalog.urns import dataset_urn
from waza.services.ingestion import formats, paths, s3
from waza.services.ingestion.formats import FileError, FileInfo
from waza.services.ingestion.schemas import IngestResponse
from waza.settings import Settings

log = get_logger("waza.ingestion")
SOURCE_TYPES = ("file", "s3")


def _flag(args: dict[str, Any], name: str, default: bool) -> bool:
    value = args.get(name, default)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _tags(args: dict[str, Any]) -> list[str]:
    tags = args.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",")]
    return [str(t) for t in tags if str(t).strip()]


def file_dataset(
    path: Path, info: FileInfo, principal: Principal, tags: list[str] | None = None
) -> DatasetCreate:
    """The catalog entry of a local file (platform `file`, named by its absolute path)."""
    props: dict[str, Any] = {
        "path": str(path),
        "location": str(path),
        "source_type": "file",
        "filename": path.name,
        **info.properties(),
        "ingested_at": datetime.now(UTC).isoformat(),
        "ingested_by": principal.username,
    }
    schema = None
    if info.fields:
        schema = Schema(
            name=path.name,
            platform="file",
            fields=[SchemaField(name=n or "_", type=t) for n, t in info.fields],
        )
    return DatasetCreate(
        name=str(path),
        platform="file",
        description=f"{info.format} file {path.name}",
        tags=tags or [],
        properties=props,
        dataset_schema=schema,
    )


def register(
    catalog: CatalogService, principal: Principal, body: DatasetCreate
) -> tuple[str, bool]:
    """Create the dataset, or refresh the caller's existing one: (urn, created)."""
    try:
        return catalog.create_dataset(principal, body), True
    except Conflict:
        urn = dataset_urn(body.platform, body.name, body.environment)
        current = catalog.get_dataset(principal, urn)  # 403 when it is someone else's
        update = DatasetUpdate(properties={**current.properties, **body.properties})
        if body.dataset_schema is not None:
            update.dataset_schema = body.dataset_schema
        if body.tags:
            update.tags = sorted(set(current.tags) | set(body.tags))
        catalog.update_dataset(principal, urn, update)
        return urn, False


@dataclass
class Run:
    """The outcome of one active ingestion, as it goes."""

    source_type: str
    urns: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def response(self) -> IngestResponse:
        status = "success"
        if self.errors:
            status = "partial" if self.urns else "failed"
        return IngestResponse(
            urns=self.urns,
            status=status,
            errors=self.errors,
            skipped=self.skipped,
            source_type=self.source_type,
        )

    def undo(self, catalog: CatalogService, principal: Principal) -> None:
        for urn in reversed(self.created):
            try:
                catalog.delete_dataset(principal, urn)
            except WazaError as exc:  # already gone, or the catalog refused: report, go on
                log.warning("undo of an ingested dataset failed", urn=urn, error=str(exc.detail))


def _each(
    run: Run,
    catalog: CatalogService,
    principal: Principal,
    fail_fast: bool,
    items: list[Any],
    label: Callable[[Any], str],
    build: Callable[[Any], DatasetCreate],
) -> None:
    for item in items:
        try:
            urn, created = register(catalog, principal, build(item))
        except (FileError, WazaError) as exc:
            reason = str(exc.detail) if isinstance(exc, WazaError) else str(exc)
            run.errors.append(f"{label(item)}: {reason}")
            if fail_fast:
                run.undo(catalog, principal)
                raise Unprocessable(
                    f"Ingestion stopped at {label(item)} (fail_fast): {reason}; "
                    "nothing was registered"
                ) from exc
            continue
        run.urns.append(urn)
        if created:
            run.created.append(urn)


def ingest_files(
    settings: Settings, catalog: CatalogService, principal: Principal, args: dict[str, Any]
) -> IngestResponse:
    """Register every supported file under `args["path"]` (a named file of any format)."""
    raw = args.get("path") or args.get("folder") or args.get("file")
    if not isinstance(raw, str):
        raise BadRequest("A file source needs kwargs.path: an absolute file or folder path")
    root = paths.resolve_path(settings, principal, raw)
    listing = paths.list_files(
        settings,
        principal,
        root,
        recursive=_flag(args, "recursive", True),
        include_unsupported=root.is_file(),
    )
    run = Run("file", errors=list(listing.errors), skipped=listing.skipped)
    tags = _tags(args)

    def build(item: tuple[Path, str]) -> DatasetCreate:
        path, fmt = item
        if fmt == "binary":
            st = path.stat()
            info = FileInfo(fmt, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))
        else:
            info = formats.describe(path, fmt)
        return file_dataset(path, info, principal, tags)

    fail_fast = _flag(args, "fail_fast", False)
    if fail_fast and run.errors:
        raise Unprocessable(f"Ingestion refused (fail_fast): {run.errors[0]}")
    _each(run, catalog, principal, fail_fast, listing.files, lambda i: str(i[0]), build)
    return run.response()


def ingest_s3(
    catalog: CatalogService,
    principal: Principal,
    args: dict[str, Any],
    allowed_endpoints: Sequence[str] = (),
) -> IngestResponse:
    """Register every object under `s3://bucket/prefix` (folder markers left out).

    A non-admin's `endpoint_url` must be one of `allowed_endpoints` (see `s3.check_endpoint`).
    """
    bucket = args.get("bucket")
    if not isinstance(bucket, str) or not bucket.strip():
        raise BadRequest("An s3 source needs kwargs.bucket")
    s3.check_endpoint(args.get("endpoint_url") or None, principal, allowed_endpoints)
    creds, secret_urn, anonymous = s3.credentials(principal, args, catalog.reveal_secret)
    location = s3.S3Location(
        bucket=bucket.strip(),
        endpoint_url=args.get("endpoint_url") or None,
        region=args.get("region") or args.get("region_name") or None,
        secret_urn=secret_urn,
        anonymous=anonymous,
    )
    client = s3.client(location, creds)
    prefix = str(args.get("prefix") or "")
    objects = s3.list_objects(client, location.bucket, prefix, _flag(args, "recursive", True))
    run = Run("s3")
    tags = _tags(args)

    def build(obj: dict[str, Any]) -> DatasetCreate:
        key = obj["Key"]
        uri = f"s3://{location.bucket}/{key}"
        modified = obj.get("LastModified")
        props: dict[str, Any] = {
            "path": uri,
            "location": uri,
            "source_type": "s3",
            "key": key,
            "filename": key.rsplit("/", 1)[-1],
            "format": formats.detect_format(key) or "binary",
            "size_bytes": int(obj.get("Size", 0)),
            **location.properties(),
            "ingested_at": datetime.now(UTC).isoformat(),
            "ingested_by": principal.username,
        }
        if modified is not None:
            props["modified_at"] = modified.isoformat()
        if obj.get("ETag"):
            props["etag"] = str(obj["ETag"]).strip('"')
        return DatasetCreate(
            name=f"{location.bucket}/{key}",
            platform="s3",
            description=f"S3 object {uri}",
            tags=tags,
            properties=props,
        )

    fail_fast = _flag(args, "fail_fast", False)
    _each(run, catalog, principal, fail_fast, objects, lambda o: o["Key"], build)
    return run.response()
