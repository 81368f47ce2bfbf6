"""`client.catalog`: datasets, containers (admin) and secrets, addressed by DataHub URN.

urn = client.catalog.create_dataset("reports/2024 q1.csv", "file", properties={"path": p})
client.catalog.datasets(query="q1")
client.catalog.create_secret("warehouse-password", getpass())   # value never comes back
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from waza.client.base import Transport, drop_none
from waza.services.catalog import schemas


class CatalogAPI:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def health(self) -> dict[str, Any]:
        return self._t.json("GET", "catalog/health", auth=False)

    # ---- datasets -------------------------------------------------------------------------------
    def datasets(
        self, query: str | None = None, skip: int = 0, limit: int = 1000
    ) -> list[schemas.Dataset]:
        """Your datasets (an admin: all), newest first; `query` searches name, description, tags."""
        params = drop_none(query=query, skip=skip, limit=limit)
        return self._t.parse(list[schemas.Dataset], "GET", "catalog/datasets/", params=params)

    def dataset(self, urn: str) -> schemas.Dataset:
        return self._t.parse(schemas.Dataset, "GET", "catalog/datasets/by-urn", params={"urn": urn})

    def create_dataset(
        self,
        name: str,
        platform: str = "file",
        *,
        environment: str = "PROD",
        description: str | None = None,
        tags: list[str] | None = None,
        properties: dict[str, Any] | None = None,
        dataset_schema: schemas.Schema | None = None,
        container_urn: str | None = None,
    ) -> str:
        """Register a dataset; returns its URN."""
        body = schemas.DatasetCreate(
            name=name,
            platform=platform,
            environment=environment,
            description=description,
            tags=tags or [],
            properties=properties or {},
            dataset_schema=dataset_schema,
            container_urn=container_urn,
        )
        payload = body.model_dump(mode="json", exclude_none=True)
        return str(self._t.json("POST", "catalog/datasets/", json=payload))

    def update_dataset(self, urn: str, **fields: Any) -> schemas.Dataset:
        """Change `description`, `tags`, `properties`, `dataset_schema` or `container_urn`."""
        body = schemas.DatasetUpdate(**fields).model_dump(mode="json", exclude_unset=True)
        params = {"urn": urn}
        return self._t.parse(
            schemas.Dataset, "PATCH", "catalog/datasets/by-urn", params=params, json=body
        )

    def delete_dataset(self, urn: str) -> None:
        self._t.send("DELETE", "catalog/datasets/by-urn", params={"urn": urn})

    def schema(self, urn: str) -> schemas.Schema:
        path = "catalog/datasets/by-urn/schema"
        return self._t.parse(schemas.Schema, "GET", path, params={"urn": urn})

    def put_schema(self, urn: str, schema: schemas.Schema) -> schemas.Schema:
        path, body = "catalog/datasets/by-urn/schema", schema.model_dump(mode="json")
        return self._t.parse(schemas.Schema, "PUT", path, params={"urn": urn}, json=body)

    def register_from_spec(self, spec: dict[str, Any]) -> str:
        """Register a connector spec (`connector-spec.v1`) as a dataset; returns its URN."""
        return str(self._t.json("POST", "catalog/datasets/register-from-spec", json=spec))

    # ---- containers (admin) ---------------------------------------------------------------------
    def containers(self, query: str | None = None) -> list[schemas.Container]:
        params = drop_none(query=query)
        return self._t.parse(list[schemas.Container], "GET", "catalog/containers/", params=params)

    def container(self, urn: str) -> schemas.Container:
        path = "catalog/containers/by-urn"
        return self._t.parse(schemas.Container, "GET", path, params={"urn": urn})

    def create_container(
        self,
        name: str,
        *,
        platform: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        properties: dict[str, Any] | None = None,
        parent_urn: str | None = None,
    ) -> str:
        body = schemas.ContainerCreate(
            name=name,
            platform=platform,
            description=description,
            tags=tags or [],
            properties=properties or {},
            parent_urn=parent_urn,
        )
        payload = body.model_dump(mode="json", exclude_none=True)
        return str(self._t.json("POST", "catalog/containers/", json=payload))

    def update_container(self, urn: str, **fields: Any) -> schemas.Container:
        """Change `name`, `description`, `tags`, `properties` or `parent_urn`."""
        body = schemas.ContainerUpdate(**fields).model_dump(mode="json", exclude_unset=True)
        path = "catalog/containers/by-urn"
        return self._t.parse(schemas.Container, "PATCH", path, params={"urn": urn}, json=body)

    def delete_container(self, urn: str) -> None:
        self._t.send("DELETE", "catalog/containers/by-urn", params={"urn": urn})

    def add_dataset(self, container_urn: str, dataset_urn: str) -> schemas.Membership:
        return self._t.parse(
            schemas.Membership,
            "POST",
            "catalog/containers/by-urn/datasets",
            params={"container_urn": container_urn},
            json={"dataset_urn": dataset_urn},
        )

    def remove_dataset(self, container_urn: str, dataset_urn: str) -> schemas.Membership:
        return self._t.parse(
            schemas.Membership,
            "DELETE",
            "catalog/containers/by-urn/datasets",
            params={"container_urn": container_urn, "dataset_urn": dataset_urn},
        )

    # ---- secrets --------------------------------------------------------------------------------
    def secrets(self, query: str | None = None) -> list[schemas.Secret]:
        params = drop_none(query=query)
        return self._t.parse(list[schemas.Secret], "GET", "catalog/secrets/", params=params)

    def secret(self, urn: str) -> schemas.Secret:
        """A secret's metadata; the value is never returned."""
        path = "catalog/secrets/by-urn"
        return self._t.parse(schemas.Secret, "GET", path, params={"urn": urn})

    def create_secret(
        self,
        name: str,
        value: str | SecretStr,
        *,
        owner: str | None = None,
        description: str | None = None,
        clobber: bool = False,
    ) -> str:
        """Store a secret (encrypted on the server); returns its URN. `clobber` replaces one."""
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        body = drop_none(name=name, value=plain, owner=owner, description=description)
        params = {"clobber": str(clobber).lower()}
        return str(self._t.json("POST", "catalog/secrets/", params=params, json=body))

    def delete_secret(self, urn: str) -> None:
        self._t.send("DELETE", "catalog/secrets/by-urn", params={"urn": urn})

    def rotate_key(self) -> schemas.KeyRotation:
        """Re-encrypt every secret from the previous key to the current one (admin)."""
        return self._t.parse(schemas.KeyRotation, "POST", "catalog/secrets/rotate-key")
