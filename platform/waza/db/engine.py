"""Engine, sessions and transactions for SQLite, PostgreSQL and CockroachDB.

Services never commit by hand: writes go through :meth:`Database.transaction`, which commits on
success, rolls back on any error (nothing half-written), and on PostgreSQL/CockroachDB retries
the whole unit of work when the server reports a serialization failure (SQLSTATE 40001), as
CockroachDB requires.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

SERIALIZATION_FAILURE = "40001"


def _is_retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code == SERIALIZATION_FAILURE


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for PostgreSQL and CockroachDB URLs that name no driver."""
    for plain, with_driver in (
        ("postgresql://", "postgresql+psycopg://"),
        ("postgres://", "postgresql+psycopg://"),
        ("cockroachdb://", "cockroachdb+psycopg://"),
    ):
        if url.startswith(plain):
            return with_driver + url[len(plain) :]
    return url


def make_engine(url: str, echo: bool = False) -> Engine:
    """Create an engine with settings suited to each backend."""
    url = normalize_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """One engine plus a session factory; the single entry point to the SQL store."""

    def __init__(self, url: str, echo: bool = False, max_retries: int = 8) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, echo=echo)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.max_retries = max_retries

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session; closing it discards any change (use :meth:`transaction` to write).

        Objects loaded in it stay readable after it closes (they are detached, not expired).
        """
        with self.session_factory() as session:
            yield session

    def transaction(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in one transaction, retrying on serialization failures."""
        attempt = 0
        while True:
            with self.session_factory() as session:
                try:
                    result = work(session)
                    session.commit()
                    return result
                except DBAPIError as exc:
                    session.rollback()
                    attempt += 1
                    if not _is_retryable(exc) or attempt > self.max_retries:
                        raise
                except BaseException:
                    session.rollback()
                    raise
            time.sleep(min(1.0, 0.01 * 2**attempt) * random.uniform(0.5, 1.5))  # noqa: S311

    def dispose(self) -> None:
        self.engine.dispose()
