"""A SQLite-file store with etcd-like semantics for one machine and no external service.

Several processes may open the same file (WAL mode, busy timeout). Every change bumps a global
revision and is appended to a small event log. One poller thread per open store reads the
revision every ``poll_interval`` and, when it moved, hands each watch the events under its
prefix. Expired leases and their keys are purged lazily by whichever read, write or poll comes
first.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .base import (
    KVError,
    KVStore,
    KVUnavailable,
    Lease,
    LeaseExpired,
    Watch,
    WatchCallback,
    WatchEvent,
)

log = logging.getLogger(__name__)

EVENT_LOG_SIZE = 10_000  # events kept for watchers that fall behind
_TRIM_EVERY = 256  # revisions between trims of the event log

_SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0);
CREATE TABLE IF NOT EXISTS leases (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ttl INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS leases_expires_at ON leases (expires_at);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, lease_id INTEGER, mod_revision INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS kv_lease_id ON kv (lease_id);
CREATE TABLE IF NOT EXISTS events (
    revision INTEGER PRIMARY KEY, type TEXT NOT NULL, key TEXT NOT NULL, value TEXT);
COMMIT;
"""


def _prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no bound)."""
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code <= 0x10FFFF:
            return "".join(chars) + chr(0xE000 if 0xD800 <= code <= 0xDFFF else code)
    return None


def _range(prefix: str) -> tuple[str, tuple[str, ...]]:
    end = _prefix_end(prefix)
    if end is None:
        return "key >= ?", (prefix,)
    return "key >= ? AND key < ?", (prefix, end)


class EmbeddedLease(Lease):
    """A lease row in the store's ``leases`` table."""

    def __init__(self, store: EmbeddedKV, lease_id: int, ttl: int) -> None:
        self._store = store
        self.id = lease_id
        self.ttl = ttl

    def refresh(self) -> None:
        self._store._refresh_lease(self.id, self.ttl)

    def revoke(self) -> None:
        self._store._revoke_lease(self.id)

    def __repr__(self) -> str:
        return f"EmbeddedLease(id={self.id}, ttl={self.ttl})"


class _PollingWatch(Watch):
    """One watch of a store; the store's single poller thread delivers its events."""

    def __init__(
        self, store: EmbeddedKV, full_prefix: str, callback: WatchCallback, revision: int
    ) -> None:
        self._store = store
        self.prefix = full_prefix
        self.callback = callback
        self.revision = revision  # the last revision this watch has seen
        self.stopped = False

    def deliver(self, events: list[WatchEvent]) -> None:
        for event in events:
            if self.stopped:
                return
            try:
                self.callback(event)
            except Exception:
                log.exception("watch callback for %r failed", self.prefix)

    def cancel(self) -> None:
        self.stopped = True
        self._store._forget(self)


