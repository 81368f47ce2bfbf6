"""`client.prompts`: roles, system prompts, elements and templates, with versions and rendering.

system = client.prompts.systems.create("terse", "Answer in one sentence.")
template = client.prompts.templates.create("capital", "Capital of {{ country }}?")
client.prompts.templates.render(template.id, {"country": "France"}, system_id=system.id)
client.prompts.systems.update(system.id, content="Answer briefly.")   # version 2
"""

from __future__ import annotations

import builtins
import uuid
from typing import Any, Generic, TypeVar

from waza.client.base import Transport, drop_none
from waza.services.prompts import schemas

P = TypeVar("P", bound=schemas.Prompt)
Id = uuid.UUID | str


class PromptKindAPI(Generic[P]):
    """The routes of one kind (`roles`, `systems`, `elements` or `templates`)."""

    def __init__(self, transport: Transport, segment: str, out: type[P]) -> None:
        self._t = transport
        self._path = f"prompts/{segment}"
        self._out = out

    def list(self, *, skip: int = 0, limit: int = 100, search: str | None = None) -> list[P]:
        """Yours and shared ones (an admin: all), oldest first; `search` matches the name."""
        params = drop_none(skip=skip, limit=limit, search=search)
        many: Any = list[self._out]  # type: ignore[name-defined]
        return self._t.parse(many, "GET", f"{self._path}/", params=params)

    def get(self, prompt_id: Id) -> P:
        return self._t.parse(self._out, "GET", f"{self._path}/{prompt_id}")

    def find(self, name: str) -> P | None:
        """The readable prompt with exactly this name (your own first), or None."""
        found = [p for p in self.list(search=name, limit=1000) if p.name == name]
        found.sort(key=lambda p: p.shared)
        return found[0] if found else None

    def create(
        self,
        name: str,
        content: str,
        *,
        tags: builtins.list[str] | None = None,
        shared: bool = False,
    ) -> P:
        """Version 1 of a new prompt; `ConflictError` when you already have one so named."""
        body = schemas.PromptCreate(name=name, content=content, tags=tags or [], shared=shared)
        return self._t.parse(self._out, "POST", f"{self._path}/", json=body.model_dump())

    def update(
        self,
        prompt_id: Id,
        *,
        name: str | None = None,
        content: str | None = None,
        tags: builtins.list[str] | None = None,
        shared: bool | None = None,
    ) -> P:
        """Change the fields given; a new name, content or tags make the next version."""
        body = drop_none(name=name, content=content, tags=tags, shared=shared)
        return self._t.parse(self._out, "PATCH", f"{self._path}/{prompt_id}", json=body)

    def delete(self, prompt_id: Id) -> None:
        self._t.send("DELETE", f"{self._path}/{prompt_id}")

    def versions(self, prompt_id: Id) -> builtins.list[schemas.PromptVersion]:
        """Every version, newest first."""
        return self._t.parse(
            list[schemas.PromptVersion], "GET", f"{self._path}/{prompt_id}/versions"
        )


class TemplatesAPI(PromptKindAPI[schemas.PromptTemplate]):
    def render(
        self,
        template_id: Id,
        variables: dict[str, Any] | None = None,
        *,
        system_id: Id | None = None,
        role_id: Id | None = None,
    ) -> schemas.RenderResult:
        """The template filled in; `ValidationError` naming any missing variable."""
        body = drop_none(
            variables=variables or {},
            system_id=str(system_id) if system_id else None,
            role_id=str(role_id) if role_id else None,
        )
        return self._t.parse(
            schemas.RenderResult, "POST", f"{self._path}/{template_id}/render", json=body
        )


class PromptsAPI:
    """`roles`, `systems`, `elements`, `templates`: one `PromptKindAPI` each."""

    def __init__(self, transport: Transport) -> None:
        self.roles = PromptKindAPI(transport, "roles", schemas.PromptRole)
        self.systems = PromptKindAPI(transport, "systems", schemas.PromptSystem)
        self.elements = PromptKindAPI(transport, "elements", schemas.PromptElement)
        self.templates = TemplatesAPI(transport, "templates", schemas.PromptTemplate)

    def kind(self, name: str) -> PromptKindAPI[Any]:
        """The API of a kind by name, singular or plural (`role`, `systems`, ...)."""
        segment = name if name.endswith("s") else name + "s"
        if segment not in schemas.KINDS:
            raise ValueError(f"unknown prompt kind {name!r}: use one of {', '.join(schemas.KINDS)}")
        api: PromptKindAPI[Any] = getattr(self, segment)
        return api
