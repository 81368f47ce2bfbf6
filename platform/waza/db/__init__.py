"""SQL storage: declarative base, engine/transactions and Alembic migrations."""

from waza.db.base import Base, IdMixin, TimestampMixin, utcnow
from waza.db.engine import Database

__all__ = ["Base", "Database", "IdMixin", "TimestampMixin", "utcnow"]
