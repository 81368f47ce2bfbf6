"""Routes of prompts (`/api/prompts/...`), wire-compatible with kamiwaza-sdk 1.3 (§13).

The four kinds share one shape: `GET|POST /prompts/<kind>/` (list with `skip`/`limit`, create),
`GET|PUT|PATCH|DELETE /prompts/<kind>/{id}` and `GET /prompts/<kind>/{id}/versions`, where
`<kind>` is `roles`, `systems`, `elements` or `templates`. `POST /prompts/templates/{id}/render`
fills a template in (read-only: any token scope, not audited).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from waza.gateway.bounds import MAX_OFFSET
from waza.gateway.deps import Context, CurrentUser, ReaderUser
from waza.gateway.openapi import error_responses
from waza.services.prompts import schemas

router = APIRouter(prefix="/prompts", tags=["prompts"])

LIST = error_responses(401)
READ = error_responses(401, 403, 404)
CREATE = error_responses(400, 401, 403, 409)
CHANGE = error_responses(400, 401, 403, 404, 409)

Skip = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Search = Annotated[
    str | None, Query(max_length=255, description="Case-insensitive text in the name.")
]


def _kind_routes(segment: str, kind: str, out: type[schemas.Prompt]) -> None:
    """The routes of one kind, under `/prompts/{segment}`."""
    label = kind.capitalize()

    @router.get(
        f"/{segment}/",
        response_model=list[out],  # type: ignore[valid-type]
        responses=LIST,
        name=f"list_{segment}",
        description=f"{label}s you own or that are shared (an admin: all), oldest first.",
    )
    @router.get(f"/{segment}", response_model=list[out], include_in_schema=False)  # type: ignore[valid-type]
    def list_prompts(
        ctx: Context, user: CurrentUser, skip: Skip = 0, limit: Limit = 100, search: Search = None
    ) -> list[schemas.Prompt]:
        return ctx.prompts.list_prompts(user, kind, skip=skip, limit=limit, search=search)

    @router.post(
        f"/{segment}/",
        response_model=out,
        responses=CREATE,
        name=f"create_{kind}",
        description=f"A new {kind}, version 1 (409 when you already have one so named).",
    )
    @router.post(f"/{segment}", response_model=out, include_in_schema=False)
    def create_prompt(
        ctx: Context, user: CurrentUser, body: schemas.PromptCreate
    ) -> schemas.Prompt:
        return ctx.prompts.create(user, kind, body)

    @router.get(
        f"/{segment}/{{prompt_id}}",
        response_model=out,
        responses=READ,
        name=f"get_{kind}",
        description=f"One {kind}.",
    )
    def get_prompt(ctx: Context, user: CurrentUser, prompt_id: uuid.UUID) -> schemas.Prompt:
        return ctx.prompts.get(user, kind, prompt_id)

    @router.put(
        f"/{segment}/{{prompt_id}}",
        response_model=out,
        responses=CHANGE,
        name=f"update_{kind}",
        description=f"Change a {kind}: a new name, content or tags make the next version.",
    )
    @router.patch(f"/{segment}/{{prompt_id}}", response_model=out, responses=CHANGE)
    def update_prompt(
        ctx: Context, user: CurrentUser, prompt_id: uuid.UUID, body: schemas.PromptUpdate
    ) -> schemas.Prompt:
        return ctx.prompts.update(user, kind, prompt_id, body)

    @router.delete(
        f"/{segment}/{{prompt_id}}",
        status_code=204,
        response_class=Response,
        responses=READ,
        name=f"delete_{kind}",
        description=f"Delete a {kind} and its versions.",
    )
    def delete_prompt(ctx: Context, user: CurrentUser, prompt_id: uuid.UUID) -> None:
        ctx.prompts.delete(user, kind, prompt_id)

    @router.get(
        f"/{segment}/{{prompt_id}}/versions",
        response_model=list[schemas.PromptVersion],
        responses=READ,
        name=f"{kind}_versions",
        description=f"Every version of a {kind}, newest first.",
    )
    def prompt_versions(
        ctx: Context, user: CurrentUser, prompt_id: uuid.UUID
    ) -> list[schemas.PromptVersion]:
        return ctx.prompts.versions(user, kind, prompt_id)


for _segment, _kind in schemas.KINDS.items():
    _kind_routes(_segment, _kind, schemas.OUT_TYPES[_kind])


@router.post(
    "/templates/{template_id}/render",
    response_model=schemas.RenderResult,
    responses=error_responses(400, 401, 403, 404, 503),
)
def render_template(
    ctx: Context, user: ReaderUser, template_id: uuid.UUID, body: schemas.RenderRequest
) -> schemas.RenderResult:
    """Fill a template in with `variables` (400 naming any missing one); with `system_id` and
    `role_id`, also as chat messages (system + role, then the text as the user's message)."""
    return ctx.prompts.render(user, template_id, body)
