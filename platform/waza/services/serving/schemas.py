"""Request and response bodies of the serving routes (digest §5)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from waza.gateway.bounds import MAX_PORT


class CreateModelDeployment(BaseModel):
    """`POST /serving/deploy_model`: the SDK sends every key, nulls included."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", protected_namespaces=())

    m_id: uuid.UUID
    m_file_id: uuid.UUID | None = None
    m_config_id: uuid.UUID | None = None
    engine_name: str | None = Field(
        default=None, description="transformers, embedding, llamacpp or vllm; default by format."
    )
    duration: int | None = None
    min_copies: int = Field(default=1, ge=0, le=64)
    starting_copies: int = Field(default=1, ge=0, le=64)
    max_copies: int | None = Field(default=None, ge=1, le=64)
    location: str | None = None
    lb_port: int = Field(default=0, ge=0, le=MAX_PORT)
    autoscaling: bool = False
    force_cpu: bool = False
    node_resource_type: str | None = Field(
        default=None, description="A custom Ray resource the replicas must be placed on."
    )
    max_concurrent_requests: int | None = Field(default=None, ge=1, le=10_000)
    vram_allocation: float | None = Field(default=None, ge=0)
    gpu_allocation: float | None = Field(
        default=None, ge=0, le=64, description="GPUs per replica; fractions share a card."
    )
    cpu_allocation: float | None = Field(default=None, gt=0, le=256, description="CPUs/replica.")
    inference_resources: dict[str, Any] | None = Field(default=None, alias="inferenceResources")


class ModelInstance(BaseModel):
    id: uuid.UUID
    deployment_id: uuid.UUID
    deployed_at: datetime
    container_id: str | None = None
    node_id: uuid.UUID | None = None
    ray_node_id: str | None = Field(default=None, description="The Ray node the replica runs on.")
    host_name: str | None = None
    listen_port: int | None = None
    status: str | None = None
    pid: int | None = None


class UIModelDeployment(BaseModel):
    """A deployment as the SDK's `UIModelDeployment` reads it."""

    id: uuid.UUID
    m_id: uuid.UUID
    m_config_id: uuid.UUID
    m_file_id: uuid.UUID | None = None
    m_name: str
    status: str
    requested_at: datetime
    deployed_at: datetime | None = None
    stopped_at: datetime | None = None
    engine_name: str
    duration: int | None = None
    min_copies: int = 1
    starting_copies: int = 1
    max_copies: int | None = None
    location: str | None = None
    lb_port: int = 0
    autoscaling: bool = False
    force_cpu: bool = False
    node_resource_type: str | None = None
    max_concurrent_requests: int | None = None
    vram_allocation: float | None = None
    gpu_allocation: float | None = None
    serve_path: str
    access_path_prefix: str = "/runtime/models"
    access_path: str
    single_node_mode: bool = False
    last_error_code: str | None = None
    last_error_message: str | None = None
    instances: list[ModelInstance] = []
    canonical_model_id: str | None = None
    host_ip: str | None = None
    owner_id: uuid.UUID
    private: bool = False
    resources: dict[str, Any] = {}


class DeploymentLogs(BaseModel):
    deployment_id: uuid.UUID
    engine_type: str | None = None
    container_id: str | None = None
    log_file_path: str
    logs: list[str]
    total_lines_seen: int
    current_lines_stored: int
    compressed: bool = False
    capture_active: bool


class LogPatterns(BaseModel):
    deployment_id: uuid.UUID
    patterns_detected: dict[str, bool]
    analysis_timestamp: datetime
    failure_lines: list[str] = []


class EngineLogs(BaseModel):
    engine_type: str
    logs: list[dict[str, Any]]


class VramEstimate(BaseModel):
    computed_vram_estimate: int | None
    estimation_source: str
    model_size_bytes: int | None = None
    engine_name: str | None = None
    detail: str | None = None


class ServingStatus(BaseModel):
    status: str
    address: str | None = None
    managed: bool = Field(description="True when waza started this Ray head.")
    resources: dict[str, float] = {}
    available: dict[str, float] = {}
    deployments_active: int = 0
    applications: list[str] = Field(
        default_factory=list, description="This installation's Ray Serve applications."
    )


class StartRay(BaseModel):
    address: str | None = None
    runtime_env: dict[str, Any] | None = None
    options: dict[str, Any] | None = None


class UsageSummary(BaseModel):
    deployment_id: uuid.UUID
    user_id: uuid.UUID
    requests: int
    prompt_tokens: int
    completion_tokens: int
    avg_ttft_ms: float | None = None
    avg_tokens_per_s: float | None = None
