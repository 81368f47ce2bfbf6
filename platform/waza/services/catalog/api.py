"""Routes of the catalog (`/api/catalog/...`), wire-compatible with kamiwaza-sdk 1.3 (§7).

Every object is addressed by its DataHub URN in any of the forms clients use:

- the query form `.../by-urn?urn=<urn>` (what the SDK calls);
- the path forms `.../v2/{urn}` and `.../{urn}` with the URN percent-encoded or raw.

The server decodes `%2F` before routing, so a URN with `/` in it spans several path segments:
the routes take `{urn:path}` and the fixed suffixes (`/schema`, `/datasets`, `/datasets/{d}`)
are matched at the end (a dataset URN always ends in `)`, a container URN has no `/`).

Creates answer the bare JSON string URN with 201. Containers are admin-only; datasets and
secrets belong to their owner (others get 403). `GET /catalog/` and `GET /catalog/health` are
public probes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from waza.errors import BadRequest
from waza.gateway.bounds import MAX_OFFSET
from waza.gateway.deps import AdminUser, Context, CurrentUser
from waza.gateway.openapi import error_responses
from waza.services.catalog import schemas

router = APIRouter(prefix="/catalog", tags=["catalog"])
datasets = APIRouter(prefix="/datasets")
containers = APIRouter(prefix="/containers")
secrets = APIRouter(prefix="/secrets")

READ = error_responses(400, 401, 403, 404)
CREATE = error_responses(400, 401, 403, 404, 409)
ADMIN = error_responses(401, 403)

UrnQuery = Annotated[str, Query(description="The object's URN.")]
Search = Annotated[
    str | None, Query(description="Case-insensitive text in name, description or tags.")
]
Skip = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Query(ge=1, le=10_000)]


@router.get("/")
def metadata() -> dict[str, str]:
    """Service identity (public)."""
    return {"service": "Kamiwaza Catalog Service", "implementation": "waza"}


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness of the catalog (public)."""
    return {"status": "ok"}


# ---- datasets ----------------------------------------------------------------------------------
@datasets.get("/", response_model=list[schemas.Dataset], responses=ADMIN)
def list_datasets(
    ctx: Context, user: CurrentUser, query: Search = None, skip: Skip = 0, limit: Limit = 1000
) -> list[schemas.Dataset]:
    """The caller's datasets (an admin: all), newest first."""
    return ctx.catalog.list_datasets(user, query, skip=skip, limit=limit)


@datasets.post("/", status_code=201, response_model=str, responses=CREATE)
def create_dataset(ctx: Context, user: CurrentUser, body: schemas.DatasetCreate) -> str:
    """Register a dataset; answers its URN as a bare JSON string. Same URN again → 409."""
    return ctx.catalog.create_dataset(user, body)


@datasets.post("/register-from-spec", status_code=201, response_model=str, responses=CREATE)
def register_from_spec(ctx: Context, user: CurrentUser, body: schemas.ConnectorSpec) -> str:
    """Register a connector spec as a dataset (nothing is fetched); answers its URN."""
    return ctx.catalog.register_from_spec(user, body)


@datasets.post("/publishers", response_model=schemas.PublisherChange, responses=ADMIN)
def add_publisher(
    ctx: Context, admin: AdminUser, body: schemas.Publisher
) -> schemas.PublisherChange:
    """Grant a user the cluster-wide dataset publisher relation (admin; recorded)."""
    return ctx.catalog.add_publisher(admin, body.subject_user_id)


@datasets.delete("/publishers", response_model=schemas.PublisherChange, responses=ADMIN)
def remove_publisher(
    ctx: Context, admin: AdminUser, body: schemas.Publisher
) -> schemas.PublisherChange:
    """Revoke the dataset publisher relation (admin)."""
    return ctx.catalog.remove_publisher(admin, body.subject_user_id)


@datasets.get("/by-urn", response_model=schemas.Dataset, responses=READ)
def get_dataset(ctx: Context, user: CurrentUser, urn: UrnQuery) -> schemas.Dataset:
    """One dataset."""
    return ctx.catalog.get_dataset(user, urn)


@datasets.patch("/by-urn", response_model=schemas.Dataset, responses=READ)
def update_dataset(
    ctx: Context, user: CurrentUser, urn: UrnQuery, body: schemas.DatasetUpdate
) -> schemas.Dataset:
    """Change the fields sent."""
    return ctx.catalog.update_dataset(user, urn, body)


@datasets.delete("/by-urn", status_code=204, response_class=Response, responses=READ)
def delete_dataset(ctx: Context, user: CurrentUser, urn: UrnQuery) -> None:
    """Remove the catalog entry (not the data)."""
    ctx.catalog.delete_dataset(user, urn)


@datasets.get("/by-urn/schema", response_model=schemas.Schema, responses=READ)
def get_schema(ctx: Context, user: CurrentUser, urn: UrnQuery) -> schemas.Schema:
    """The dataset's schema (an empty field list when none was recorded)."""
    return ctx.catalog.get_schema(user, urn)


