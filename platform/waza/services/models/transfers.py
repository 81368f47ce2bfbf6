"""Search (local registry + Hub), Hub file listings, downloads and their status and cancels.

A download targets the oldest model the caller can see with that ``repo_modelId`` that came from
the Hub (or was registered for it with ``POST /models/``), the one the kamiwaza-sdk's
`get_model_by_repo_id` finds; otherwise it creates one (owned by the caller, not private).
Files already in the shared cache are recorded at once, without asking the Hub; when every
requested file is local the request completes offline.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import Session

import waza
from waza.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable
from waza.gateway.principal import Principal
from waza.services.models import schemas, views
from waza.services.models.downloads import (
    HOST,
    FileTask,
    mark_cancelled,
    mark_downloaded,
    now,
    snapshot_folder,
)
from waza.services.models.hub import HUB_HF, HubRepo, check_repo_id, normalize_hub
from waza.services.models.models import DBModel, DBModelConfig, DBModelFile

if TYPE_CHECKING:
    from waza.services.models.service import ModelService

LOCAL_HUBS = {"local", "waza"}


def _check_hub(hub: str | None) -> None:
    name = normalize_hub(hub) or HUB_HF
    if name != HUB_HF:
        raise BadRequest(
            f"unknown hub {hub!r}: waza downloads from the Hugging Face Hub ('HubsHf')"
        )


# ---- search -----------------------------------------------------------------------------------
def _hub_result(item: dict[str, Any]) -> schemas.Model | None:
    repo = item.get("id") or item.get("modelId")
    if not isinstance(repo, str) or not repo:
        return None
    return schemas.Model(
        name=repo,
        repo_modelId=repo,
        hub=HUB_HF,
        author=item.get("author") or (repo.split("/")[0] if "/" in repo else None),
        purpose=item.get("pipeline_tag"),
        private=bool(item.get("private", False)),
    )


def _hub_items(svc: ModelService, query: str, exact: bool, limit: int) -> list[dict[str, Any]]:
    if not exact:
        return svc.hub.search(query, limit)
    try:
        found = svc.hub.repo(query)
    except (NotFound, Forbidden, BadRequest):
        return []
    return [{"id": found.repo_id, "author": found.author, "pipeline_tag": found.pipeline_tag}]


def search(
    svc: ModelService, principal: Principal, body: schemas.ModelSearchRequest
) -> schemas.ModelSearchResponse:
    """Local models first, then Hub repos not registered here (deduplicated by repo id)."""
    query, limit, exact = body.query.strip(), body.limit or 100, bool(body.exact)
    hubs = body.hubs_to_search or ["*"]
    everything = "*" in hubs
    named = {normalize_hub(h) for h in hubs if h != "*"}
    errors = [
        f"unknown hub {h!r}; waza knows HubsHf and the local registry"
        for h in sorted(n for n in named if n and n != HUB_HF and n.lower() not in LOCAL_HUBS)
    ]
    with svc.db.session() as s:
        conditions = []
        if query and exact:
            q = query.lower()
            conditions.append(
                or_(func.lower(DBModel.name) == q, func.lower(DBModel.repo_model_id) == q)
            )
        elif query:
            conditions.append(
                or_(
                    DBModel.name.icontains(query, autoescape=True),
                    DBModel.repo_model_id.icontains(query, autoescape=True),
                )
            )
        local = svc.out(s, svc.visible_models(s, principal, *conditions)[:limit])
    results = [schemas.ModelSearchResult(id=m.id, model=m) for m in local]
    seen = {m.repo_modelId for m in local if m.repo_modelId}
    if (everything or HUB_HF in named) and len(results) < limit:
        try:
            items = _hub_items(svc, query, exact, limit) if query or not exact else []
        except ServiceUnavailable as exc:
            if not everything:
                raise
            errors.append(str(exc.detail))
            items = []
        for item in items:
            model = _hub_result(item)
            if model is None or model.repo_modelId in seen or len(results) >= limit:
                continue
            seen.add(model.repo_modelId or "")
            results.append(schemas.ModelSearchResult(id=None, model=model))
    return schemas.ModelSearchResponse(results=results, total_results=len(results), errors=errors)


# ---- the model a repo's files belong to -------------------------------------------------------
def target(svc: ModelService, s: Session, principal: Principal, repo: str) -> DBModel | None:
    found = svc.visible_models(
        s,
        principal,
        DBModel.repo_model_id == repo,
        DBModel.source.in_(["hub", "registered"]),
    )
    return found[0] if found else None


def hub_files(
    svc: ModelService, principal: Principal, body: schemas.HubModelFileSearch
) -> list[schemas.ModelFile]:
    """A repo's files on the Hub, each with its local state when this repo is registered here.

    With the Hub unreachable, a registered repo answers with its local files.
    """
    _check_hub(body.hub)
    repo = check_repo_id(body.model)
    with svc.db.session() as s:
        model = target(svc, s, principal, repo)
        local = svc.files_of(s, [model.id])[model.id] if model is not None else []
    try:
        info = svc.hub.repo(repo, body.version)
    except ServiceUnavailable:
        if local:
            return [views.file_out(r) for r in local]
        raise
    by_name = {r.name: r for r in local}
    return [
        views.file_out(by_name[f.name])
        if f.name in by_name
        else schemas.ModelFile(
            name=f.name,
            size=f.size,
            hub=HUB_HF,
            checksum=f.checksum,
            checksum_type=f.checksum_type,
        )
        for f in info.files
    ]


# ---- downloads --------------------------------------------------------------------------------
def _new_model(
    svc: ModelService, s: Session, principal: Principal, repo: str, info: HubRepo | None
) -> DBModel:
    model = DBModel(
        name=repo,
        repo_model_id=repo,
        hub=HUB_HF,
        owner_id=principal.user_id,
        private=False,
        source="hub",
        author=(info.author if info else None) or (repo.split("/")[0] if "/" in repo else None),
        purpose=info.pipeline_tag if info else None,
        source_repository=f"{svc.hub.endpoint}/{repo}",
        sha_repository=info.sha if info else None,
    )
    s.add(model)
    s.flush()
    s.add(
        DBModelConfig(
            m_id=model.id,
            name="default",
            is_default=True,
            config={},
            system_config={},
            kamiwaza_version=waza.__version__,
        )
    )
    return model


def _on_disk(row: DBModelFile) -> bool:
    return (
        bool(row.storage_location)
        and not row.is_downloading
        and Path(row.storage_location or "").is_file()
    )


def _record_cached(
    s: Session, model: DBModel, rows: dict[str, DBModelFile], name: str, path: Path
) -> DBModelFile:
    row = rows.get(name)
    if row is None:
        row = DBModelFile(
            m_id=model.id, owner_id=model.owner_id, name=name, hub=HUB_HF, storage_host="localhost"
        )
        s.add(row)
        rows[name] = row
    mark_downloaded(row, path, path.stat().st_size)
    model.local_path = str(snapshot_folder(path, name))
    model.sha_repository = snapshot_folder(path, name).name
    if model.source == "registered":
        model.source = "hub"
    s.flush()
    return row


def _settle_locally(
    svc: ModelService, principal: Principal, repo: str, wanted: list[str], version: str | None
) -> schemas.DownloadResult | None:
    """Complete the request from local files alone, or None when the Hub is needed."""

    def work(s: Session) -> schemas.DownloadResult | None:
        model = target(svc, s, principal, repo)
        rows = {r.name: r for r in svc.files_of(s, [model.id])[model.id]} if model else {}
        svc.downloads.reap(s, list(rows.values()))
        already, running, cached = [], [], []
        for name in wanted:
            row = rows.get(name)
            if row is not None and _on_disk(row):
                already.append(row)
            elif row is not None and row.is_downloading:
                running.append(row)
            else:
                path = svc.hub.cached_file(repo, name, version)
                if path is None:
                    return None
                cached.append((name, path))
        if model is None:
            model = _new_model(svc, s, principal, repo, None)
        for name, path in cached:
            already.append(_record_cached(s, model, rows, name, path))
        return schemas.DownloadResult(
            result=True,
            message="Files already downloaded"
            if not running
            else "Files already downloaded or being downloaded",
            model_id=model.id,
            files=[],
            already_downloaded=[r.id for r in already],
            in_progress=[r.id for r in running],
        )

    return svc.db.transaction(work)


def download(
    svc: ModelService, principal: Principal, body: schemas.ModelDownloadRequest
) -> schemas.DownloadResult:
    """Start downloading files of a Hub repo in the background (default: all its files)."""
    _check_hub(body.hub)
    repo = check_repo_id(body.model)
    wanted = list(dict.fromkeys(n.strip() for n in body.files_to_download or [] if n.strip()))
    with svc.register_lock:
        if wanted:
            settled = _settle_locally(svc, principal, repo, wanted, body.version)
            if settled is not None:
                return settled
        info = svc.hub.repo(repo, body.version)
        on_hub = {f.name: f for f in info.files}
        names = wanted or list(on_hub)
        missing = [n for n in names if n not in on_hub]
        if missing:
            listing = ", ".join(sorted(on_hub)[:20]) or "none"
            raise NotFound(f"{repo} has no file {', '.join(missing)} (its files: {listing})")
        revision = info.sha or body.version or "main"
        if info.sha:
            svc.hub.remember_ref(repo, body.version or "main", info.sha)
        job = uuid.uuid4().hex

        def work(s: Session) -> tuple[uuid.UUID, list[FileTask], list[uuid.UUID], list[uuid.UUID]]:
            model = target(svc, s, principal, repo) or _new_model(svc, s, principal, repo, info)
            rows = {r.name: r for r in svc.files_of(s, [model.id])[model.id]}
            svc.downloads.reap(s, list(rows.values()))
            tasks, already, running = [], [], []
            for name in names:
                row = rows.get(name)
                if row is not None and _on_disk(row):
                    already.append(row.id)
                    continue
                if row is not None and row.is_downloading:
                    running.append(row.id)
                    continue
                cached = svc.hub.cached_file(repo, name, revision)
                if cached is not None:
                    already.append(_record_cached(s, model, rows, name, cached).id)
                    continue
                if row is None:
                    row = DBModelFile(
                        m_id=model.id,
                        owner_id=model.owner_id,
                        name=name,
                        hub=HUB_HF,
                        storage_type="file",
                        storage_host="localhost",
                    )
                    s.add(row)
                hub_file = on_hub[name]
                row.size = hub_file.size
                row.checksum, row.checksum_type = hub_file.checksum, hub_file.checksum_type
                row.storage_location, row.is_downloading, row.download = None, True, True
                row.dl_requested_at, row.download_job = now(), job
                row.download_pid, row.download_node = os.getpid(), HOST
                row.requested_by, row.downloaded_bytes, row.download_speed = (
                    principal.user_id,
                    0,
                    None,
                )
                row.download_started_at = row.download_finished_at = None
                row.download_cancelled_at, row.download_error = None, None
                s.flush()
                tasks.append(FileTask(row.id, name))
            return model.id, tasks, already, running

        model_id, tasks, already, running = svc.db.transaction(work)
        if tasks:
            svc.downloads.start(job, model_id, repo, revision, tasks)
    if tasks:
        message = f"Downloading {len(tasks)} file(s) of {repo}"
    elif running:
        message = "Files already downloaded or being downloaded"
    else:
        message = "Files already downloaded"
    return schemas.DownloadResult(
        result=True,
        message=message,
        model_id=model_id,
        files=[t.file_id for t in tasks],
        already_downloaded=already,
        in_progress=running,
    )


def download_status(
    svc: ModelService, principal: Principal, model_ids: list[uuid.UUID] | None
) -> list[schemas.ModelDownloadStatus]:
    """Files with a download history (requested, running, done, failed or cancelled)."""

    def work(s: Session) -> list[schemas.ModelDownloadStatus]:
        query = (
            select(DBModelFile)
            .join(DBModel, DBModel.id == DBModelFile.m_id)
            .where(DBModelFile.download.is_not(None), svc.visible(principal))
        )
        if model_ids:
            query = query.where(DBModelFile.m_id.in_(model_ids))
        rows = list(s.scalars(query.order_by(DBModel.created_at, DBModelFile.name)))
        svc.downloads.reap(s, rows)
        s.flush()
        return [views.status_out(r) for r in rows]

    return svc.db.transaction(work)


def _may_cancel(principal: Principal, row: DBModelFile, model: DBModel | None) -> bool:
    if principal.is_admin or principal.owns(row.requested_by):
        return True
    return model is not None and principal.can_access(model.owner_id)


def cancel(
    svc: ModelService, principal: Principal, file_id: uuid.UUID
) -> schemas.DownloadCancelResult:
    """Stop one file's download (its partial data is removed)."""

    def work(s: Session) -> tuple[bool, Any, str]:
        row = svc.file_row(principal, s, file_id)
        model = s.get(DBModel, row.m_id) if row.m_id is not None else None
        if not _may_cancel(principal, row, model):
            raise Forbidden(
                f"Only who requested the download of {row.name} (or an admin) may stop it"
            )
        if not row.is_downloading:
            return False, row.download_cancelled_at, row.name
        mark_cancelled(row)
        return True, row.download_cancelled_at, row.name

    done, at, name = svc.db.transaction(work)
    if done:
        svc.downloads.cancel(file_id)
    message = f"Download of {name} cancelled" if done else f"{name} is not being downloaded"
    return schemas.DownloadCancelResult(
        result=done, message=message, file_id=str(file_id), cancelled_at=at
    )


