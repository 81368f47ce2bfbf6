"""Request and response bodies of the App Garden routes (digest §14; `kamiwaza_sdk` reads
`AppTemplate`, `AppDeployment`, `AppInstance`, `ImageStatus`, `ImagePullResult`, `GardenApp`).

`visibility` and `risk_tier` are always sent: the SDK requires them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SourceType = Literal["kamiwaza", "user_repo", "public"]
Visibility = Literal["private", "team", "public"]
TemplateType = Literal["app", "service", "tool"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CreateAppTemplate(_Body):
    name: str = Field(min_length=1, max_length=200)
    version: str = Field(default="1.0.0", min_length=1, max_length=64)
    display_name: str | None = Field(default=None, max_length=200)
    source_type: SourceType = "user_repo"
    visibility: Visibility = "private"
    compose_yml: str = Field(min_length=1, max_length=200_000)
    risk_tier: Literal[0, 1, 2] = 0
    template_type: TemplateType = "app"
    description: str | None = Field(default=None, max_length=20_000)
    env_defaults: dict[str, str] | None = None
    strip_path_prefix: bool | None = None
    category: str | None = None
    tags: list[str] | None = None
    author: str | None = None
    license: str | None = None
    homepage: str | None = None
    capabilities: list[str] | None = None
    required_env_vars: list[str] | None = None
    preview_image: str | None = None


class UpdateAppTemplate(_Body):
    """Partial update: only the fields sent change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    version: str | None = Field(default=None, min_length=1, max_length=64)
    display_name: str | None = None
    source_type: SourceType | None = None
    visibility: Visibility | None = None
    compose_yml: str | None = Field(default=None, min_length=1, max_length=200_000)
    risk_tier: Literal[0, 1, 2] | None = None
    template_type: TemplateType | None = None
    description: str | None = None
    env_defaults: dict[str, str] | None = None
    strip_path_prefix: bool | None = None
    category: str | None = None
    tags: list[str] | None = None
    author: str | None = None
    license: str | None = None
    homepage: str | None = None
    capabilities: list[str] | None = None
    required_env_vars: list[str] | None = None
    preview_image: str | None = None


META_FIELDS = (
    "category", "tags", "author", "license", "homepage", "capabilities", "required_env_vars",
    "preview_image",
)  # fmt: skip


class AppTemplate(BaseModel):
    id: uuid.UUID
    name: str
    version: str
    display_name: str | None = None
    source_type: SourceType
    visibility: Visibility
    compose_yml: str
    risk_tier: int
    template_type: str = "app"
    verified: bool = False
    builtin: bool = False
    strip_path_prefix: bool | None = None
    description: str | None = None
    owner_id: uuid.UUID | None = None
    env_defaults: dict[str, str] = {}
    category: str | None = None
    tags: list[str] | None = None
    author: str | None = None
    license: str | None = None
    homepage: str | None = None
    capabilities: list[str] | None = None
    required_env_vars: list[str] | None = None
    preview_image: str | None = None
    created_at: datetime
    updated_at: datetime | None = None


class CreateAppDeployment(_Body):
    name: str = Field(min_length=1, max_length=200)
    template_id: uuid.UUID | None = None
    min_copies: int = Field(default=1, ge=0, le=1)
    starting_copies: int = Field(default=1, ge=0, le=1)
    max_copies: int | None = Field(default=None, ge=1, le=1)
    env_vars: dict[str, str] | None = None
    preferred_model_name: str | None = Field(
        default=None, description="A model deployment for the app (id or model name)."
    )
    ephemeral: bool = Field(
        default=False,
        description="Tie the app to a session: it ends when the session ends or stops beating.",
    )


class AppInstance(BaseModel):
    id: uuid.UUID
    deployment_id: uuid.UUID
    deployed_at: datetime
    container_id: str | None = None
    node_id: uuid.UUID | None = None
    runtime_node_id: str | None = Field(default=None, description="e.g. the Ray node id")
    host_name: str | None = None
    listen_port: int | None = None
    status: str | None = None
    port_mappings: list[dict[str, Any]] = []


class AppDeployment(BaseModel):
    id: uuid.UUID
    name: str
    template_id: uuid.UUID | None = None
    requested_at: datetime
    created_at: datetime
    deployed_at: datetime | None = None
    stopped_at: datetime | None = None
    status: str
    runtime: str
    min_copies: int = 1
    starting_copies: int = 1
    max_copies: int | None = None
    env_vars: dict[str, str] = {}
    compose_yml: str | None = None
    access_path_prefix: str = "/apps"
    access_path: str
    serve_path: str
    url: str
    model_deployment_id: uuid.UUID | None = None
    owner_id: uuid.UUID
    error_code: str | None = None
    error_message: str | None = None
    ephemeral: bool = False
    session_expires_at: datetime | None = None
    session_token: str | None = Field(
        default=None, description="Only in the answer to an ephemeral deploy: keep it."
    )
    instances: list[AppInstance] = []


class ImageStatus(BaseModel):
    template_id: uuid.UUID
    images: list[str]
    image_status: dict[str, bool]
    all_images_pulled: bool
    runtime: str
    message: str | None = None


class ImagePullResult(BaseModel):
    template_id: uuid.UUID
    total_images: int
    successful_pulls: int
    results: list[dict[str, Any]]
    all_successful: bool


class GardenApp(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    description: str
    compose_yml: str
    env_defaults: dict[str, str] | None = None
    strip_path_prefix: bool | None = None
    category: str | None = None
    tags: list[str] | None = None
    author: str | None = None
    license: str | None = None
    homepage: str | None = None
    source: str | None = None


class ImportResult(BaseModel):
    imported_count: int
    updated_count: int = 0
    total_apps: int
    errors: list[str]
    success: bool


class RemoteSync(_Body):
    names: list[str] | None = None


class SessionState(BaseModel):
    deployment_id: uuid.UUID
    status: str
    expires_at: datetime | None = None
    ended: bool = False


class AppLogs(BaseModel):
    deployment_id: uuid.UUID
    status: str
    lines: list[str]
    patterns_detected: dict[str, bool]
