"""Who is calling: the identity every route receives from the auth dependency."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

AuthMethod = Literal["session", "pat", "hub"]
FULL_SCOPES = frozenset({"admin", "openid"})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``scopes`` limit what a token may do on top of the user's roles: a session (password login)
    or a PAT with ``admin``/``openid`` scope acts with the user's full rights, ``write`` may change
    things but never use admin rights, ``read`` may only read.
    """

    user_id: uuid.UUID
    username: str
    roles: tuple[str, ...]
    method: AuthMethod
    scopes: frozenset[str] = field(default_factory=lambda: FULL_SCOPES)
    email: str | None = None
    full_name: str | None = None
    token_id: str | None = None

    @property
    def full_access(self) -> bool:
        return self.method == "session" or bool(self.scopes & FULL_SCOPES)

    @property
    def is_admin(self) -> bool:
        """Admin rights: an admin user acting through a token that allows them."""
        return "admin" in self.roles and self.full_access

    @property
    def can_write(self) -> bool:
        return self.full_access or "write" in self.scopes

    @property
    def urn(self) -> str:
        return f"urn:li:corpuser:{self.username}"

    def owns(self, owner_id: uuid.UUID | str | None) -> bool:
        return owner_id is not None and str(owner_id) == str(self.user_id)

    def can_access(self, owner_id: uuid.UUID | str | None) -> bool:
        """Owners reach their objects; admins reach everything."""
        return self.is_admin or self.owns(owner_id)
