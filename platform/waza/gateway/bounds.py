"""Upper bounds of integer inputs that reach the database.

SQLite and PostgreSQL store integers (and OFFSET) as signed 64-bit values; a larger number from
a client must be a 422 from validation, not a driver error (a 500). Use these in `Query(le=...)`
and `Field(le=...)`.
"""

from __future__ import annotations

MAX_OFFSET = 2**31 - 1  # rows to skip in a list: no list is anywhere near this long
MAX_BIGINT = 2**63 - 1  # a byte count or another 64-bit column
MAX_PORT = 65535
