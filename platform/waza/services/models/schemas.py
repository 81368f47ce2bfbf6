"""Request and response bodies of the model repository (digest §4, kamiwaza-sdk 1.3 wire format).

Field names follow the Kamiwaza API exactly (``repo_modelId``, ``m_id``, ``m_files`` ...). A model
file names its model in both ``model_id`` and ``m_id`` (the SDK reads ``model_id``; older clients
``m_id``). Extra fields waza adds (``owner_id``, ``source``, ``local_path``, ``download_error`` ...)
are ignored by the SDK.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from waza.gateway.bounds import MAX_BIGINT

HUB_HF = "HubsHf"


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---- model files ------------------------------------------------------------------------------
class CreateModelFile(_Body):
    """`POST /model_files/`: a file record (the SDK sends no model id; waza accepts one)."""

    name: str = Field(min_length=1, max_length=1024)
    size: int | None = Field(None, ge=0, le=MAX_BIGINT)
    storage_type: str | None = Field(None, max_length=32)
    storage_host: str | None = Field("localhost", max_length=256)
    storage_location: str | None = Field(None, max_length=4096)
    model_id: uuid.UUID | None = Field(
        None, validation_alias=AliasChoices("model_id", "m_id"), description="Attach to a model."
    )
    hub: str | None = Field(None, max_length=64)
    checksum: str | None = Field(None, max_length=128)
    checksum_type: str | None = Field(None, max_length=32)


class ModelFile(BaseModel):
    """A model file with its download state (``storage_location`` set = on disk)."""

    id: uuid.UUID | None = None
    name: str
    size: int | None = None
    storage_type: str | None = None
    storage_host: str | None = None
    storage_location: str | None = None
    hub: str | None = None
    model_id: uuid.UUID | None = None
    m_id: uuid.UUID | None = None
    checksum: str | None = None
    checksum_type: str | None = None
    created_timestamp: datetime | None = None
    is_downloading: bool | None = None
    download: bool | None = None
    dl_requested_at: datetime | None = None
    download_pid: int | None = None
    download_node: str | None = None
    download_percentage: int | None = None
    download_elapsed: str | None = None
    download_remaining: str | None = None
    download_throughput: str | None = None
    download_cancelled_at: datetime | None = None
    downloaded_bytes: int | None = None
    download_error: str | None = None
    owner_id: uuid.UUID | None = None


class ModelDownloadStatus(BaseModel):
    """One file's download progress (`GET /model_files/download_status/`).

    ``download_elapsed`` / ``download_remaining`` are ``[H:]MM:SS``, ``download_throughput`` is
    human readable; ``download_speed`` (bytes/s) and ``download_eta`` (s) are the raw numbers.
    """

    id: uuid.UUID
    m_id: uuid.UUID
    name: str
    download: bool
    is_downloading: bool
    storage_location: str | None = None
    download_node: str | None = None
    download_percentage: int | None = None
    download_elapsed: str | None = None
    download_remaining: str | None = None
    download_throughput: str | None = None
    dl_requested_at: datetime | None = None
    download_pid: int | None = None
    download_cancelled_at: datetime | None = None
    download_speed: float | None = None
    download_eta: int | None = None
    downloaded_bytes: int | None = None
    size: int | None = None
    download_error: str | None = None


# ---- configs ----------------------------------------------------------------------------------
class CreateModelConfig(_Body):
    """`POST /model_configs/` and the body of `PUT /model_configs/{id}`."""

    m_id: uuid.UUID
    m_file_id: uuid.UUID | None = None
    name: str | None = Field(None, max_length=512)
    default: bool = False
    description: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    system_config: dict[str, Any] = Field(default_factory=dict)


class ModelConfig(BaseModel):
    """A serving configuration: ``config`` holds engine options (e.g. ``{"engine": ...}``)."""

    id: uuid.UUID
    m_id: uuid.UUID
    m_file_id: uuid.UUID | None = None
    name: str | None = None
    default: bool
    description: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    system_config: dict[str, Any] = Field(default_factory=dict)
    kamiwaza_version: str | None = None
    created_at: datetime
    modified_at: datetime | None = None


# ---- models -----------------------------------------------------------------------------------
class CreateModel(_Body):
    """`POST /models/`: register a model (files optional; ``default_config`` makes a config)."""

    name: str = Field(min_length=1, max_length=512)
    repo_modelId: str | None = Field(None, max_length=512)
    modelfamily: str | None = Field(None, max_length=256)
    purpose: str | None = Field(None, max_length=256)
    version: str | None = Field(None, max_length=256)
    author: str | None = Field(None, max_length=256)
    source_repository: str | None = Field(None, max_length=2048)
    sha_repository: str | None = Field(None, max_length=128)
    hub: str | None = Field(None, max_length=64)
    description: str | None = None
    quantization_details: str | None = None
    private: bool | None = None
    m_files: list[CreateModelFile] = Field(default_factory=list)
    modelcard: str | None = None
    default_config: dict[str, Any] | None = None


class Model(BaseModel):
    """A model; ``m_files`` is empty in lists unless ``load_files=True``."""

    id: uuid.UUID | None = None
    name: str
    repo_modelId: str | None = None
    modelfamily: str | None = None
    purpose: str | None = None
    version: str | None = None
    author: str | None = None
    source_repository: str | None = None
    sha_repository: str | None = None
    hub: str | None = None
    description: str | None = None
    quantization_details: str | None = None
    private: bool | None = None
    m_files: list[ModelFile] = Field(default_factory=list)
    modelcard: str | None = None
    default_config: dict[str, Any] | None = None
    created_timestamp: datetime | None = None
    modified_timestamp: datetime | None = None
    files_being_downloaded: list[ModelFile] = Field(default_factory=list)
    available_quantizations: list[str] = Field(default_factory=list)
    owner_id: uuid.UUID | None = None
    source: str | None = Field(
        None, description="hub, import, upload, builtin or registered (no local files yet)"
    )
    local_path: str | None = Field(None, description="The folder or file serving loads.")


class ModelDeleted(BaseModel):
    result: bool = True
    message: str
    id: uuid.UUID


# ---- search -----------------------------------------------------------------------------------
class ModelSearchRequest(_Body):
    """`POST /models/search/`: the local registry always; the Hub when listed (``*`` = all)."""

    query: str = Field(max_length=512)
    hubs_to_search: list[str] | None = None
    exact: bool | None = False
    limit: int | None = Field(100, ge=1, le=1000)


class ModelSearchResult(BaseModel):
    id: uuid.UUID | None = None
    model: Model


class ModelSearchResponse(BaseModel):
    results: list[ModelSearchResult]
    total_results: int
    errors: list[str] = Field(
        default_factory=list, description="Hubs that could not be searched, and why."
    )


class HubModelFileSearch(_Body):
    """`POST /model_files/search/`: the files of a hub repo (with local state when registered)."""

    hub: str = Field(max_length=64)
    model: str = Field(min_length=1, max_length=512)
    version: str | None = Field(None, max_length=256)


# ---- downloads --------------------------------------------------------------------------------
class ModelDownloadRequest(_Body):
    """`POST /models/download/`: fetch files of a hub repo in the background."""

    model: str = Field(min_length=1, max_length=512, description="The repo id, e.g. org/name.")
    version: str | None = Field(None, max_length=256, description="Branch, tag or commit.")
    hub: str | None = Field(None, max_length=64)
    files_to_download: list[str] | None = Field(None, description="Default: every file.")
    deploy_after_download: bool | None = Field(
        None, description="Accepted; waza never deploys by itself (use /serving/deploy_model)."
    )
    novice_selected_context: int | None = None


class DownloadResult(BaseModel):
    """What `POST /models/download/` started."""

    result: bool
    message: str
    model_id: uuid.UUID
    files: list[uuid.UUID] = Field(description="Files being downloaded now.")
    already_downloaded: list[uuid.UUID] = Field(default_factory=list)
    in_progress: list[uuid.UUID] = Field(
        default_factory=list, description="Files an earlier request is still downloading."
    )


class DownloadCancelResult(BaseModel):
    result: bool
    message: str
    file_id: str
    cancelled_at: datetime | None = None


class BulkDownloadCancelResult(BaseModel):
    result: bool
    message: str
    total_downloads: int
    cancelled_count: int
    failed_count: int
    cancelled_files: list[str] = Field(default_factory=list)
    failed_files: list[str] = Field(default_factory=list)
    cancelled_at: datetime | None = None


# ---- import and built-ins ---------------------------------------------------------------------
class ImportModel(_Body):
    """`POST /models/import`: register a folder or file already on the server (not copied)."""

    path: str = Field(min_length=1, max_length=4096)
    name: str | None = Field(None, max_length=512, description="Default: the folder/file name.")
    repo_modelId: str | None = Field(None, max_length=512)
    purpose: str | None = Field(None, max_length=256)
    modelfamily: str | None = Field(None, max_length=256)
    description: str | None = None
    private: bool = False
    config: dict[str, Any] | None = Field(
        None, description='The default config, e.g. {"engine": "llamacpp"}; default {}.'
    )


class BuiltinModel(BaseModel):
    """A built-in model: whether its files are here, and its registered model if any."""

    key: str
    name: str
    repo_modelId: str
    purpose: str
    description: str
    config: dict[str, Any]
    installed: bool = Field(description="Its files are here (or can be built here).")
    needs_build: bool = Field(description="Registering it builds the files first.")
    registered: bool
    model_id: uuid.UUID | None = None
    path: str | None = None
    reason: str | None = Field(None, description="Why it is not installed.")


class ModelVariant(BaseModel):
    platform: str | list[str]
    variant_repo: str
    variant_type: str
    minimum_vram: int
    recommended_vram: int | None = None
    recommended_file: str | None = None
    speed_rating: str | None = None
    notes: str | None = None


class ModelGuide(BaseModel):
    """A guide entry (``GET /guide/``): waza lists its built-in models."""

    id: str
    base_model_id: str
    name: str
    producer: str
    context_length: str
    use_case: str | list[str]
    size_category: str
    quality_overall: str
    description: str | None = None
    kamiwaza_notes: str | None = None
    guide_version: str | None = None
    variants: list[ModelVariant] = Field(default_factory=list)
