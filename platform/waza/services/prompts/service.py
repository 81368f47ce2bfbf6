"""Prompt logic: roles, systems, elements and templates with versions, and template rendering.

Access: a prompt belongs to its creator. Owners and admins read, change and delete it; a
`shared` prompt is readable by every user. Another user's private prompt is a 403, an unknown id
(or an id of another kind) a 404. Names are unique per owner and kind (409 otherwise).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from waza.db import Database
from waza.errors import Conflict, Forbidden, NotFound
from waza.gateway.principal import Principal
from waza.services.prompts import rendering, schemas
from waza.services.prompts.models import Prompt, PromptVersion

LABELS: dict[str, str] = {
    "role": "Role",
    "system": "System prompt",
    "element": "Element",
    "template": "Template",
}


def _out(row: Prompt) -> schemas.Prompt:
    fields: dict[str, Any] = {
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "content": row.content,
        "tags": list(row.tags or []),
        "version": row.version,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "owner_id": row.owner_id,
        "shared": row.shared,
    }
    if row.kind == "template":
        fields["variables"] = rendering.variables(row.content)
    return schemas.OUT_TYPES[row.kind].model_validate(fields)  # type: ignore[index]


def _version_out(row: PromptVersion) -> schemas.PromptVersion:
    return schemas.PromptVersion(
        version=row.version,
        name=row.name,
        content=row.content,
        tags=list(row.tags or []),
        author_id=row.author_id,
        created_at=row.created_at.isoformat(),
    )


def _snapshot(row: Prompt, author: uuid.UUID) -> PromptVersion:
    return PromptVersion(
        prompt_id=row.id,
        version=row.version,
        name=row.name,
        content=row.content,
        tags=list(row.tags or []),
        author_id=author,
    )


class PromptService:
    """The prompt library; routes in `api.py` are thin wrappers over these methods."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _readable(principal: Principal) -> ColumnElement[bool] | None:
        if principal.is_admin:
            return None
        return or_(Prompt.owner_id == principal.user_id, Prompt.shared.is_(True))

    def _row(
        self, s: Session, principal: Principal, kind: str, prompt_id: uuid.UUID, *, write: bool
    ) -> Prompt:
        row = s.get(Prompt, prompt_id, with_for_update=write or None)
        if row is None or row.kind != kind:
            raise NotFound(f"{LABELS[kind]} {prompt_id} not found")
        if principal.can_access(row.owner_id):
            return row
        if row.shared and not write:
            return row
        if row.shared:
            raise Forbidden(
                f"{LABELS[kind]} {prompt_id} is shared read-only; only its owner edits it"
            )
        raise Forbidden(f"{LABELS[kind]} {prompt_id} belongs to another user")

    @staticmethod
    def _check_name_free(
        s: Session, kind: str, owner: uuid.UUID, name: str, exclude: uuid.UUID | None = None
    ) -> None:
        query = select(Prompt.id).where(
            Prompt.kind == kind, Prompt.owner_id == owner, Prompt.name == name
        )
        if exclude is not None:
            query = query.where(Prompt.id != exclude)
        existing = s.scalar(query)
        if existing is not None:
            raise Conflict(f"{LABELS[kind]} named {name!r} already exists (id {existing})")

    @staticmethod
    def _check_content(kind: str, content: str) -> None:
        if kind == "template":
            rendering.check(content)

    # ---- CRUD ----------------------------------------------------------------------------------
    def list_prompts(
        self,
        principal: Principal,
        kind: str,
        *,
        skip: int = 0,
        limit: int = 100,
        search: str | None = None,
    ) -> list[schemas.Prompt]:
        """Oldest first (stable pages): the caller's and shared prompts (an admin: all)."""
        query = select(Prompt).where(Prompt.kind == kind)
        readable = self._readable(principal)
        if readable is not None:
            query = query.where(readable)
        if search:
            query = query.where(func.lower(Prompt.name).contains(search.lower(), autoescape=True))
        query = query.order_by(Prompt.created_at, Prompt.id).offset(skip).limit(limit)
        with self.db.session() as s:
            return [_out(row) for row in s.scalars(query)]

    def get(self, principal: Principal, kind: str, prompt_id: uuid.UUID) -> schemas.Prompt:
        with self.db.session() as s:
            return _out(self._row(s, principal, kind, prompt_id, write=False))

    def create(self, principal: Principal, kind: str, body: schemas.PromptCreate) -> schemas.Prompt:
        """Version 1 of a new prompt, owned by the caller."""
        self._check_content(kind, body.content)

        def work(s: Session) -> schemas.Prompt:
            self._check_name_free(s, kind, principal.user_id, body.name)
            row = Prompt(
                kind=kind,
                name=body.name,
                content=body.content,
                tags=body.tags,
                version=1,
                owner_id=principal.user_id,
                shared=body.shared,
            )
            s.add(row)
            s.flush()
            s.add(_snapshot(row, principal.user_id))
            s.flush()
            return _out(row)

        try:
            return self.db.transaction(work)
        except IntegrityError as exc:  # created concurrently
            raise Conflict(f"{LABELS[kind]} named {body.name!r} already exists") from exc

    def update(
        self, principal: Principal, kind: str, prompt_id: uuid.UUID, body: schemas.PromptUpdate
    ) -> schemas.Prompt:
        """Change the fields sent; a new name, content or tags make the next version."""
        if body.content is not None:
            self._check_content(kind, body.content)

        def work(s: Session) -> schemas.Prompt:
            row = self._row(s, principal, kind, prompt_id, write=True)
            changed = False
            if body.name is not None and body.name != row.name:
                self._check_name_free(s, kind, row.owner_id, body.name, exclude=row.id)
                row.name, changed = body.name, True
            if body.content is not None and body.content != row.content:
                row.content, changed = body.content, True
            if body.tags is not None and body.tags != list(row.tags or []):
                row.tags, changed = body.tags, True
            if body.shared is not None:
                row.shared = body.shared
            if changed:
                row.version += 1
                s.add(_snapshot(row, principal.user_id))
            s.flush()
            return _out(row)

        try:
            return self.db.transaction(work)
        except IntegrityError as exc:  # a concurrent rename or update won
            raise Conflict(
                f"{LABELS[kind]} {prompt_id} was changed concurrently; read it and retry"
            ) from exc

    def delete(self, principal: Principal, kind: str, prompt_id: uuid.UUID) -> None:
        """Remove the prompt and its versions."""

        def work(s: Session) -> None:
            row = self._row(s, principal, kind, prompt_id, write=True)
            s.delete(row)

        self.db.transaction(work)

    def versions(
        self, principal: Principal, kind: str, prompt_id: uuid.UUID
    ) -> list[schemas.PromptVersion]:
        """Every version of the prompt, newest first."""
        with self.db.session() as s:
            row = self._row(s, principal, kind, prompt_id, write=False)
            found = s.scalars(
                select(PromptVersion)
                .where(PromptVersion.prompt_id == row.id)
                .order_by(PromptVersion.version.desc())
            )
            return [_version_out(v) for v in found]

    # ---- rendering -----------------------------------------------------------------------------
    def _elements(self, s: Session, principal: Principal) -> dict[str, str]:
        """The caller's readable elements by name (their own win over shared ones)."""
        query = select(Prompt).where(Prompt.kind == "element")
        readable = self._readable(principal)
        if readable is not None:
            query = query.where(readable)
        found: dict[str, str] = {}
        for row in s.scalars(query.order_by(Prompt.created_at)):
            if row.name not in found or principal.owns(row.owner_id):
                found[row.name] = row.content
        return found

    def render(
        self, principal: Principal, template_id: uuid.UUID, body: schemas.RenderRequest
    ) -> schemas.RenderResult:
        """The template filled in with `body.variables` (400 naming any missing one)."""
        with self.db.session() as s:
            template = self._row(s, principal, "template", template_id, write=False)
            needed = rendering.variables(template.content)
            values = dict(body.variables)
            if rendering.ELEMENTS in needed and rendering.ELEMENTS not in values:
                values[rendering.ELEMENTS] = self._elements(s, principal)
            framing = [
                self._row(s, principal, kind, ref, write=False).content
                for kind, ref in (("system", body.system_id), ("role", body.role_id))
                if ref is not None
            ]
            text = rendering.render(template.content, values)
            messages = [schemas.ChatMessage(role="system", content="\n\n".join(framing))]
            if not framing:
                messages = []
            messages.append(schemas.ChatMessage(role="user", content=text))
            return schemas.RenderResult(
                template_id=template.id,
                version=template.version,
                text=text,
                variables=needed,
                messages=messages,
            )
