"""DataHub URNs of catalog objects, built and parsed with the `datahub` package helpers.

Every URN that enters the service is parsed and turned into its *canonical* form before it is
looked up, so that the forms clients send for the same dataset all find it:

- ``urn:li:dataset:(urn:li:dataPlatform:file,a/b c%2Cd,PROD)`` (what DataHub's builder makes:
  ``,`` ``(`` ``)`` in a name are percent-encoded) and
- ``urn:li:dataset:(urn:li:dataPlatform:file,a/b c,d,PROD)`` (the same name with a raw comma, as a
  path that was decoded once more arrives; platform first, environment last).

A malformed URN raises :class:`waza.errors.BadRequest` with the reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from datahub.emitter.mce_builder import (
    make_container_urn,
    make_data_platform_urn,
    make_dataset_urn,
    make_user_urn,
)
from datahub.metadata.schema_classes import FabricTypeClass
from datahub.metadata.urns import ContainerUrn, CorpUserUrn, DataHubSecretUrn, DataPlatformUrn
from datahub.utilities.urns.error import InvalidUrnError

from waza.errors import BadRequest

DATASET_PREFIX = "urn:li:dataset:("
PLATFORM_PREFIX = "urn:li:dataPlatform:"
MAX_URN_LENGTH = 1024  # the URN columns' size
ENVIRONMENTS = frozenset(v for k, v in vars(FabricTypeClass).items() if k.isupper())
_RESERVED_ENCODED = ("%2C", "%28", "%29", "%2c")


@dataclass(frozen=True)
class DatasetKey:
    """The parts of a dataset URN; ``urn`` is the canonical string."""

    platform: str
    name: str
    env: str
    urn: str


def _bad(kind: str, urn: str, reason: str) -> BadRequest:
    return BadRequest(f"Malformed {kind} URN {urn!r}: {reason}")


def platform_name(platform: str) -> str:
    """``file`` from ``file`` or ``urn:li:dataPlatform:file``."""
    platform = platform.strip()
    if platform.startswith(PLATFORM_PREFIX):
        platform = platform[len(PLATFORM_PREFIX) :]
    if not platform:
        raise BadRequest("platform must not be empty")
    try:
        return DataPlatformUrn.from_string(make_data_platform_urn(platform)).platform_name
    except InvalidUrnError as exc:
        raise BadRequest(f"Invalid platform {platform!r}: {exc}") from exc


def environment(env: str) -> str:
    """A DataHub fabric type (``PROD``, ``DEV``, ...), upper-cased."""
    value = (env or "PROD").strip().upper()
    if value not in ENVIRONMENTS:
        raise BadRequest(
            f"environment {env!r} is not a DataHub environment; use one of "
            + ", ".join(sorted(ENVIRONMENTS))
        )
    return value


def dataset_urn(platform: str, name: str, env: str = "PROD") -> str:
    """The canonical URN of a dataset (``make_dataset_urn``)."""
    if not name or not name.strip():
        raise BadRequest("dataset name must not be empty")
    try:
        urn = make_dataset_urn(platform_name(platform), name, environment(env))
    except InvalidUrnError as exc:
        raise BadRequest(f"Cannot build a dataset URN for {name!r}: {exc}") from exc
    if len(urn) > MAX_URN_LENGTH:
        raise BadRequest(f"The dataset URN would be longer than {MAX_URN_LENGTH} characters")
    return urn


def decode_name(encoded: str) -> str:
    """A dataset name as written, from the (percent-encoded) name part of its URN."""
    if not any(code in encoded for code in _RESERVED_ENCODED):
        return encoded
    return encoded.replace("%2C", ",").replace("%2c", ",").replace("%28", "(").replace("%29", ")")


def parse_dataset_urn(urn: str) -> DatasetKey:
    """Split a dataset URN into platform, name and environment; 400 when it is not one."""
    urn = (urn or "").strip()
    if not urn.startswith(DATASET_PREFIX) or not urn.endswith(")"):
        raise _bad(
            "dataset", urn, "expected urn:li:dataset:(urn:li:dataPlatform:<platform>,<name>,<ENV>)"
        )
    if len(urn) > 4 * MAX_URN_LENGTH:
        raise _bad("dataset", urn[:80] + "...", "too long")
    inner = urn[len(DATASET_PREFIX) : -1]
    platform_part, sep, rest = inner.partition(",")
    name, sep2, env = rest.rpartition(",")
    if not sep or not sep2 or not platform_part.startswith(PLATFORM_PREFIX):
        raise _bad("dataset", urn, "expected a platform URN, a name and an environment")
    if not name:
        raise _bad("dataset", urn, "the name is empty")
    try:
        platform = platform_name(platform_part)
        env = environment(env)
    except BadRequest as exc:
        raise _bad("dataset", urn, str(exc.detail)) from exc
    canonical = make_dataset_urn(platform, name, env)
    return DatasetKey(platform=platform, name=decode_name(name), env=env, urn=canonical)


def canonical_dataset_urn(urn: str) -> str:
    return parse_dataset_urn(urn).urn


def container_urn(name: str, platform: str | None, parent_urn: str | None) -> str:
    """A container URN whose id is a stable hash of its platform, name and parent.

    The same name under the same parent and platform is the same container (DataHub builds
    container URNs from a hash of their key the same way).
    """
    key = {"platform": platform or "", "name": name, "parent": parent_urn or ""}
    guid = hashlib.md5(json.dumps(key, sort_keys=True).encode(), usedforsecurity=False)
    return make_container_urn(guid.hexdigest())


def canonical_container_urn(urn: str) -> str:
    """The container URN as stored; 400 when it is not a container URN."""
    urn = (urn or "").strip()
    try:
        return ContainerUrn.from_string(urn).urn()
    except InvalidUrnError as exc:
        raise _bad("container", urn, f"{exc} (expected urn:li:container:<id>)") from exc


def secret_urn(name: str) -> str:
    """``urn:li:dataHubSecret:<name>``."""
    try:
        return DataHubSecretUrn(name).urn()
    except InvalidUrnError as exc:
        raise BadRequest(f"Invalid secret name {name!r}: {exc}") from exc


def parse_secret_urn(urn: str) -> str:
    """The secret's name; 400 when ``urn`` is not a ``urn:li:dataHubSecret:`` URN."""
    urn = (urn or "").strip()
    try:
        return DataHubSecretUrn.from_string(urn).id
    except InvalidUrnError as exc:
        raise _bad("secret", urn, f"{exc} (expected urn:li:dataHubSecret:<name>)") from exc


def canonical_secret_urn(urn: str) -> str:
    return secret_urn(parse_secret_urn(urn))


def user_urn(owner: str) -> str:
    """A corpuser URN from a URN or a bare username; 400 for any other kind of URN."""
    owner = (owner or "").strip()
    if not owner:
        raise BadRequest("owner must not be empty")
    if not owner.startswith("urn:li:"):
        return make_user_urn(owner)
    try:
        return CorpUserUrn.from_string(owner).urn()
    except InvalidUrnError as exc:
        raise BadRequest(f"owner must be a urn:li:corpuser:<name> URN: {exc}") from exc
