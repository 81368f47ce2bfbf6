"""Request and response bodies of prompts, shaped like kamiwaza-sdk 1.3's prompt models (§13).

Responses carry the SDK's fields (`id`, `name`, `content`, `tags`, `version`, `created_at`),
with `created_at` and `updated_at` as ISO-8601 strings (the SDK requires a string for roles,
elements and templates), plus `kind`, `owner_id` and `shared`, which the SDK ignores.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

Kind = Literal["role", "system", "element", "template"]
KINDS: dict[str, Kind] = {
    "roles": "role",
    "systems": "system",
    "elements": "element",
    "templates": "template",
}
MAX_CONTENT = 200_000
MAX_TAGS = 50


def _clean_tags(tags: list[str]) -> list[str]:
    """Trimmed, non-empty, without repeats (first occurrence kept)."""
    seen: dict[str, None] = {}
    for tag in tags:
        tag = tag.strip()
        if not tag:
            raise ValueError("tags must not be empty strings")
        if len(tag) > 64:
            raise ValueError(f"tag too long (64 characters at most): {tag[:20]}...")
        seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return list(seen)


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValueError("name must not be blank")
    return name


class PromptCreate(BaseModel):
    """A new role, system prompt, element or template."""

    name: str = Field(min_length=1, max_length=255)
    content: str = Field(max_length=MAX_CONTENT)
    tags: list[str] = Field(default_factory=list)
    shared: bool = Field(default=False, description="Readable by every user (owner/admin edit).")

    _name = field_validator("name")(_clean_name)
    _tags = field_validator("tags")(_clean_tags)


class PromptUpdate(BaseModel):
    """Only the fields sent change; a change of name, content or tags makes a new version."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    content: str | None = Field(default=None, max_length=MAX_CONTENT)
    tags: list[str] | None = None
    shared: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _clean_name(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _clean_tags(value)

    @model_validator(mode="after")
    def _something(self) -> PromptUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one of name, content, tags, shared")
        return self


class Prompt(BaseModel):
    """A prompt as the API returns it."""

    id: uuid.UUID
    kind: Kind
    name: str
    content: str
    tags: list[str] = Field(default_factory=list)
    version: int
    created_at: str = Field(description="ISO-8601 (UTC).")
    updated_at: str = Field(description="ISO-8601 (UTC).")
    owner_id: uuid.UUID
    shared: bool = False


class PromptRole(Prompt):
    """Who the model acts as."""


class PromptSystem(Prompt):
    """A system prompt that frames the model's behaviour."""


class PromptElement(Prompt):
    """A reusable snippet; templates reach elements as `{{ elements["name"] }}`."""


class PromptTemplate(Prompt):
    """A Jinja template; `variables` are the names it needs when rendered."""

    variables: list[str] = Field(default_factory=list)


OUT_TYPES: dict[Kind, type[Prompt]] = {
    "role": PromptRole,
    "system": PromptSystem,
    "element": PromptElement,
    "template": PromptTemplate,
}


class PromptVersion(BaseModel):
    """One version of a prompt's text."""

    version: int
    name: str
    content: str
    tags: list[str] = Field(default_factory=list)
    author_id: uuid.UUID
    created_at: str


class RenderRequest(BaseModel):
    """Values for a template's variables; optionally a system prompt and a role to frame it."""

    variables: dict[str, Any] = Field(default_factory=dict)
    system_id: uuid.UUID | None = Field(
        default=None, description="A system prompt: the first chat message."
    )
    role_id: uuid.UUID | None = Field(
        default=None, description="A role, appended to the system message."
    )


class ChatMessage(BaseModel):
    role: Literal["system", "user"]
    content: str


class RenderResult(BaseModel):
    """The rendered text, and the same as chat messages ready for `/v1/chat/completions`."""

    template_id: uuid.UUID
    version: int
    text: str
    variables: list[str] = Field(description="The template's variables (all were given).")
    messages: list[ChatMessage]
