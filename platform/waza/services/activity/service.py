"""Record and query the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from waza.db import Database
from waza.gateway.principal import Principal
from waza.services.activity.models import Activity
from waza.services.activity.schemas import ActivityOut


def outcome_for(status: int) -> str:
    if status < 400:
        return "success"
    if status in (401, 403):
        return "denied"
    return "failure" if status < 500 else "error"


class ActivityService:
    """Writes one row per mutating call (from the gateway middleware) and lists them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, entry: dict[str, Any]) -> None:
        row = Activity(**entry, outcome=outcome_for(int(entry["status_code"])))
        self.db.transaction(lambda s: s.add(row))

    def list(
        self,
        principal: Principal,
        *,
        skip: int = 0,
        limit: int = 100,
        user_id: str | None = None,
        module: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ActivityOut]:
        """Newest first. Admins see everyone's calls; users only their own."""
        query = select(Activity)
        if not principal.is_admin:
            query = query.where(Activity.user_id == str(principal.user_id))
        elif user_id:
            query = query.where(Activity.user_id == user_id)
        if module:
            query = query.where(Activity.module == module)
        if action:
            query = query.where(Activity.action == action.upper())
        if outcome:
            query = query.where(Activity.outcome == outcome)
        if since:
            query = query.where(Activity.created_at >= since)
        if until:
            query = query.where(Activity.created_at < until)
        query = query.order_by(Activity.created_at.desc(), Activity.id).offset(skip).limit(limit)
        with self.db.session() as s:
            return [ActivityOut.model_validate(a) for a in s.scalars(query)]
