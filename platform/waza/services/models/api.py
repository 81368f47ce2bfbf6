"""Routes of the model repository (digest §4): `/models`, `/model_files`, `/model_configs`,
`/guide`, plus waza's import, upload and built-in routes.

Static paths are declared before `/models/{model_id}` so that e.g. `/models/builtin` is never
read as a model id. Every route needs a logged-in user; searches may use a read-scope token.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile

from waza.errors import BadRequest
from waza.gateway.deps import AdminUser, Context, CurrentUser, ReaderUser
from waza.gateway.openapi import error_responses
from waza.services.models import schemas

READ = error_responses(401, 403, 404)
WRITE = error_responses(400, 401, 403, 404, 409, 422)
HUB = error_responses(400, 401, 403, 404, 422, 503)

models = APIRouter(prefix="/models", tags=["models"])
files = APIRouter(prefix="/model_files", tags=["models"])
configs = APIRouter(prefix="/model_configs", tags=["models"])
guide = APIRouter(prefix="/guide", tags=["models"])


# ---- models: collection and static paths ------------------------------------------------------
@models.get("/", response_model=list[schemas.Model], responses=READ)
@models.get("", include_in_schema=False)
def list_models(ctx: Context, user: CurrentUser, load_files: bool = False) -> list[schemas.Model]:
    """Models you may see (private ones only your own; admins: all), oldest first."""
    return ctx.models.list_models(user, load_files)


@models.post("/", response_model=schemas.Model, responses=WRITE)
@models.post("", include_in_schema=False)
def create_model(
    ctx: Context,
    user: CurrentUser,
    body: schemas.CreateModel,
    force_replace_credentials: bool = False,
) -> schemas.Model:
    """Register a model (nothing is downloaded); ``default_config`` becomes its default config.

    External endpoints (`register_external_model`) are recorded, but inline credentials are
    dropped, never stored: waza does not serve external endpoints.
    """
    return ctx.models.create_model(user, body)


@models.post("/search/", response_model=schemas.ModelSearchResponse, responses=HUB)
@models.post("/search", include_in_schema=False)
def search_models(
    ctx: Context, user: ReaderUser, body: schemas.ModelSearchRequest
) -> schemas.ModelSearchResponse:
    """Search the local registry and (``hubs_to_search`` ``*`` or ``HubsHf``) the Hub.

    With ``*`` an unreachable Hub only adds an entry to ``errors``; naming ``HubsHf`` alone
    makes it a 503.
    """
    return ctx.models.search(user, body)


@models.post("/download/", response_model=schemas.DownloadResult, responses=HUB)
@models.post("/download", include_in_schema=False)
def download_model(
    ctx: Context, user: CurrentUser, body: schemas.ModelDownloadRequest
) -> schemas.DownloadResult:
    """Download files of a Hub repo in the background (poll `/model_files/download_status/`).

    Files already in the shared cache complete at once, without the Hub.
    """
    return ctx.models.download(user, body)


@models.post("/download_and_deploy", response_model=schemas.DownloadResult, responses=HUB)
def download_and_deploy(
    ctx: Context, user: CurrentUser, body: schemas.ModelDownloadRequest
) -> schemas.DownloadResult:
    """Start the download; waza does not deploy by itself: deploy with `/serving/deploy_model`."""
    result = ctx.models.download(user, body)
    result.message += "; deploy with POST /api/serving/deploy_model when it completes"
    return result


@models.post("/deploy_after_download/{model_key:path}", responses=READ)
def deploy_after_download(
    ctx: Context, user: CurrentUser, model_key: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Whether a model's downloads are complete (waza never deploys by itself)."""
    found = ctx.models.find(user, model_key)
    statuses = ctx.models.download_status(user, [found.id]) if found.id else []
    ready = bool(statuses) and all(s.download and not s.is_downloading for s in statuses)
    return {
        "model_id": str(found.id),
        "ready": ready,
        "deployed": False,
        "message": "deploy with POST /api/serving/deploy_model"
        if ready
        else "downloads are not complete",
    }


@models.get("/pending_deployments", responses=READ)
def pending_deployments(ctx: Context, user: CurrentUser) -> dict[str, Any]:
    """Models being downloaded (waza keeps no deploy-after-download flags)."""
    return ctx.models.pending_deployments(user)


@models.post("/cleanup_stale_deployments", responses=READ)
def cleanup_stale_deployments(ctx: Context, user: CurrentUser) -> dict[str, Any]:
    """Nothing to clean: waza keeps no deploy-after-download flags."""
    return {
        "cleaned_count": 0,
        "cleaned_flags": [],
        "message": "waza keeps no deploy-after-download flags; nothing to clean",
    }


@models.post("/import", response_model=schemas.Model, responses=WRITE)
def import_model(ctx: Context, user: CurrentUser, body: schemas.ImportModel) -> schemas.Model:
    """Register a folder or file on the server as a model, in place (not copied).

    Non-admins may import only from their data folders (as for ingestion).
    """
    return ctx.models.import_model(user, body)


