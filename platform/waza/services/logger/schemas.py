"""Response bodies of the logger, shaped like the Kamiwaza spec's `Log*` schemas.

`deployment_type` is one of the spec's `DeploymentType` values (`vllm`, `llamacpp`, `mlx`,
`ampere`, `app_garden`, `tool_shed`, `unknown`) or one a registered log source adds (serving adds
`transformers` and `embedding`, its other engines).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

SPEC_TYPES = ("vllm", "llamacpp", "mlx", "ampere", "app_garden", "tool_shed", "unknown")


class LogFileInfo(BaseModel):
    """One deployment's log: where it is, how big, whether its deployment still exists."""

    deployment_id: str
    deployment_type: str
    file_path: str = Field(description="A file path, or a URL-like name for logs kept elsewhere.")
    file_size: int = Field(description="Bytes.")
    created_at: datetime
    modified_at: datetime
    is_orphaned: bool = Field(default=False, description="Its deployment no longer exists.")
    has_errors: bool | None = Field(default=None, description="Error patterns detected.")
    capture_active: bool = Field(default=False, description="Still being written.")
    owner_id: str | None = None


class LogListResponse(BaseModel):
    logs: list[LogFileInfo]
    total_count: int
    orphaned_count: int


class LogContent(BaseModel):
    """A log's lines (the last `tail` lines when asked)."""

    deployment_id: str
    deployment_type: str
    file_path: str
    logs: list[str]
    total_lines: int
    is_compressed: bool = False
    patterns_detected: dict[str, bool] | None = None
    capture_active: bool = False


class LogPatternAnalysis(BaseModel):
    deployment_id: str
    deployment_type: str
    patterns_detected: dict[str, bool]
    failure_lines: list[dict[str, Any]] = Field(
        default_factory=list, description="`{line_number, line, patterns}`, the last 50."
    )
    analysis_timestamp: datetime
    total_errors_found: int = 0


class LogDeleteResponse(BaseModel):
    deleted: bool
    message: str
    files_removed: list[str] | None = None


class LogStats(BaseModel):
    total_logs: int
    total_size_bytes: int
    orphaned_count: int
    by_type: dict[str, dict[str, Any]]
    storage_path: str
    last_updated: datetime


class CleanedLog(BaseModel):
    deployment_id: str
    deployment_type: str
    file_path: str
    file_size: int
    modified_at: datetime


class CleanupResult(BaseModel):
    """What a cleanup removed (or, with `dry_run`, would remove)."""

    dry_run: bool
    days_old: int
    cutoff: datetime
    deployment_type: str | None = None
    deleted_count: int = Field(description="Logs removed (0 on a dry run).")
    matched_count: int = Field(description="Logs older than the cutoff.")
    freed_bytes: int = Field(description="Bytes removed, or that would be on a dry run.")
    skipped_active: int = Field(description="Old logs kept because their deployment runs.")
    logs: list[CleanedLog]
    errors: list[str] = Field(default_factory=list)
    message: str
