"""Credentials: argon2 password hashing, RS256 signing keys (JWKS) and opaque PAT secrets."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from waza.crypto import DecryptionError, Envelope
from waza.db import Database
from waza.errors import INVALID_TOKEN, TOKEN_EXPIRED, Unauthorized
from waza.services.auth.models import SigningKey

PAT_PREFIX = "wzp_"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-ish time: an unknown user still costs one argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_pat_secret() -> str:
    return PAT_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """PAT secrets are 256-bit random values, so one SHA-256 is the right (fast) hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def _b64u_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class KeyRing:
    """RS256 keys: generated once, stored encrypted in the database, published as JWKS."""

    def __init__(
        self,
        db: Database,
        envelope: Envelope,
        issuer: str,
        audience: str,
        previous: Envelope | None = None,
    ) -> None:
        self._db = db
        self._envelope = envelope
        self._previous = previous  # the key-encryption key before a rotation
        self.issuer = issuer
        self.audience = audience
        self._lock = threading.Lock()
        self._public: dict[str, Any] = {}
        self._signing: tuple[str, Any] | None = None

    def _load(self) -> None:
        with self._db.session() as s:
            rows = s.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())).all()
        if not rows:
            self._db.transaction(self._create_key)
            with self._db.session() as s:
                rows = s.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())).all()
        public: dict[str, Any] = {}
        signing: tuple[str, Any] | None = None
        for row in rows:
            pem = self._private_pem(row)
            private = serialization.load_pem_private_key(pem, password=None)
            public[row.kid] = private.public_key()
            if signing is None and row.active:
                signing = (row.kid, private)
        self._public, self._signing = public, signing

    def _private_pem(self, row: SigningKey) -> bytes:
        """Decrypt a private key; one wrapped by the previous key is re-wrapped with the current."""
        try:
            return self._envelope.decrypt(row.private_key_encrypted)
        except DecryptionError:
            if self._previous is None:
                raise
        pem = self._previous.decrypt(row.private_key_encrypted)
        rewrapped = self._envelope.encrypt(pem)

        def work(session: Any) -> None:
            stored = session.get(SigningKey, row.kid)
            if stored is not None:
                stored.private_key_encrypted = rewrapped

        self._db.transaction(work)
        return pem

    def _create_key(self, session: Any) -> None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = private.public_key().public_numbers()
        kid = uuid.uuid4().hex
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        jwk = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": _b64u_int(numbers.n),
            "e": _b64u_int(numbers.e),
        }
        session.add(
            SigningKey(kid=kid, private_key_encrypted=self._envelope.encrypt(pem), public_jwk=jwk)
        )

    def ensure_loaded(self) -> None:
        with self._lock:
            if self._signing is None:
                self._load()

    def jwks(self) -> list[dict[str, str]]:
        with self._db.session() as s:
            return [dict(k.public_jwk) for k in s.scalars(select(SigningKey)).all()]

    def sign(self, claims: dict[str, Any], ttl: int) -> str:
        self.ensure_loaded()
        assert self._signing is not None
        kid, private = self._signing
        now = datetime.now(UTC)
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=ttl),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(payload, private, algorithm="RS256", headers={"kid": kid})

    def decode(self, token: str, expected_type: str) -> dict[str, Any]:
        """Verify signature, expiry, issuer, audience and token type, or raise Unauthorized."""
        self.ensure_loaded()
        try:
            kid = str(jwt.get_unverified_header(token).get("kid"))
            key = self._public.get(kid)
            if key is None:  # a key created by another process since we loaded
                with self._lock:
                    self._load()
                key = self._public.get(kid)
            if key is None:
                raise Unauthorized(INVALID_TOKEN)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized(TOKEN_EXPIRED) from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(INVALID_TOKEN) from exc
        if claims.get("typ") != expected_type:
            raise Unauthorized(INVALID_TOKEN)
        return claims