@models.post("/upload", response_model=schemas.Model, responses=error_responses(400, 401, 413, 507))
def upload_model(
    ctx: Context,
    user: CurrentUser,
    files: Annotated[list[UploadFile], File(description="The model's files.")],
    # the limits of schemas.ImportModel, so that a bad field is a 422 naming it
    name: Annotated[str | None, Form(max_length=512)] = None,
    purpose: Annotated[str | None, Form(max_length=256)] = None,
    description: Annotated[str | None, Form()] = None,
    modelfamily: Annotated[str | None, Form(max_length=256)] = None,
    repo_modelId: Annotated[str | None, Form(max_length=512)] = None,
    private: Annotated[bool, Form()] = False,
    config: Annotated[str | None, Form(description="The default config, as JSON.")] = None,
) -> schemas.Model:
    """Upload a model's files (stored under ``models_dir/uploads/<model id>/``)."""
    try:
        parsed = json.loads(config) if config else None
    except ValueError as exc:
        raise BadRequest(f"config is not JSON: {exc}") from exc
    if parsed is not None and not isinstance(parsed, dict):
        raise BadRequest("config must be a JSON object")
    meta = schemas.ImportModel(
        path="upload",
        name=name,
        purpose=purpose,
        description=description,
        modelfamily=modelfamily,
        repo_modelId=repo_modelId,
        private=private,
        config=parsed,
    )
    return ctx.models.upload_model(user, [(f.filename, f.file) for f in files], meta)


@models.get("/builtin", response_model=list[schemas.BuiltinModel], responses=READ)
def list_builtins(ctx: Context, user: CurrentUser) -> list[schemas.BuiltinModel]:
    """The built-in models: installed here or not, registered or not."""
    return ctx.models.list_builtins()


@models.post("/builtin/{key}", response_model=schemas.Model, responses=WRITE)
def add_builtin(ctx: Context, user: AdminUser, key: str) -> schemas.Model:
    """Register a built-in model (the tiny one is built first, in seconds); idempotent."""
    return ctx.models.add_builtin(key)


# ---- models: one model ------------------------------------------------------------------------
@models.get("/{model_id}", response_model=schemas.Model, responses=READ)
def get_model(ctx: Context, user: CurrentUser, model_id: uuid.UUID) -> schemas.Model:
    """One model with its files and default config."""
    return ctx.models.get_model(user, model_id)


@models.delete("/{model_id}", response_model=schemas.ModelDeleted, responses=WRITE)
def delete_model(ctx: Context, user: CurrentUser, model_id: uuid.UUID) -> schemas.ModelDeleted:
    """Delete a model with its configs and files (downloaded and uploaded files leave the disk;
    imported and built-in files stay)."""
    return ctx.models.delete_model(user, model_id)


@models.get("/{model_id}/configs", response_model=list[schemas.ModelConfig], responses=READ)
def model_configs(
    ctx: Context, user: CurrentUser, model_id: uuid.UUID, default: bool = False
) -> list[schemas.ModelConfig]:
    """The model's configs (only the default one with ``default=True``)."""
    return ctx.models.list_configs(user, model_id, default_only=default)


@models.get("/{model_id}/memory_usage", response_model=int, responses=READ)
def model_memory_usage(ctx: Context, user: CurrentUser, model_id: uuid.UUID) -> int:
    """Bytes of the model's files on disk (a bare integer)."""
    return ctx.models.memory_usage(user, model_id)


@models.get("/{model_id}/deployment_info", responses=READ)
def deployment_info(ctx: Context, user: CurrentUser, model_id: uuid.UUID) -> dict[str, Any]:
    """Whether the model is deployed, with its deployments."""
    return ctx.models.deployment_info(user, model_id)


# ---- model files ------------------------------------------------------------------------------
@files.get("/", response_model=list[schemas.ModelFile], responses=READ)
@files.get("", include_in_schema=False)
def list_files(ctx: Context, user: CurrentUser) -> list[schemas.ModelFile]:
    """Files of the models you may see, and your own free-standing files."""
    return ctx.models.list_files(user)


@files.post("/", response_model=schemas.ModelFile, responses=WRITE)
@files.post("", include_in_schema=False)
def create_file(
    ctx: Context, user: CurrentUser, body: schemas.CreateModelFile
) -> schemas.ModelFile:
    """Record a file (optionally attached to ``model_id``)."""
    return ctx.models.create_file(user, body)


@files.post("/search/", response_model=list[schemas.ModelFile], responses=HUB)
@files.post("/search", include_in_schema=False)
def search_hub_files(
    ctx: Context, user: ReaderUser, body: schemas.HubModelFileSearch
) -> list[schemas.ModelFile]:
    """A Hub repo's files, with their local download state when the repo is registered."""
    return ctx.models.hub_files(user, body)


