"""Request and response bodies of the catalog, shaped like kamiwaza-sdk 1.3's catalog models.

Extra response fields (`owner`, `created_by`) are ignored by the SDK. A secret's value appears
only in `SecretCreate` (a `SecretStr`, masked in reprs and logs); no response carries it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class SchemaField(BaseModel):
    name: str = Field(min_length=1)
    type: str = Field(min_length=1, description="Native type, e.g. `string`, `int64`.")
    description: str | None = None


class Schema(BaseModel):
    """A dataset's field list; `version` is set by the server when omitted."""

    name: str
    platform: str
    version: int | None = None
    fields: list[SchemaField]


class DatasetCreate(BaseModel):
    name: str = Field(min_length=1, max_length=900, description="May contain `/`, spaces, `,`.")
    platform: str = Field(min_length=1, max_length=200, description="e.g. `file`, `s3`.")
    environment: str = "PROD"
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    properties: dict[str, Any] = Field(
        default_factory=dict, description="Free-form; `path` and `location` are kept equal."
    )
    dataset_schema: Schema | None = None
    container_urn: str | None = None


class Dataset(DatasetCreate):
    urn: str
    owner: str | None = Field(default=None, description="corpuser URN of the creator.")
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DatasetUpdate(BaseModel):
    """Only the fields sent change; `container_urn: null` takes the dataset out of its container."""

    description: str | None = None
    tags: list[str] | None = None
    properties: dict[str, Any] | None = None
    dataset_schema: Schema | None = None
    container_urn: str | None = None


class ContainerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=512)
    platform: str | None = Field(default=None, max_length=200)
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)
    parent_urn: str | None = None


class Container(ContainerCreate):
    urn: str
    sub_containers: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ContainerUpdate(BaseModel):
    """Only the fields sent change; `parent_urn: null` makes the container top-level."""

    name: str | None = Field(default=None, min_length=1, max_length=512)
    description: str | None = None
    tags: list[str] | None = None
    properties: dict[str, Any] | None = None
    parent_urn: str | None = None


class MembershipRequest(BaseModel):
    dataset_urn: str


class Membership(BaseModel):
    """The container's datasets after a membership change."""

    container_urn: str
    dataset_urn: str
    member: bool
    datasets: list[str]


class SecretCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f?#%]+$")
    value: SecretStr = Field(description="Stored encrypted; never returned.")
    owner: str | None = Field(
        default=None,
        max_length=200,
        description="corpuser URN (or username); defaults to the caller. Only admins may name "
        "someone else.",
    )
    description: str | None = None


class Secret(BaseModel):
    urn: str
    name: str
    owner: str | None = None
    description: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class KeyRotation(BaseModel):
    """Outcome of re-wrapping every stored secret under the current key-encryption key."""

    rotated: int = Field(description="Secrets moved from the previous key to the current one.")
    already_current: int = Field(description="Secrets already under the current key.")
    failed: list[str] = Field(
        default_factory=list, description="URNs that neither key can decrypt (left untouched)."
    )


class Publisher(BaseModel):
    subject_user_id: str = Field(min_length=1, max_length=128)


class PublisherChange(BaseModel):
    subject_user_id: str
    publisher: bool


class ConnectorAuth(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: str = "none"
    credential_ref: str | None = Field(
        default=None, description="A catalog secret URN, never a secret value."
    )


class ConnectorSpec(BaseModel):
    """A connector spec (`connector-spec.v1`) registered as a governed dataset.

    The spec is recorded in the dataset's properties; nothing is fetched at registration.
    """

    model_config = ConfigDict(extra="allow")

    spec_version: str = "connector-spec.v1"
    platform: str = Field(min_length=1, max_length=200)
    base_url: str = Field(pattern=r"^https?://.+")
    index: str = Field(min_length=1, max_length=900)
    name: str | None = Field(
        default=None, min_length=1, max_length=900, description="Dataset name; default `index`."
    )
    description: str | None = None
    environment: str = "PROD"
    auth: ConnectorAuth = Field(default_factory=ConnectorAuth)
    tags: list[str] = Field(default_factory=list)
