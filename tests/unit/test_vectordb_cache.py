"""The vector DB record cache: a hit needs no database read; an update or delete reaches every
process's cache through the config store (two `VectorService`s on one database and one KV file
stand in for two API processes); without a config store nothing is cached."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event

from waza.db import Database
from waza.db.migrate import upgrade
from waza.errors import Forbidden, NotFound
from waza.gateway.principal import Principal
from waza.kv import EmbeddedKV
from waza.services.vectordb import schemas
from waza.services.vectordb.service import VectorService
from waza.settings import Settings


def _user() -> Principal:
    return Principal(user_id=uuid.uuid4(), username="u", roles=("user",), method="pat")


@pytest.fixture
def db(make_settings: Callable[..., Settings]) -> Iterator[tuple[Database, Settings]]:
    settings = make_settings(auth_cache_ttl=600)  # so only an invalidation can clear an entry
    database = Database(settings.effective_database_url)
    upgrade(database)
    yield database, settings
    database.dispose()


def _count_queries(database: Database) -> list[str]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(database.engine, "before_cursor_execute", record)
    return seen


def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_changes_reach_every_process(db: tuple[Database, Settings]) -> None:
    database, settings = db
    owner, other = _user(), _user()
    kv_path = settings.home / "kv.sqlite"
    with EmbeddedKV(kv_path, "t") as kv_a, EmbeddedKV(kv_path, "t") as kv_b:
        a, b = VectorService(database, settings), VectorService(database, settings)
        a.rows.attach(kv_a)
        b.rows.attach(kv_b)
        try:
            created = a.create_vectordb(owner, schemas.CreateVectorDB(name="x", engine="qdrant"))
            assert b.get_vectordb(owner, created.id).shared is False
            with pytest.raises(Forbidden):
                b.get_vectordb(other, created.id)

            queries = _count_queries(database)
            b.get_vectordb(owner, created.id)
            assert queries == []  # answered from b's cache

            a.update_vectordb(owner, created.id, schemas.UpdateVectorDB(shared=True))
            assert a.get_vectordb(other, created.id).shared is True  # here: at once

            def b_shares() -> bool:
                try:
                    return b.get_vectordb(other, created.id).shared
                except Forbidden:
                    return False

            assert _eventually(b_shares), "process b kept the old record"

            a.delete_vectordb(owner, created.id)

            def b_forgot() -> bool:
                try:
                    b.get_vectordb(owner, created.id)
                except NotFound:
                    return True
                return False

            assert _eventually(b_forgot), "process b still serves a deleted vector DB"
        finally:
            a.rows.detach()
            b.rows.detach()
            a.close()
            b.close()


def test_nothing_cached_without_a_config_store(db: tuple[Database, Settings]) -> None:
    database, settings = db
    owner = _user()
    service = VectorService(database, settings)
    try:
        created = service.create_vectordb(owner, schemas.CreateVectorDB(name="y", engine="qdrant"))
        queries = _count_queries(database)
        service.get_vectordb(owner, created.id)
        service.get_vectordb(owner, created.id)
        assert len(queries) == 2
    finally:
        service.close()
