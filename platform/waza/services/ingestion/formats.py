"""File formats: detection, cheap descriptions for the catalog, text for RAG, Arrow for retrieval.

Supported: plain text, Markdown, CSV/TSV, Parquet, JSON lines, JSON (an array of objects, or one
object) and PDF (text extracted with `pypdf`). Everything that reads a file raises `FileError`
with a message meant for the user ("not a valid Parquet file: ...").
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pydantic_core

EXTENSIONS = {
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".rst": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".pdf": "pdf",
}
FORMATS = frozenset(EXTENSIONS.values())
TABULAR = frozenset({"csv", "tsv", "parquet", "jsonl", "json"})
_HINTS = {
    "txt": "text",
    "plain": "text",
    "md": "markdown",
    "ndjson": "jsonl",
    "jsonlines": "jsonl",
    "json_lines": "jsonl",
    "pq": "parquet",
}
CHEAP_BYTES = 64 * 1024 * 1024
"""Files up to this size are read whole to count rows; larger ones get no row count."""
SNIFF_BYTES = 8192


class FileError(Exception):
    """A file cannot be read as its format; the message says why."""


def detect_format(name: str, hint: str | None = None) -> str | None:
    """The format of a file from a hint (`parquet`, `csv`, ...) or else its extension."""
    if hint:
        value = hint.strip().lower().lstrip(".")
        value = _HINTS.get(value, value)
        if value in FORMATS:
            return value
    return EXTENSIONS.get(Path(name).suffix.lower())


def supported_extensions() -> list[str]:
    return sorted(EXTENSIONS)


@dataclass
class FileInfo:
    """What the catalog records about a file."""

    format: str
    size: int
    modified: datetime
    rows: int | None = None
    pages: int | None = None
    fields: list[tuple[str, str]] = field(default_factory=list)

    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {
            "format": self.format,
            "size_bytes": self.size,
            "modified_at": self.modified.isoformat(),
        }
        if self.rows is not None:
            props["row_count"] = self.rows
        if self.pages is not None:
            props["page_count"] = self.pages
        return props


def _fields(schema: pa.Schema) -> list[tuple[str, str]]:
    return [(f.name, str(f.type)) for f in schema]


def _csv_options(fmt: str) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror or exc}") from exc


def describe(path: Path, fmt: str) -> FileInfo:
    """Size, modification time and, where cheap, row count and schema."""
    st = _stat(path)
    info = FileInfo(fmt, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))
    small = st.st_size <= CHEAP_BYTES
    try:
        if fmt == "parquet":
            meta = pq.ParquetFile(path)
            info.rows = meta.metadata.num_rows
            info.fields = _fields(meta.schema_arrow)
        elif fmt in {"csv", "tsv"}:
            if small:
                table = pacsv.read_csv(path, parse_options=_csv_options(fmt))
                info.rows, info.fields = table.num_rows, _fields(table.schema)
            else:
                reader = pacsv.open_csv(path, parse_options=_csv_options(fmt))
                info.fields = _fields(reader.schema)
                reader.close()
        elif fmt == "jsonl" and small:
            table = pajson.read_json(path)
            info.rows, info.fields = table.num_rows, _fields(table.schema)
        elif fmt == "json" and small:
            table = _json_table(path)
            info.rows, info.fields = table.num_rows, _fields(table.schema)
        elif fmt in {"text", "markdown"} and small:
            data = path.read_bytes()
            info.rows = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        elif fmt == "pdf":
            info.pages = len(_pdf_reader(path).pages)
    except FileError:
        raise
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise FileError(f"not a valid {fmt.upper()} file: {path}: {_short(exc)}") from exc
    return info


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _json_table(path: Path) -> pa.Table:
    """A JSON document as a table: an array of objects is rows, one object is one row."""
    try:
        with path.open("rb") as fh:
            value = json.load(fh)
    except json.JSONDecodeError as exc:
        if exc.pos > 0 and "Extra data" in exc.msg:  # JSON lines in a .json file
            return pajson.read_json(path)
        raise FileError(f"not valid JSON: {path}: {exc}") from exc
    rows = value if isinstance(value, list) else [value]
    if not all(isinstance(r, dict) for r in rows):
        rows = [{"value": r} for r in rows]
    return pa.Table.from_pylist(rows)


# ---- text (RAG) --------------------------------------------------------------------------------
def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data[:SNIFF_BYTES]:
        raise FileError(f"{path} holds binary data, not text")
    return data.decode("utf-8-sig", errors="replace")


def _pdf_reader(path: Path) -> Any:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileError(f"{path} is an encrypted PDF")
        return reader
    except PyPdfError as exc:
        raise FileError(f"not a valid PDF file: {path}: {_short(exc)}") from exc


def pdf_pages(path: Path) -> list[str]:
    """The text of each page (pypdf's extraction; scanned pages give empty text)."""
    from pypdf.errors import PyPdfError

    reader = _pdf_reader(path)
    try:
        return [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise FileError(f"cannot extract text from PDF {path}: {_short(exc)}") from exc


def extract_text(path: Path, fmt: str) -> str:
    """The text to chunk: text-like files as they are, Parquet rows as JSON lines, PDF pages.

    Offsets stored with chunks are character offsets into this text (for text-like files: into
    the file's content decoded as UTF-8).
    """
    try:
        if fmt == "pdf":
            return "\n\n".join(p.strip() for p in pdf_pages(path) if p.strip())
        if fmt == "parquet":
            return "\n".join(_parquet_lines(path))
        return _decode(path, path.read_bytes())
    except FileError:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise FileError(f"cannot read {fmt.upper()} file {path}: {_short(exc)}") from exc


def _parquet_lines(path: Path) -> Iterator[str]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
        for row in jsonable(batch.to_pylist()):
            yield json.dumps(row, ensure_ascii=False)


def jsonable(value: Any) -> Any:
    """Rows as JSON-safe values: datetimes as ISO strings, bytes as base64, NaN as null."""
    return pydantic_core.to_jsonable_python(
        value, bytes_mode="base64", inf_nan_mode="null", serialize_unknown=True
    )


# ---- Arrow (retrieval) ---------------------------------------------------------------------------
def arrow_dataset(path: Path, fmt: str) -> ds.Dataset:
    """The file as a `pyarrow.dataset.Dataset` (text: one row per line; PDF: one per page)."""
    try:
        if fmt == "parquet":
            return ds.dataset(path, format="parquet")
        if fmt in {"csv", "tsv"}:
            return ds.dataset(path, format=ds.CsvFileFormat(parse_options=_csv_options(fmt)))
        if fmt == "jsonl":
            return ds.dataset(path, format="json")
        if fmt == "json":
            return ds.dataset(_json_table(path))
        if fmt == "pdf":
            pages = pdf_pages(path)
            return ds.dataset(pa.table({"page": list(range(1, len(pages) + 1)), "text": pages}))
        lines = _decode(path, path.read_bytes()).splitlines()
        return ds.dataset(pa.table({"line_number": list(range(1, len(lines) + 1)), "text": lines}))
    except FileError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileError(f"not a valid {fmt.upper()} file: {path}: {_short(exc)}") from exc