def cancel_all(
    svc: ModelService, principal: Principal, model_id: uuid.UUID | None
) -> schemas.BulkDownloadCancelResult:
    """Stop every download the caller may stop (of one model when given)."""
    if model_id is not None:
        svc.readable_model(principal, model_id)

    def work(s: Session) -> list[tuple[uuid.UUID, bool]]:
        query = (
            select(DBModelFile, DBModel)
            .outerjoin(DBModel, DBModel.id == DBModelFile.m_id)
            .where(DBModelFile.is_downloading == true())
        )
        if model_id is not None:
            query = query.where(DBModelFile.m_id == model_id)
        outcome = []
        for row, model in s.execute(query).tuples():
            if model is not None and not svc.can_read(principal, model):
                continue
            if _may_cancel(principal, row, model):
                mark_cancelled(row)
                outcome.append((row.id, True))
            elif model_id is not None:
                outcome.append((row.id, False))
        return outcome

    outcome = svc.db.transaction(work)
    for file_id, done in outcome:
        if done:
            svc.downloads.cancel(file_id)
    cancelled = [str(f) for f, done in outcome if done]
    failed = [str(f) for f, done in outcome if not done]
    return schemas.BulkDownloadCancelResult(
        result=not failed,
        message=f"Cancelled {len(cancelled)} download(s)"
        + (f"; {len(failed)} belong to other users" if failed else ""),
        total_downloads=len(outcome),
        cancelled_count=len(cancelled),
        failed_count=len(failed),
        cancelled_files=cancelled,
        failed_files=failed,
        cancelled_at=now() if cancelled else None,
    )


def pending(svc: ModelService, principal: Principal) -> dict[str, Any]:
    """Kamiwaza's UI recovery view: waza keeps no deploy-after-download flags."""
    active = [st for st in download_status(svc, principal, None) if st.is_downloading]
    model_ids = sorted({st.m_id for st in active})
    with svc.db.session() as s:
        repos = [
            r.repo_model_id or r.name
            for r in s.scalars(select(DBModel).where(DBModel.id.in_(model_ids)))
        ]
    return {
        "pending_deployments": [],
        "downloading_models": sorted(repos),
        "deployment_flags": {},
        "active_downloads": [st.model_dump(mode="json") for st in active],
        "total_pending": 0,
        "total_downloading": len(repos),
    }