@datasets.put("/by-urn/schema", response_model=schemas.Schema, responses=READ)
def put_schema(
    ctx: Context, user: CurrentUser, urn: UrnQuery, body: schemas.Schema
) -> schemas.Schema:
    """Replace the dataset's schema."""
    return ctx.catalog.put_schema(user, urn, body)


def _dataset_path_routes(prefix: str) -> None:
    """`{prefix}{urn}` and `{prefix}{urn}/schema` (the URN encoded or raw)."""

    @datasets.get(prefix + "{urn:path}/schema", response_model=schemas.Schema, responses=READ)
    def get_schema_path(ctx: Context, user: CurrentUser, urn: str) -> schemas.Schema:
        """The dataset's schema (URN in the path)."""
        return ctx.catalog.get_schema(user, urn)

    @datasets.put(prefix + "{urn:path}/schema", response_model=schemas.Schema, responses=READ)
    def put_schema_path(
        ctx: Context, user: CurrentUser, urn: str, body: schemas.Schema
    ) -> schemas.Schema:
        """Replace the dataset's schema (URN in the path)."""
        return ctx.catalog.put_schema(user, urn, body)

    @datasets.get(prefix + "{urn:path}", response_model=schemas.Dataset, responses=READ)
    def get_dataset_path(ctx: Context, user: CurrentUser, urn: str) -> schemas.Dataset:
        """One dataset (URN in the path)."""
        return ctx.catalog.get_dataset(user, urn)

    @datasets.patch(prefix + "{urn:path}", response_model=schemas.Dataset, responses=READ)
    def update_dataset_path(
        ctx: Context, user: CurrentUser, urn: str, body: schemas.DatasetUpdate
    ) -> schemas.Dataset:
        """Change the fields sent (URN in the path)."""
        return ctx.catalog.update_dataset(user, urn, body)

    @datasets.delete(
        prefix + "{urn:path}", status_code=204, response_class=Response, responses=READ
    )
    def delete_dataset_path(ctx: Context, user: CurrentUser, urn: str) -> None:
        """Remove the catalog entry (URN in the path)."""
        ctx.catalog.delete_dataset(user, urn)


_dataset_path_routes("/v2/")
_dataset_path_routes("/")


# ---- containers (admin) -------------------------------------------------------------------------
@containers.get("/", response_model=list[schemas.Container], responses=ADMIN)
def list_containers(
    ctx: Context, admin: AdminUser, query: Search = None, skip: Skip = 0, limit: Limit = 1000
) -> list[schemas.Container]:
    """Every container, newest first (admin)."""
    return ctx.catalog.list_containers(admin, query, skip=skip, limit=limit)


@containers.post("/", status_code=201, response_model=str, responses=CREATE)
def create_container(ctx: Context, admin: AdminUser, body: schemas.ContainerCreate) -> str:
    """Create a container (admin); answers its URN as a bare JSON string."""
    return ctx.catalog.create_container(admin, body)


@containers.get("/by-urn", response_model=schemas.Container, responses=READ)
def get_container(ctx: Context, admin: AdminUser, urn: UrnQuery) -> schemas.Container:
    """One container with its datasets and sub-containers (admin)."""
    return ctx.catalog.get_container(admin, urn)


@containers.patch("/by-urn", response_model=schemas.Container, responses=READ)
def update_container(
    ctx: Context, admin: AdminUser, urn: UrnQuery, body: schemas.ContainerUpdate
) -> schemas.Container:
    """Change the fields sent (admin)."""
    return ctx.catalog.update_container(admin, urn, body)


@containers.delete("/by-urn", status_code=204, response_class=Response, responses=READ)
def delete_container(ctx: Context, admin: AdminUser, urn: UrnQuery) -> None:
    """Delete a container; its datasets and sub-containers stay (admin)."""
    ctx.catalog.delete_container(admin, urn)


@containers.post("/by-urn/datasets", response_model=schemas.Membership, responses=READ)
def add_member(
    ctx: Context,
    admin: AdminUser,
    container_urn: Annotated[str, Query()],
    body: schemas.MembershipRequest,
) -> schemas.Membership:
    """Put a dataset in the container (admin)."""
    return ctx.catalog.add_dataset_to_container(admin, container_urn, body.dataset_urn)


@containers.delete("/by-urn/datasets", response_model=schemas.Membership, responses=READ)
def remove_member(
    ctx: Context,
    admin: AdminUser,
    container_urn: Annotated[str, Query()],
    dataset_urn: Annotated[str, Query()],
) -> schemas.Membership:
    """Take a dataset out of the container (admin)."""
    return ctx.catalog.remove_dataset_from_container(admin, container_urn, dataset_urn)


