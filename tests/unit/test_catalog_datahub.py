"""DataHub GMS sync of the catalog.

No DataHub GMS can run here, so the metadata change proposals are captured with the `datahub`
package's own `SynchronizedFileEmitter` (it writes them to a JSON file in DataHub's MCP format)
and read back with its file reader. The failure path uses the real `DatahubRestEmitter` against a
port where nothing listens.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datahub.emitter.synchronized_file_emitter import SynchronizedFileEmitter
from datahub.ingestion.source.file import read_metadata_file
from datahub.metadata import schema_classes as dh
from fastapi.testclient import TestClient

from tests.conftest import free_port, login
from waza.services.catalog import schemas
from waza.services.catalog.datahub_sync import DataHubSync, dataset_mcps
from waza.settings import Settings

Headers = dict[str, str]


def emitted(path: Path) -> list[tuple[str, Any]]:
    """(entity URN, aspect) of every MCP in the file, in emit order."""
    return [(mcp.entityUrn, mcp.aspect) for mcp in read_metadata_file(path)]  # type: ignore[union-attr]


def aspects_of(records: list[tuple[str, Any]], urn: str, kind: type) -> list[Any]:
    return [a for u, a in records if u == urn and isinstance(a, kind)]


def test_changes_are_emitted_as_mcps(
    client: TestClient, admin_headers: Headers, tmp_path: Path
) -> None:
    client.cookies.clear()
    out = tmp_path / "mcps.json"
    catalog = client.app.state.waza.catalog  # type: ignore[attr-defined]
    assert catalog.sync is None  # off unless WAZA_DATAHUB_GMS_URL is set
    catalog.sync = DataHubSync(lambda: SynchronizedFileEmitter(str(out)))
    h = admin_headers

    container = client.post(
        "/api/catalog/containers/", json={"name": "lake", "platform": "s3"}, headers=h
    ).json()
    body = {
        "name": "raw/events, 2024",
        "platform": "file",
        "description": "events",
        "tags": ["pii"],
        "properties": {"path": "/data/events", "rows": 3},
        "container_urn": container,
        "dataset_schema": {
            "name": "events",
            "platform": "file",
            "fields": [{"name": "id", "type": "int64"}, {"name": "at", "type": "timestamp"}],
        },
    }
    urn = client.post("/api/catalog/datasets/", json=body, headers=h).json()
    client.patch(
        "/api/catalog/datasets/by-urn", params={"urn": urn}, json={"description": "v2"}, headers=h
    )
    client.delete("/api/catalog/datasets/by-urn", params={"urn": urn}, headers=h)
    client.delete("/api/catalog/containers/by-urn", params={"urn": container}, headers=h)
    catalog.sync.flush()
    records = emitted(out)

    (props, updated) = aspects_of(records, urn, dh.DatasetPropertiesClass)
    assert (props.name, props.description) == ("raw/events, 2024", "events")
    assert props.customProperties == {
        "path": "/data/events",
        "location": "/data/events",
        "rows": "3",
    }
    assert updated.description == "v2"
    assert aspects_of(records, urn, dh.GlobalTagsClass)[0].tags[0].tag == "urn:li:tag:pii"
    assert aspects_of(records, urn, dh.ContainerClass)[0].container == container
    schema = aspects_of(records, urn, dh.SchemaMetadataClass)[0]
    assert [(f.fieldPath, f.nativeDataType) for f in schema.fields] == [
        ("id", "int64"),
        ("at", "timestamp"),
    ]
    assert isinstance(schema.fields[0].type.type, dh.NumberTypeClass)
    assert isinstance(schema.fields[1].type.type, dh.TimeTypeClass)
    owners = aspects_of(records, urn, dh.OwnershipClass)[0].owners
    assert [o.owner for o in owners] == ["urn:li:corpuser:admin"]
    assert [s.removed for s in aspects_of(records, urn, dh.StatusClass)] == [False, False, True]

    cprops = aspects_of(records, container, dh.ContainerPropertiesClass)[0]
    assert cprops.name == "lake"
    platform = aspects_of(records, container, dh.DataPlatformInstanceClass)[0]
    assert platform.platform == "urn:li:dataPlatform:s3"
    assert aspects_of(records, container, dh.StatusClass)[-1].removed is True
    assert catalog.sync.emitted == len(records) and catalog.sync.failed == 0


def test_unreachable_gms_never_fails_a_call(
    make_settings: Callable[..., Settings],
) -> None:
    """A configured but absent GMS: the catalog still answers; the failures are counted."""
    from waza.gateway.app import create_app

    settings = make_settings(datahub_gms_url=f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as client:
        h = login(client, "admin", "admin-test-pw-1")
        catalog = client.app.state.waza.catalog  # type: ignore[attr-defined]
        assert catalog.sync is not None
        name = f"ds-{uuid.uuid4().hex[:6]}"
        reply = client.post(
            "/api/catalog/datasets/", json={"name": name, "platform": "file"}, headers=h
        )
        assert reply.status_code == 201
        catalog.sync.flush()
        assert catalog.sync.failed >= 1 and catalog.sync.emitted == 0
        got = client.get("/api/catalog/datasets/by-urn", params={"urn": reply.json()}, headers=h)
        assert got.status_code == 200


def test_schema_field_types_map_to_datahub_types() -> None:
    ds = schemas.Dataset(
        urn="urn:li:dataset:(urn:li:dataPlatform:file,t,PROD)",
        name="t",
        platform="file",
        dataset_schema=schemas.Schema(
            name="t",
            platform="file",
            fields=[
                schemas.SchemaField(name=n, type=t)
                for n, t in [
                    ("a", "VARCHAR(20)"),
                    ("b", "bool"),
                    ("c", "list<string>"),
                    ("d", "struct<x:int>"),
                    ("e", "date"),
                    ("f", "geometry"),
                ]
            ],
        ),
    )
    (schema,) = [m.aspect for m in dataset_mcps(ds) if isinstance(m.aspect, dh.SchemaMetadataClass)]
    kinds = [type(f.type.type) for f in schema.fields]
    assert kinds == [
        dh.StringTypeClass,
        dh.BooleanTypeClass,
        dh.ArrayTypeClass,
        dh.RecordTypeClass,
        dh.DateTypeClass,
        dh.StringTypeClass,
    ]
