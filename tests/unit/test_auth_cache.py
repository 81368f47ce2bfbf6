"""The principal cache: off until a bus is attached, bounded, race-safe, expiry-aware."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from waza.gateway.principal import Principal
from waza.kv import EmbeddedKV
from waza.services.auth.cache import PrincipalCache


def _principal() -> Principal:
    return Principal(user_id=uuid.uuid4(), username="u", roles=("user",), method="pat")


def test_disabled_until_attached(tmp_path: Path) -> None:
    cache = PrincipalCache(ttl=30)
    cache.put("k", _principal(), None, cache.generation)
    assert cache.get("k") is None
    with EmbeddedKV(tmp_path / "kv.sqlite", "t") as kv:
        cache.attach(kv)
        cache.put("k", p := _principal(), None, cache.generation)
        assert cache.get("k") is p
        cache.detach()
        assert cache.get("k") is None


def test_stale_reads_are_not_cached(tmp_path: Path) -> None:
    with EmbeddedKV(tmp_path / "kv.sqlite", "t") as kv:
        cache = PrincipalCache(ttl=30)
        cache.attach(kv)
        before = cache.generation
        cache.invalidate_everywhere()  # e.g. a revocation while the DB read was running
        cache.put("k", _principal(), None, before)
        assert cache.get("k") is None
        cache.detach()


def test_token_expiry_and_ttl_are_honoured(tmp_path: Path) -> None:
    with EmbeddedKV(tmp_path / "kv.sqlite", "t") as kv:
        cache = PrincipalCache(ttl=0.3)
        cache.attach(kv)
        cache.put("expired", _principal(), time.time() - 1, cache.generation)
        assert cache.get("expired") is None
        cache.put("aging", _principal(), None, cache.generation)
        assert cache.get("aging") is not None
        time.sleep(0.4)
        assert cache.get("aging") is None
        cache.detach()


def test_invalidation_reaches_another_process_cache(tmp_path: Path) -> None:
    with (
        EmbeddedKV(tmp_path / "kv.sqlite", "t") as kv_a,
        EmbeddedKV(tmp_path / "kv.sqlite", "t") as kv_b,
    ):
        a, b = PrincipalCache(ttl=30), PrincipalCache(ttl=30)
        a.attach(kv_a)
        b.attach(kv_b)
        b.put("k", _principal(), None, b.generation)
        a.invalidate_everywhere()
        deadline = time.monotonic() + 5
        while b.get("k") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b.get("k") is None
        a.detach()
        b.detach()