def split_member_path(container_urn: str, dataset_urn: str) -> tuple[str, str]:
    """Split `{c}/datasets/{d}` at the first `/datasets/urn:li:` (names may hold `/datasets/`)."""
    joined = f"{container_urn}/datasets/{dataset_urn}"
    head, sep, tail = joined.partition("/datasets/urn:li:")
    if not sep:
        raise BadRequest("Expected .../containers/{container_urn}/datasets/{dataset_urn}")
    return head, "urn:li:" + tail


def _container_path_routes(prefix: str) -> None:
    """`{prefix}{urn}`, `{prefix}{urn}/datasets` and `{prefix}{c}/datasets/{d}`."""

    @containers.post(
        prefix + "{urn:path}/datasets", response_model=schemas.Membership, responses=READ
    )
    def add_member_path(
        ctx: Context, admin: AdminUser, urn: str, body: schemas.MembershipRequest
    ) -> schemas.Membership:
        """Put a dataset in the container (admin; URN in the path)."""
        return ctx.catalog.add_dataset_to_container(admin, urn, body.dataset_urn)

    @containers.delete(
        prefix + "{container_urn:path}/datasets/{dataset_urn:path}",
        response_model=schemas.Membership,
        responses=READ,
    )
    def remove_member_path(
        ctx: Context, admin: AdminUser, container_urn: str, dataset_urn: str
    ) -> schemas.Membership:
        """Take a dataset out of the container (admin; both URNs in the path)."""
        c, d = split_member_path(container_urn, dataset_urn)
        return ctx.catalog.remove_dataset_from_container(admin, c, d)

    @containers.get(prefix + "{urn:path}", response_model=schemas.Container, responses=READ)
    def get_container_path(ctx: Context, admin: AdminUser, urn: str) -> schemas.Container:
        """One container (admin; URN in the path)."""
        return ctx.catalog.get_container(admin, urn)

    @containers.patch(prefix + "{urn:path}", response_model=schemas.Container, responses=READ)
    def update_container_path(
        ctx: Context, admin: AdminUser, urn: str, body: schemas.ContainerUpdate
    ) -> schemas.Container:
        """Change the fields sent (admin; URN in the path)."""
        return ctx.catalog.update_container(admin, urn, body)

    @containers.delete(
        prefix + "{urn:path}", status_code=204, response_class=Response, responses=READ
    )
    def delete_container_path(ctx: Context, admin: AdminUser, urn: str) -> None:
        """Delete a container (admin; URN in the path)."""
        ctx.catalog.delete_container(admin, urn)


_container_path_routes("/v2/")
_container_path_routes("/")


# ---- secrets -----------------------------------------------------------------------------------
@secrets.get("/", response_model=list[schemas.Secret], responses=ADMIN)
def list_secrets(ctx: Context, user: CurrentUser, query: Search = None) -> list[schemas.Secret]:
    """The caller's secrets (an admin: all), without values."""
    return ctx.catalog.list_secrets(user, query)


@secrets.post("/", status_code=201, response_model=str, responses=CREATE)
def create_secret(
    ctx: Context,
    user: CurrentUser,
    body: schemas.SecretCreate,
    clobber: Annotated[bool, Query(description="Replace a secret of the same name.")] = False,
) -> str:
    """Store a secret, encrypted; answers its URN. An existing name → 409 unless `clobber`."""
    return ctx.catalog.create_secret(user, body, clobber=clobber)


@secrets.post(
    "/rotate-key", response_model=schemas.KeyRotation, responses=error_responses(400, 401, 403)
)
def rotate_key(ctx: Context, _: AdminUser) -> schemas.KeyRotation:
    """Re-encrypt every secret from the previous key-encryption key to the current one (admin)."""
    return ctx.catalog.rotate_key()


@secrets.get("/by-urn", response_model=schemas.Secret, responses=READ)
def get_secret(ctx: Context, user: CurrentUser, urn: UrnQuery) -> schemas.Secret:
    """A secret's metadata; the value is never returned."""
    return ctx.catalog.get_secret(user, urn)


@secrets.delete("/by-urn", status_code=204, response_class=Response, responses=READ)
def delete_secret(ctx: Context, user: CurrentUser, urn: UrnQuery) -> None:
    """Delete a secret."""
    ctx.catalog.delete_secret(user, urn)


def _secret_path_routes(prefix: str) -> None:
    @secrets.get(prefix + "{urn:path}", response_model=schemas.Secret, responses=READ)
    def get_secret_path(ctx: Context, user: CurrentUser, urn: str) -> schemas.Secret:
        """A secret's metadata (URN in the path, raw or encoded)."""
        return ctx.catalog.get_secret(user, urn)

    @secrets.delete(prefix + "{urn:path}", status_code=204, response_class=Response, responses=READ)
    def delete_secret_path(ctx: Context, user: CurrentUser, urn: str) -> None:
        """Delete a secret (URN in the path, raw or encoded)."""
        ctx.catalog.delete_secret(user, urn)


_secret_path_routes("/v2/")
_secret_path_routes("/")

router.include_router(datasets)
router.include_router(containers)
router.include_router(secrets)
