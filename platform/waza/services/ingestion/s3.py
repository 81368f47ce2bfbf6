"""S3 (and S3-compatible) access with boto3: listing for ingestion, downloads for retrieval.

Credentials, first found wins: explicit keys (`aws_access_key_id`, `aws_secret_access_key`,
optional `aws_session_token`); a catalog secret URN (`credentials_secret_urn`, also
`secret_urn`) whose value is a JSON object with those keys or `ACCESS_KEY:SECRET_KEY`;
`anonymous: true` (unsigned requests, public buckets). Only admins may fall back to the
server's own AWS credentials (environment, instance profile): a user must bring theirs, so the
platform's identity never reads a bucket on a user's behalf. Raw keys are never stored: datasets
record the bucket, key, endpoint, region and the secret URN (if one was used).

`client_factory` builds the boto3 client; tests replace it (no S3 can run on the build machine).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from waza.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, WazaError
from waza.gateway.principal import Principal

SecretReader = Callable[[Principal, str], str]
_KEY_FIELDS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
_DENIED = {
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "403",
}
_MISSING = {"NoSuchBucket", "NoSuchKey", "404", "NotFound"}


def default_client_factory(**kwargs: Any) -> Any:
    import boto3
    from botocore.config import Config

    anonymous = kwargs.pop("anonymous", False)
    config = Config(
        connect_timeout=10,
        read_timeout=60,
        retries={"max_attempts": 2},
        signature_version=_unsigned() if anonymous else None,
    )
    return boto3.session.Session().client("s3", config=config, **kwargs)


def _unsigned() -> Any:
    from botocore import UNSIGNED

    return UNSIGNED


client_factory: Callable[..., Any] = default_client_factory


@dataclass(frozen=True)
class S3Location:
    """Where objects live and how to reach them (no secret values)."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    secret_urn: str | None = None
    anonymous: bool = False

    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {"bucket": self.bucket}
        if self.endpoint_url:
            props["endpoint_url"] = self.endpoint_url
        if self.region:
            props["region"] = self.region
        if self.secret_urn:
            props["credentials_secret_urn"] = self.secret_urn
        if self.anonymous:
            props["anonymous"] = True
        return props


def parse_credentials(value: str) -> dict[str, str]:
    """Keys from a JSON object or `ACCESS:SECRET`; 400 when neither."""
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequest("S3 credentials are not valid JSON") from exc
        aliases = {
            "access_key_id": "aws_access_key_id",
            "access_key": "aws_access_key_id",
            "secret_access_key": "aws_secret_access_key",
            "secret_key": "aws_secret_access_key",
            "session_token": "aws_session_token",
        }
        keys = {aliases.get(k, k): str(v) for k, v in data.items() if v}
        creds = {k: keys[k] for k in _KEY_FIELDS if k in keys}
    elif ":" in text:
        access, secret = text.split(":", 1)
        creds = {"aws_access_key_id": access, "aws_secret_access_key": secret}
    else:
        creds = {}
    if not creds.get("aws_access_key_id") or not creds.get("aws_secret_access_key"):
        raise BadRequest(
            "S3 credentials need aws_access_key_id and aws_secret_access_key "
            '(a JSON object, or "ACCESS_KEY:SECRET_KEY")'
        )
    return creds


def credentials(
    principal: Principal,
    args: dict[str, Any],
    reveal: SecretReader,
    override: str | None = None,
) -> tuple[dict[str, str], str | None, bool]:
    """(boto3 key arguments, secret URN used, anonymous) for a caller; see the module doc."""
    if override:
        return parse_credentials(override), None, False
    if args.get("aws_access_key_id") or args.get("aws_secret_access_key"):
        creds = {k: str(args[k]) for k in _KEY_FIELDS if args.get(k)}
        if len(creds) < 2:
            raise BadRequest("Give both aws_access_key_id and aws_secret_access_key")
        return creds, None, False
    urn = args.get("credentials_secret_urn") or args.get("secret_urn")
    if urn:
        return parse_credentials(reveal(principal, str(urn))), str(urn), False
    if args.get("anonymous"):
        return {}, None, True
    if principal.is_admin:
        return {}, None, False  # the server's own credential chain
    raise BadRequest(
        "S3 access needs credentials: aws_access_key_id and aws_secret_access_key, a catalog "
        "secret URN in credentials_secret_urn, or anonymous=true for a public bucket"
    )


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(f"endpoint_url {url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


def check_endpoint(endpoint_url: str | None, principal: Principal, allowed: Sequence[str]) -> None:
    """Refuse (403) an S3 endpoint a non-admin names unless the platform allows it.

    The platform makes the request, so an arbitrary endpoint would let any user probe hosts
    only the server can reach (SSRF). Admins may name any; `WAZA_S3_ENDPOINTS` lists the
    others'.
    """
    if not endpoint_url:
        return
    origin = _origin(endpoint_url)
    if principal.is_admin or origin in {_origin(a) for a in allowed}:
        return
    raise Forbidden(
        f"S3 endpoint {origin} is not allowed here; an admin can allow it in WAZA_S3_ENDPOINTS"
    )


def client(location: S3Location, creds: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = dict(creds)
    if location.endpoint_url:
        kwargs["endpoint_url"] = location.endpoint_url
    if location.region:
        kwargs["region_name"] = location.region
    if location.anonymous:
        kwargs["anonymous"] = True
    try:
        return client_factory(**kwargs)
    except Exception as exc:
        raise BadRequest(f"Cannot configure the S3 client: {exc}") from exc


def error(exc: Exception, what: str) -> WazaError:
    """A boto3/botocore failure as a platform error."""
    from botocore.exceptions import ClientError, NoCredentialsError, ParamValidationError

    if isinstance(exc, WazaError):
        return exc
    if isinstance(exc, NoCredentialsError):
        return BadRequest(f"No S3 credentials available for {what}")
    if isinstance(exc, ParamValidationError):
        return BadRequest(f"Invalid S3 request for {what}: {exc}")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        message = exc.response.get("Error", {}).get("Message") or code
        if code in _MISSING:
            return NotFound(f"S3 {what} not found: {message}")
        if code in _DENIED:
            return Forbidden(f"S3 refused access to {what}: {message}")
        return ServiceUnavailable(f"S3 failed on {what}: {code} {message}".strip())
    return ServiceUnavailable(f"S3 is unreachable for {what}: {exc}")


def list_objects(s3: Any, bucket: str, prefix: str, recursive: bool) -> list[dict[str, Any]]:
    """Objects under a prefix (folder markers left out); not recursive: one level only."""
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if not recursive:
        params["Delimiter"] = "/"
    found: list[dict[str, Any]] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(**params):
            found.extend(o for o in page.get("Contents", []) if not o["Key"].endswith("/"))
    except Exception as exc:
        raise error(exc, f"bucket {bucket!r}") from exc
    return found


def read_object(s3: Any, bucket: str, key: str) -> bytes:
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        raise error(exc, f"s3://{bucket}/{key}") from exc
    return body
