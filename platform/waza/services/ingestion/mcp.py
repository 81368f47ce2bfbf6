"""Metadata change proposals (`POST /ingestion/ingest/emit`): checked, stored, forwarded.

An MCP is a DataHub change to one aspect of one entity. Accepted forms: DataHub's serialised
form (`aspect: {value: "<json>", contentType}`), `aspect: {json: {...}}`, or the aspect's
fields directly (`aspect: {...}`). The check is deliberately small: an entity URN, an aspect
name, a known change type, and, for aspects DataHub defines, fields that fit its schema (parsed
with `acryl-datahub`). Accepted MCPs are stored and, when the catalog syncs to a DataHub GMS,
forwarded to it. They do not change the local catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from waza.errors import BadRequest, Unprocessable

CHANGE_TYPES = frozenset(
    {"UPSERT", "CREATE", "CREATE_ENTITY", "UPDATE", "DELETE", "PATCH", "RESTATE"}
)


@dataclass
class ParsedMCP:
    entity_urn: str
    entity_type: str
    aspect_name: str
    change_type: str
    payload: dict[str, Any]
    proposal: Any
    """The `acryl-datahub` object to emit (a wrapper, or a generic proposal)."""


def _aspect(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("mcp.aspect must be an object")
    if "value" in value and "contentType" in value:
        return {"value": value["value"], "contentType": value["contentType"]}
    if set(value) == {"json"}:
        return value
    return {"json": value}


def parse(mcp: dict[str, Any]) -> ParsedMCP:
    """Check an MCP; 400 when a required part is missing, 422 when DataHub's schema rejects it."""
    from datahub.emitter.mcp import MetadataChangeProposalWrapper

    urn = mcp.get("entityUrn") or mcp.get("entity_urn")
    if not isinstance(urn, str) or not urn.startswith("urn:li:") or urn.count(":") < 3:
        raise BadRequest("mcp.entityUrn must be a DataHub URN (urn:li:<type>:<id>)")
    entity_type = mcp.get("entityType") or mcp.get("entity_type") or urn.split(":")[2]
    aspect_name = mcp.get("aspectName") or mcp.get("aspect_name")
    if not isinstance(aspect_name, str) or not aspect_name.strip():
        raise BadRequest("mcp.aspectName is required (e.g. datasetProperties)")
    change_type = str(mcp.get("changeType") or mcp.get("change_type") or "UPSERT").upper()
    if change_type not in CHANGE_TYPES:
        raise BadRequest(
            f"mcp.changeType {change_type!r} is not one of {', '.join(sorted(CHANGE_TYPES))}"
        )
    payload: dict[str, Any] = {
        "entityType": str(entity_type),
        "entityUrn": urn,
        "changeType": change_type,
        "aspectName": aspect_name,
    }
    if mcp.get("aspect") is not None:
        payload["aspect"] = _aspect(mcp["aspect"])
    elif change_type != "DELETE":
        raise BadRequest("mcp.aspect is required")
    try:
        proposal = MetadataChangeProposalWrapper.from_obj(payload)
    except Exception as exc:  # avro/JSON errors of many kinds: all mean "does not fit"
        raise Unprocessable(
            f"mcp aspect {aspect_name!r} does not fit DataHub's schema: {exc}"[:1000]
        ) from exc
    return ParsedMCP(urn, str(entity_type), aspect_name, change_type, payload, proposal)
