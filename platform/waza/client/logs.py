"""`client.logs`: deployment and app logs through the logger service.

client.logs.list()                          # yours (an admin: everyone's), newest first
client.logs.get(deployment_id, tail=100)    # lines, with the failure patterns they show
client.logs.patterns(deployment_id)         # out of memory, CUDA errors, port in use, ...
client.logs.cleanup(days_old=30)            # admin; a dry run unless dry_run=False
"""

from __future__ import annotations

import uuid

from waza.client.base import Transport, drop_none
from waza.services.logger import schemas

Id = uuid.UUID | str
ROOT = "logger/logger"


class LogsAPI:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(
        self,
        deployment_type: str | None = None,
        *,
        orphaned: bool = False,
        analyze: bool = False,
    ) -> schemas.LogListResponse:
        """Logs you may see; `analyze` fills in `has_errors` (reads every log)."""
        if orphaned:
            path = f"{ROOT}/deployments/orphaned"
        elif deployment_type:
            path = f"{ROOT}/deployments/type/{deployment_type}"
        else:
            path = f"{ROOT}/deployments/all"
        params = {"analyze": "true"} if analyze and not orphaned else {}
        return self._t.parse(schemas.LogListResponse, "GET", path, params=params)

    def get(
        self, deployment_id: Id, deployment_type: str | None = None, *, tail: int | None = None
    ) -> schemas.LogContent:
        """A log's lines (the last `tail` ones); the type is looked up when not given."""
        path = (
            f"{ROOT}/deployments/{deployment_type}/{deployment_id}"
            if deployment_type
            else f"{ROOT}/deployment/{deployment_id}/logs"
        )
        return self._t.parse(schemas.LogContent, "GET", path, params=drop_none(tail=tail))

    def patterns(
        self, deployment_id: Id, deployment_type: str | None = None
    ) -> schemas.LogPatternAnalysis:
        """The failure patterns found and the lines that show them."""
        path = (
            f"{ROOT}/deployments/{deployment_type}/{deployment_id}/patterns"
            if deployment_type
            else f"{ROOT}/deployment/{deployment_id}/logs/patterns"
        )
        return self._t.parse(schemas.LogPatternAnalysis, "GET", path)

    def delete(
        self, deployment_id: Id, deployment_type: str, *, confirm: bool = True
    ) -> schemas.LogDeleteResponse:
        """Delete one log (owner or admin); `ConflictError` while its deployment runs."""
        return self._t.parse(
            schemas.LogDeleteResponse,
            "DELETE",
            f"{ROOT}/deployments/{deployment_type}/{deployment_id}",
            params={"confirm": "true" if confirm else "false"},
        )

    def stats(self) -> schemas.LogStats:
        return self._t.parse(schemas.LogStats, "GET", f"{ROOT}/stats")

    def cleanup(
        self, days_old: int = 30, deployment_type: str | None = None, *, dry_run: bool = True
    ) -> schemas.CleanupResult:
        """Admin: remove logs not written for `days_old` days (running ones are kept)."""
        params = drop_none(
            days_old=days_old,
            deployment_type=deployment_type,
            dry_run="true" if dry_run else "false",
        )
        return self._t.parse(schemas.CleanupResult, "DELETE", f"{ROOT}/cleanup", params=params)
