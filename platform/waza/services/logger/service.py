"""The logger: one view over every registered log source (serving, App Garden, ...).

Access: admins see every log; a user sees the logs of their own deployments (a log whose owner is
unknown, e.g. an orphan, is admin-only). Reading someone else's log is a 403, an unknown one a 404.
Deleting one log needs its owner or an admin and `confirm=true`; a running deployment's log is
kept (409). Cleanup (admin) removes logs not written for `days_old` days, except running ones,
and is a dry run unless asked otherwise.

Sources plug in with :meth:`LoggerService.register` (any object of the `LogSource` shape) or, for
plain log files, :meth:`LoggerService.file_source`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from waza.errors import BadRequest, Conflict, Forbidden, NotFound
from waza.gateway.logging import get_logger
from waza.gateway.principal import Principal
from waza.services.logger import patterns, schemas
from waza.services.logger.sources import FileLogSource, LogEntry, LogSource, Resolver

log = get_logger("waza.logger")


def _info(entry: LogEntry, has_errors: bool | None = None) -> schemas.LogFileInfo:
    return schemas.LogFileInfo(
        deployment_id=entry.deployment_id,
        deployment_type=entry.deployment_type,
        file_path=entry.location,
        file_size=entry.size,
        created_at=entry.created_at,
        modified_at=entry.modified_at,
        is_orphaned=entry.orphaned,
        has_errors=has_errors,
        capture_active=entry.active,
        owner_id=str(entry.owner_id) if entry.owner_id else None,
    )


class LoggerService:
    """Lists, reads, analyses and cleans up logs of every registered source."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sources: list[LogSource] = []
        self._lock = threading.Lock()

    # ---- sources -------------------------------------------------------------------------------
    def register(self, source: LogSource) -> LogSource:
        """Add a source; its types must not be served by another one."""
        if not isinstance(source, LogSource):
            raise TypeError(f"{source!r} lacks the LogSource methods")
        with self._lock:
            taken = {t for s in self._sources for t in s.types} & set(source.types)
            if taken:
                raise ValueError(f"deployment type(s) already served: {', '.join(sorted(taken))}")
            self._sources.append(source)
        return source

    def unregister(self, source: LogSource) -> None:
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)

    def file_source(self, deployment_type: str, resolve: Resolver) -> FileLogSource:
        """Register and return a source of log files under `<directory>/<deployment_type>/`."""
        source = FileLogSource(self.directory, deployment_type, resolve)
        self.register(source)
        return source

    @property
    def types(self) -> list[str]:
        """The spec's deployment types and those the sources add."""
        with self._lock:
            extra = {t for s in self._sources for t in s.types}
        return sorted(set(schemas.SPEC_TYPES) | extra)

    def _check_type(self, deployment_type: str | None) -> None:
        if deployment_type is not None and deployment_type not in self.types:
            raise BadRequest(
                f"Unknown deployment type {deployment_type!r}; one of: {', '.join(self.types)}"
            )

    def _sources_for(self, deployment_type: str | None) -> list[LogSource]:
        with self._lock:
            sources = list(self._sources)
        return [s for s in sources if deployment_type is None or deployment_type in s.types]

    @staticmethod
    def _visible(principal: Principal, entry: LogEntry) -> bool:
        return principal.is_admin or principal.owns(entry.owner_id)

    def _entries(
        self, principal: Principal, deployment_type: str | None = None
    ) -> list[tuple[LogSource, LogEntry]]:
        found: list[tuple[LogSource, LogEntry]] = []
        for source in self._sources_for(deployment_type):
            try:
                entries: Iterable[LogEntry] = source.entries()
                found.extend(
                    (source, e)
                    for e in entries
                    if (deployment_type is None or e.deployment_type == deployment_type)
                    and self._visible(principal, e)
                )
            except Exception as exc:  # one broken source must not hide the others
                log.warning("log source failed", source=type(source).__name__, error=str(exc))
        found.sort(key=lambda pair: pair[1].modified_at, reverse=True)
        return found

    def _locate(
        self, principal: Principal, deployment_type: str | None, deployment_id: str
    ) -> tuple[LogSource, LogEntry]:
        self._check_type(deployment_type)
        for source in self._sources_for(deployment_type):
            entry = source.find(deployment_id)
            if entry is None or (deployment_type and entry.deployment_type != deployment_type):
                continue
            if not self._visible(principal, entry):
                raise Forbidden(f"The log of deployment {deployment_id} belongs to another user")
            return source, entry
        kind = f"{deployment_type} " if deployment_type else ""
        raise NotFound(f"No log for {kind}deployment {deployment_id}")

    # ---- reads ---------------------------------------------------------------------------------
    def list_logs(
        self,
        principal: Principal,
        deployment_type: str | None = None,
        *,
        orphaned_only: bool = False,
        analyze: bool = False,
    ) -> schemas.LogListResponse:
        """Newest first; with `analyze`, `has_errors` is filled in (reads every log)."""
        self._check_type(deployment_type)
        pairs = self._entries(principal, deployment_type)
        if orphaned_only:
            pairs = [(s, e) for s, e in pairs if e.orphaned]
        infos = []
        for source, entry in pairs:
            errors = None
            if analyze:
                errors = patterns.analyze(source.read(entry).lines).has_errors
            infos.append(_info(entry, errors))
        return schemas.LogListResponse(
            logs=infos,
            total_count=len(infos),
            orphaned_count=sum(1 for i in infos if i.is_orphaned),
        )

    def content(
        self,
        principal: Principal,
        deployment_type: str | None,
        deployment_id: str,
        tail: int | None = None,
    ) -> schemas.LogContent:
        source, entry = self._locate(principal, deployment_type, deployment_id)
        text = source.read(entry, tail)
        return schemas.LogContent(
            deployment_id=entry.deployment_id,
            deployment_type=entry.deployment_type,
            file_path=entry.location,
            logs=text.lines,
            total_lines=text.total_lines,
            is_compressed=text.compressed,
            patterns_detected=patterns.analyze(text.lines).patterns_detected,
            capture_active=text.capture_active,
        )

    def analyze(
        self, principal: Principal, deployment_type: str | None, deployment_id: str
    ) -> schemas.LogPatternAnalysis:
        source, entry = self._locate(principal, deployment_type, deployment_id)
        found = patterns.analyze(source.read(entry).lines)
        return schemas.LogPatternAnalysis(
            deployment_id=entry.deployment_id,
            deployment_type=entry.deployment_type,
            patterns_detected=found.patterns_detected,
            failure_lines=[
                {"line_number": f.line_number, "line": f.line, "patterns": list(f.patterns)}
                for f in found.failure_lines
            ],
            analysis_timestamp=datetime.now(UTC),
            total_errors_found=found.total_errors_found,
        )

    def stats(self, principal: Principal) -> schemas.LogStats:
        """Counts and sizes of the logs the caller may see, by type."""
        pairs = self._entries(principal)
        by_type: dict[str, dict[str, int | str | None]] = {}
        for _, e in pairs:
            row = by_type.setdefault(
                e.deployment_type,
                {"count": 0, "size_bytes": 0, "orphaned_count": 0, "active_count": 0,
                 "oldest": None, "newest": None},
            )  # fmt: skip
            row["count"] = int(row["count"] or 0) + 1
            row["size_bytes"] = int(row["size_bytes"] or 0) + e.size
            row["orphaned_count"] = int(row["orphaned_count"] or 0) + int(e.orphaned)
            row["active_count"] = int(row["active_count"] or 0) + int(e.active)
            stamp = e.modified_at.isoformat()
            row["oldest"] = min(str(row["oldest"] or stamp), stamp)
            row["newest"] = max(str(row["newest"] or stamp), stamp)
        return schemas.LogStats(
            total_logs=len(pairs),
            total_size_bytes=sum(e.size for _, e in pairs),
            orphaned_count=sum(1 for _, e in pairs if e.orphaned),
            by_type=by_type,
            storage_path=str(self.directory),
            last_updated=datetime.now(UTC),
        )

    # ---- removal -------------------------------------------------------------------------------
    def delete(
        self, principal: Principal, deployment_type: str, deployment_id: str, confirm: bool
    ) -> schemas.LogDeleteResponse:
        source, entry = self._locate(principal, deployment_type, deployment_id)
        if entry.active:
            raise Conflict(
                f"Deployment {deployment_id} is still running: stop it before deleting its log"
            )
        if not confirm:
            return schemas.LogDeleteResponse(
                deleted=False,
                message=f"Not deleted: pass confirm=true to delete the log of {deployment_id}",
                files_removed=[],
            )
        removed = source.delete(entry)
        return schemas.LogDeleteResponse(
            deleted=True, message=f"Deleted the log of {deployment_id}", files_removed=removed
        )

    def cleanup(
        self,
        principal: Principal,
        days_old: int,
        deployment_type: str | None = None,
        dry_run: bool = True,
    ) -> schemas.CleanupResult:
        """Remove logs last written more than `days_old` days ago (running ones are kept)."""
        if not principal.is_admin:
            raise Forbidden("Admin privileges required")
        self._check_type(deployment_type)
        cutoff = datetime.now(UTC) - timedelta(days=days_old)
        old = [
            (s, e) for s, e in self._entries(principal, deployment_type) if e.modified_at < cutoff
        ]
        skipped = sum(1 for _, e in old if e.active)
        cleaned: list[schemas.CleanedLog] = []
        errors: list[str] = []
        for source, entry in old:
            if entry.active:
                continue
            if not dry_run:
                try:
                    source.delete(entry)
                except Exception as exc:
                    errors.append(f"{entry.deployment_type}/{entry.deployment_id}: {exc}")
                    continue
            cleaned.append(
                schemas.CleanedLog(
                    deployment_id=entry.deployment_id,
                    deployment_type=entry.deployment_type,
                    file_path=entry.location,
                    file_size=entry.size,
                    modified_at=entry.modified_at,
                )
            )
        freed = sum(c.file_size for c in cleaned)
        verb = "Would delete" if dry_run else "Deleted"
        message = f"{verb} {len(cleaned)} log(s), {freed} bytes, older than {days_old} day(s)"
        if skipped:
            message += f"; kept {skipped} of running deployments"
        if errors:
            message += f"; {len(errors)} failed"
        return schemas.CleanupResult(
            dry_run=dry_run,
            days_old=days_old,
            cutoff=cutoff,
            deployment_type=deployment_type,
            deleted_count=0 if dry_run else len(cleaned),
            matched_count=len(old),
            freed_bytes=freed,
            skipped_active=skipped,
            logs=cleaned,
            errors=errors,
            message=message,
        )
