"""Routes of the activity service (`/api/activity/...`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from waza.gateway.bounds import MAX_OFFSET
from waza.gateway.deps import Context, CurrentUser
from waza.services.activity.schemas import ActivityOut, Outcome

router = APIRouter(prefix="/activity", tags=["activity"])


@router.get("/activities/", response_model=list[ActivityOut])
@router.get("/activities", response_model=list[ActivityOut], include_in_schema=False)
def list_activities(
    ctx: Context,
    principal: CurrentUser,
    skip: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    user_id: str | None = None,
    module: str | None = None,
    action: str | None = None,
    outcome: Outcome | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ActivityOut]:
    """Recent mutating calls, newest first (admins: everyone's, with filters; users: their own)."""
    return ctx.activity.list(
        principal,
        skip=skip,
        limit=limit,
        user_id=user_id,
        module=module,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
    )
