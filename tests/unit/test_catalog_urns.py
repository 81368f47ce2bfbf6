"""URN building and parsing of the catalog (DataHub helpers underneath)."""

from __future__ import annotations

import pytest
from datahub.emitter.mce_builder import make_dataset_urn

from waza.errors import BadRequest
from waza.services.catalog import urns


@pytest.mark.parametrize(
    "name", ["t", "a/b/c.csv", "with space", "a,b", "f(1).txt", "/tmp/x y/z,1.parquet"]
)
def test_dataset_urn_round_trip(name: str) -> None:
    urn = urns.dataset_urn("file", name, "prod")
    assert urn == make_dataset_urn("file", name, "PROD")
    key = urns.parse_dataset_urn(urn)
    assert (key.platform, key.name, key.env, key.urn) == ("file", name, "PROD", urn)


def test_raw_reserved_characters_parse_to_the_canonical_urn() -> None:
    canonical = urns.dataset_urn("s3", "bucket/a,b (c)", "DEV")
    raw = "urn:li:dataset:(urn:li:dataPlatform:s3,bucket/a,b (c),dev)"
    assert urns.canonical_dataset_urn(raw) == canonical
    assert urns.platform_name("urn:li:dataPlatform:s3") == "s3"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "dataset",
        "urn:li:dataset:x",
        "urn:li:dataset:(urn:li:dataPlatform:file,x)",
        "urn:li:dataset:(file,x,PROD)",
        "urn:li:dataset:(urn:li:dataPlatform:file,x,MARS)",
        "urn:li:dataset:(urn:li:dataPlatform:,x,PROD)",
    ],
)
def test_malformed_dataset_urns(bad: str) -> None:
    with pytest.raises(BadRequest, match="Malformed dataset URN"):
        urns.parse_dataset_urn(bad)


def test_containers_and_secrets() -> None:
    first = urns.container_urn("box", "file", None)
    assert first.startswith("urn:li:container:") and len(first.rsplit(":", 1)[1]) == 32
    assert urns.container_urn("box", "file", None) == first  # stable
    assert urns.container_urn("box", "file", first) != first  # the parent is part of the key
    assert urns.canonical_container_urn(f"  {first} ") == first
    with pytest.raises(BadRequest, match="Malformed container URN"):
        urns.canonical_container_urn("urn:li:dataset:(urn:li:dataPlatform:file,x,PROD)")

    assert urns.secret_urn("db pass") == "urn:li:dataHubSecret:db pass"
    assert urns.parse_secret_urn("urn:li:dataHubSecret:a/b") == "a/b"
    with pytest.raises(BadRequest, match="Malformed secret URN"):
        urns.parse_secret_urn("urn:li:corpuser:x")


def test_owner_urns() -> None:
    assert urns.user_urn("alice") == "urn:li:corpuser:alice"
    assert urns.user_urn("urn:li:corpuser:bob") == "urn:li:corpuser:bob"
    with pytest.raises(BadRequest):
        urns.user_urn("urn:li:corpGroup:admins")
