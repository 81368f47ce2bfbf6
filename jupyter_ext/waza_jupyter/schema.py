"""A dataset's field list read from the file itself (CSV, TSV, Parquet, Arrow), via pyarrow.

Used when a file is registered from the file browser, so the catalog shows its columns. Only
the file's start is read for CSV/TSV (pyarrow infers types from the first block); Parquet and
Arrow files carry their schema.
"""

from __future__ import annotations

import logging
from pathlib import Path

from waza.services.catalog import schemas

log = logging.getLogger(__name__)
BLOCK = 1 << 20  # CSV bytes pyarrow reads to infer column types
SUFFIXES = {".csv", ".tsv", ".parquet", ".pq", ".arrow", ".feather"}


def read_schema(path: Path) -> schemas.Schema | None:
    """The file's columns and their Arrow types; None for other files or an unreadable one."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES or not path.is_file():
        return None
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        arrow: pa.Schema
        if suffix in (".csv", ".tsv"):
            parse = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            with pacsv.open_csv(
                path, read_options=pacsv.ReadOptions(block_size=BLOCK), parse_options=parse
            ) as reader:
                arrow = reader.schema
        elif suffix in (".parquet", ".pq"):
            arrow = pq.read_schema(path)
        else:
            with pa.memory_map(str(path)) as source:
                arrow = pa.ipc.open_file(source).schema
    except Exception as exc:  # a file pyarrow cannot read: no schema, and no failure
        log.info("waza: no schema read from %s: %s", path, exc)
        return None
    fields = [
        schemas.SchemaField(name=f.name or f"column_{i}", type=str(f.type))
        for i, f in enumerate(arrow)
    ]
    return schemas.Schema(name=str(path), platform="file", fields=fields) if fields else None
