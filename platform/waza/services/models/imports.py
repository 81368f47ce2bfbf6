"""Models from files already on the server (imported in place) or uploaded over HTTP.

Import: admins may name any readable path; other users only paths inside their data folders
(`settings.data_roots`, or ``$WAZA_HOME/data`` and ``$WAZA_HOME/users/<name>``), the same rule as
ingestion. Files are not copied, and deleting the model leaves them alone.

Upload: files are written to a temporary folder, moved to ``models_dir/uploads/<model id>/`` and
only then recorded; any failure removes them again. A single uploaded file (e.g. a ``.gguf``) is
the model's path; several files make a folder (their names may hold sub-folders).
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from waza.errors import BadRequest, InsufficientStorage
from waza.gateway.principal import Principal
from waza.services.ingestion.paths import allowed_roots, resolve_path
from waza.services.models import schemas, storage

if TYPE_CHECKING:
    from waza.services.models.service import ModelService

MAX_UPLOAD_FILES = 1000


def _fields(meta: schemas.ImportModel, default_name: str) -> dict[str, Any]:
    return {
        "name": (meta.name or "").strip() or default_name,
        "purpose": meta.purpose,
        "modelfamily": meta.modelfamily,
        "description": meta.description,
        "private": meta.private,
    }


def import_model(
    svc: ModelService, principal: Principal, body: schemas.ImportModel
) -> schemas.Model:
    """Register a folder or file on the server as a model, in place."""
    path = resolve_path(svc.settings, principal, body.path)
    allowed = None if principal.is_admin else allowed_roots(svc.settings, principal)
    found = storage.walk_model(path, allowed)
    model_id = svc.register(
        owner_id=principal.user_id,
        source="import",
        local_path=path,
        repo_model_id=body.repo_modelId,
        files=[storage.NewFile(name=n, path=p, size=size) for n, p, size in found],
        config={"config": dict(body.config or {})},
        **_fields(body, path.name),
    )
    return svc.get_model(principal, model_id)


def upload_model(
    svc: ModelService,
    principal: Principal,
    uploads: list[tuple[str | None, BinaryIO]],
    meta: schemas.ImportModel,
) -> schemas.Model:
    """Store uploaded files under ``uploads/<model id>/`` and register them as a model."""
    if not uploads:
        raise BadRequest("upload at least one file (multipart field 'files')")
    if len(uploads) > MAX_UPLOAD_FILES:
        raise BadRequest(f"at most {MAX_UPLOAD_FILES} files per upload")
    names = [storage.safe_relative(name) for name, _ in uploads]
    if len(set(names)) != len(names):
        raise BadRequest("two uploaded files have the same name")
    model_id = uuid.uuid4()
    root = storage.uploads_dir(svc.settings)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".tmp-{model_id.hex}"
    final = root / str(model_id)
    try:
        sizes = []
        for name, (_, stream) in zip(names, uploads, strict=True):
            dest = staging / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            with dest.open("wb") as out:
                shutil.copyfileobj(stream, out, 1024 * 1024)
            sizes.append(dest.stat().st_size)
        os.replace(staging, final)
        local = final / names[0] if len(names) == 1 else final
        default_name = Path(names[0]).name if len(names) == 1 else f"upload-{model_id.hex[:8]}"
        svc.register(
            model_id=model_id,
            owner_id=principal.user_id,
            source="upload",
            local_path=local,
            repo_model_id=meta.repo_modelId,
            files=[
                storage.NewFile(name=n, path=final / n, size=size)
                for n, size in zip(names, sizes, strict=True)
            ],
            config={"config": dict(meta.config or {})},
            **_fields(meta, default_name),
        )
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorage(
                f"No space left for the upload in {root}: nothing was kept; free some space "
                "or set WAZA_MODELS_DIR to a larger disk"
            ) from exc
        raise
    return svc.get_model(principal, model_id)