class EmbeddedKV(KVStore):
    """The embedded backend: a SQLite file shared by the processes of one machine."""

    backend = "embedded"

    def __init__(self, path: str | Path, namespace: str = "", *, poll_interval: float = 0.2):
        super().__init__(namespace)
        self.path = Path(path)
        self.poll_interval = poll_interval
        self._lock = threading.RLock()
        self._watches: list[_PollingWatch] = []
        self._poller: threading.Thread | None = None
        self._closing = threading.Event()
        self._dispatching = threading.Lock()  # held while the poller runs callbacks
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise KVUnavailable(f"cannot open the embedded KV store {self.path}: {exc}") from exc
        self._db = db

    # --- transactions ----------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise KVError(f"the embedded KV store {self.path} is closed")
        return self._db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction that first purges expired leases."""
        with self._lock, self._sqlite_errors():
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                self._purge(db)
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._sqlite_errors():
            db = self._conn()
            expired = "SELECT 1 FROM leases WHERE expires_at <= ? LIMIT 1"
            if db.execute(expired, (time.time(),)).fetchone():
                with self._write():
                    pass
            yield db

    @contextmanager
    def _sqlite_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise KVError(f"embedded KV store {self.path}: {exc}") from exc

    def _record(self, db: sqlite3.Connection, kind: str, key: str, value: str | None) -> int:
        """Bump the revision and log one event; returns the new revision."""
        bump = "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value"
        revision: int = db.execute(bump).fetchone()[0]
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (revision, kind, key, value))
        if revision % _TRIM_EVERY == 0:
            db.execute("DELETE FROM events WHERE revision <= ?", (revision - EVENT_LOG_SIZE,))
        return revision

    def _delete_keys(self, db: sqlite3.Connection, keys: list[str]) -> None:
        for key in keys:
            db.execute("DELETE FROM kv WHERE key = ?", (key,))
            self._record(db, "delete", key, None)

    def _drop_lease(self, db: sqlite3.Connection, lease_id: int) -> None:
        rows = db.execute("SELECT key FROM kv WHERE lease_id = ? ORDER BY key", (lease_id,))
        self._delete_keys(db, [key for (key,) in rows])
        db.execute("DELETE FROM leases WHERE id = ?", (lease_id,))

    def _purge(self, db: sqlite3.Connection) -> None:
        expired = db.execute("SELECT id FROM leases WHERE expires_at <= ?", (time.time(),))
        for (lease_id,) in expired.fetchall():
            self._drop_lease(db, lease_id)

    @staticmethod
    def _lease_alive(db: sqlite3.Connection, lease_id: int) -> bool:
        return db.execute("SELECT 1 FROM leases WHERE id = ?", (lease_id,)).fetchone() is not None

    # --- KVStore ---------------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        self._check_key(key)
        with self._read() as db:
            row = db.execute("SELECT value FROM kv WHERE key = ?", (self._full(key),)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str, lease: Lease | None = None) -> None:
        self._check_key(key)
        if not isinstance(value, str):
            raise TypeError(f"value must be a str, got {type(value).__name__}")
        full = self._full(key)
        with self._write() as db:
            lease_ok = lease is None or self._lease_alive(db, lease.id)
            if lease_ok:
                revision = self._record(db, "put", full, value)
                db.execute(
                    "INSERT INTO kv (key, value, lease_id, mod_revision) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                    "lease_id = excluded.lease_id, mod_revision = excluded.mod_revision",
                    (full, value, None if lease is None else lease.id, revision),
                )
        if not lease_ok:
            raise LeaseExpired(f"lease {lease.id if lease else None} has expired or was revoked")

    def delete(self, key: str) -> bool:
        self._check_key(key)
        full = self._full(key)
        with self._write() as db:
            exists = db.execute("SELECT 1 FROM kv WHERE key = ?", (full,)).fetchone() is not None
            if exists:
                self._delete_keys(db, [full])
        return exists

    def get_prefix(self, prefix: str) -> dict[str, str]:
        where, params = _range(self._full(prefix))
        with self._read() as db:
            rows = db.execute(f"SELECT key, value FROM kv WHERE {where} ORDER BY key", params)  # noqa: S608
            return {self._rel(key): value for key, value in rows}

    def delete_prefix(self, prefix: str) -> int:
        where, params = _range(self._full(prefix))
        with self._write() as db:
            keys = [key for (key,) in db.execute(f"SELECT key FROM kv WHERE {where}", params)]  # noqa: S608
            self._delete_keys(db, keys)
        return len(keys)

    def lease(self, ttl: int) -> Lease:
        if ttl < 1:
            raise ValueError(f"lease ttl must be at least 1 second, got {ttl}")
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO leases (ttl, expires_at) VALUES (?, ?)", (ttl, time.time() + ttl)
            )
            lease_id = cursor.lastrowid
        assert lease_id is not None
        return EmbeddedLease(self, lease_id, ttl)

    def _refresh_lease(self, lease_id: int, ttl: int) -> None:
        with self._write() as db:
            updated = db.execute(
                "UPDATE leases SET expires_at = ? WHERE id = ?", (time.time() + ttl, lease_id)
            ).rowcount
        if not updated:
            raise LeaseExpired(f"lease {lease_id} has expired or was revoked")

    def _revoke_lease(self, lease_id: int) -> None:
        with self._write() as db:
            self._drop_lease(db, lease_id)

    def watch_prefix(self, prefix: str, callback: WatchCallback) -> Watch:
        with self._read() as db:
            watch = _PollingWatch(self, self._full(prefix), callback, self._revision(db))
            self._watches.append(watch)
            if self._poller is None:
                self._poller = threading.Thread(
                    target=self._poll, name=f"waza-kv-watch:{self.path.name}", daemon=True
                )
                self._poller.start()
        return watch

    def _poll(self) -> None:
        """The poller thread: one revision read per interval, events only when it moved."""
        while not self._closing.wait(self.poll_interval):
            with self._lock:
                watches = [w for w in self._watches if not w.stopped]
            if not watches:
                continue
            try:
                with self._read() as db:
                    current = self._revision(db)
                batches = [
                    (watch, self._events_since(watch.revision, watch.prefix, current))
                    for watch in watches
                    if watch.revision < current
                ]
            except KVError as exc:
                log.warning("watches on %s: %s", self.path, exc)
                continue
            with self._dispatching:
                for watch, events in batches:
                    watch.revision = current
                    watch.deliver(events)

    @staticmethod
    def _revision(db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0])

    def _events_since(self, revision: int, full_prefix: str, current: int) -> list[WatchEvent]:
        """Events for ``full_prefix`` after ``revision`` up to ``current``."""
        where, params = _range(full_prefix)
        with self._read() as db:
            oldest = db.execute("SELECT MIN(revision) FROM events").fetchone()[0]
            if oldest is not None and oldest > revision + 1:
                log.warning(
                    "watch on %r fell behind; events before %d are lost", full_prefix, oldest
                )
            rows = db.execute(
                f"SELECT type, key, value FROM events WHERE revision > ? AND revision <= ? "  # noqa: S608
                f"AND {where} ORDER BY revision",
                (revision, current, *params),
            ).fetchall()
        return [WatchEvent(kind, self._rel(key), value) for kind, key, value in rows]

    def _forget(self, watch: _PollingWatch) -> None:
        """Drop a cancelled watch; once this returns its callback is not running and will not
        run again (unless the callback itself cancelled it, on the poller thread)."""
        with self._lock:
            if watch in self._watches:
                self._watches.remove(watch)
        if threading.current_thread() is not self._poller and self._dispatching.acquire(timeout=5):
            self._dispatching.release()

    def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.backend,
            "endpoint": str(self.path),
            "namespace": self.namespace,
        }
        try:
            with self._read() as db:
                info["revision"] = self._revision(db)
        except KVError as exc:
            return {**info, "ok": False, "error": str(exc)}
        return {**info, "ok": True}

    def close(self) -> None:
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            watch.cancel()
        self._closing.set()
        poller = self._poller
        if poller is not None and poller is not threading.current_thread():
            poller.join(timeout=5)
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __repr__(self) -> str:
        return f"EmbeddedKV({str(self.path)!r}, namespace={self.namespace!r})"
