"""Activity records as the kamiwaza-sdk reads them (every field optional there)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Outcome = Literal["success", "denied", "failure", "error"]


class ActivityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    user_id: str | None = None
    username: str | None = None
    module: str
    apicall: str
    action: str
    object_id: str | None = None
    status_code: int
    outcome: Outcome
    request_id: str | None = None
    client_ip: str | None = None