@files.get("/download_status/", response_model=list[schemas.ModelDownloadStatus], responses=READ)
@files.get("/download_status", include_in_schema=False)
def download_status(
    ctx: Context,
    user: CurrentUser,
    model_ids: Annotated[list[uuid.UUID] | None, Query()] = None,
) -> list[schemas.ModelDownloadStatus]:
    """Download progress of the files of ``model_ids`` (default: every model you may see)."""
    return ctx.models.download_status(user, model_ids)


@files.delete(
    "/downloads/cancel_all", response_model=schemas.BulkDownloadCancelResult, responses=WRITE
)
def cancel_all_downloads(
    ctx: Context, user: CurrentUser, model_id: uuid.UUID | None = None
) -> schemas.BulkDownloadCancelResult:
    """Stop every download you may stop (of one model with ``model_id``)."""
    return ctx.models.cancel_all_downloads(user, model_id)


@files.get("/{model_file_id}", response_model=schemas.ModelFile, responses=READ)
def get_file(ctx: Context, user: CurrentUser, model_file_id: uuid.UUID) -> schemas.ModelFile:
    return ctx.models.get_file(user, model_file_id)


@files.delete("/{model_file_id}", responses=WRITE)
def delete_file(ctx: Context, user: CurrentUser, model_file_id: uuid.UUID) -> dict[str, Any]:
    """Delete a file record (a downloaded or uploaded file leaves the disk)."""
    return ctx.models.delete_file(user, model_file_id)


@files.get("/{model_file_id}/memory_usage", response_model=int, responses=READ)
def file_memory_usage(ctx: Context, user: CurrentUser, model_file_id: uuid.UUID) -> int:
    """Bytes of the file on disk (a bare integer)."""
    return ctx.models.file_memory_usage(user, model_file_id)


@files.delete(
    "/{model_file_id}/download", response_model=schemas.DownloadCancelResult, responses=WRITE
)
def cancel_download(
    ctx: Context, user: CurrentUser, model_file_id: uuid.UUID
) -> schemas.DownloadCancelResult:
    """Stop a file's download; its partial data is removed."""
    return ctx.models.cancel_download(user, model_file_id)


# ---- model configs ----------------------------------------------------------------------------
@configs.get("/", response_model=list[schemas.ModelConfig], responses=READ)
@configs.get("", include_in_schema=False)
def list_configs(ctx: Context, user: CurrentUser, model_id: uuid.UUID) -> list[schemas.ModelConfig]:
    """The configs of a model."""
    return ctx.models.list_configs(user, model_id)


@configs.post("/", response_model=schemas.ModelConfig, responses=WRITE)
@configs.post("", include_in_schema=False)
def create_config(
    ctx: Context, user: CurrentUser, body: schemas.CreateModelConfig
) -> schemas.ModelConfig:
    """Add a config to a model (owner or admin); a default config replaces the old default."""
    return ctx.models.create_config(user, body)


@configs.get("/{model_config_id}", response_model=schemas.ModelConfig, responses=READ)
def get_config(ctx: Context, user: CurrentUser, model_config_id: uuid.UUID) -> schemas.ModelConfig:
    return ctx.models.get_config(user, model_config_id)


@configs.put("/{model_config_id}", response_model=schemas.ModelConfig, responses=WRITE)
def update_config(
    ctx: Context, user: CurrentUser, model_config_id: uuid.UUID, body: schemas.CreateModelConfig
) -> schemas.ModelConfig:
    """Replace a config's fields (its model stays the same)."""
    return ctx.models.update_config(user, model_config_id, body)


@configs.delete("/{model_config_id}", responses=WRITE)
def delete_config(ctx: Context, user: CurrentUser, model_config_id: uuid.UUID) -> dict[str, Any]:
    return ctx.models.delete_config(user, model_config_id)


# ---- guide ------------------------------------------------------------------------------------
@guide.get("/", response_model=list[schemas.ModelGuide], responses=READ)
@guide.get("", include_in_schema=False)
def list_guides(ctx: Context, user: CurrentUser) -> list[schemas.ModelGuide]:
    """Guide entries: waza's built-in models, which run on a CPU."""
    return ctx.models.guide()


@guide.post("/import", responses=READ)
def import_guides(ctx: Context, user: CurrentUser, replace: bool = False) -> dict[str, Any]:
    """The guide is waza's built-in list: always current, nothing to import."""
    count = len(ctx.models.guide())
    return {"result": True, "imported": 0, "total": count, "message": "the guide is built in"}


@guide.post("/refresh", responses=READ)
def refresh_guides(ctx: Context, user: CurrentUser) -> dict[str, Any]:
    """The guide is waza's built-in list: nothing is fetched."""
    count = len(ctx.models.guide())
    return {"result": True, "updated": 0, "total": count, "message": "the guide is built in"}


router = APIRouter()
router.include_router(models)
router.include_router(files)
router.include_router(configs)
router.include_router(guide)
