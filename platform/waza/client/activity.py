"""`client.activity`: the audit log."""

from __future__ import annotations

from datetime import datetime

from waza.client.base import Transport, drop_none
from waza.services.activity.schemas import ActivityOut


class ActivityAPI:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def recent(
        self,
        *,
        limit: int = 100,
        skip: int = 0,
        module: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        user_id: str | None = None,
        since: datetime | None = None,
    ) -> list[ActivityOut]:
        """Newest first; admins see everyone's calls, users their own."""
        params = drop_none(
            limit=limit,
            skip=skip,
            module=module,
            action=action,
            outcome=outcome,
            user_id=user_id,
            since=since.isoformat() if since else None,
        )
        return self._t.parse(list[ActivityOut], "GET", "activity/activities/", params=params)
