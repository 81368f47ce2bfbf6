"""Reading a dataset with pyarrow: column projection, filters, offset and limit, in batches.

Filters become one `pyarrow.compute` expression pushed into the scan (Parquet row groups whose
statistics rule a filter out are not read). Filter values are cast to the column's type, so
`{"day": {"$gte": "2024-01-01"}}` works on a date column and `{"id": "7"}` on an integer one;
a value that cannot be cast is a 400 that names the column and its type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from waza.errors import BadRequest
from waza.services.ingestion import formats
from waza.services.ingestion.formats import FileError

DEFAULT_BATCH_ROWS = 1000
_OPS = {
    "eq": "eq",
    "==": "eq",
    "=": "eq",
    "ne": "ne",
    "!=": "ne",
    "gt": "gt",
    ">": "gt",
    "gte": "gte",
    ">=": "gte",
    "lt": "lt",
    "<": "lt",
    "lte": "lte",
    "<=": "lte",
    "in": "in",
    "nin": "nin",
}


def _op(key: str) -> str | None:
    return _OPS.get(key[1:] if key.startswith("$") else key)


def _literal(field: pa.Field, value: Any) -> pa.Scalar:
    if isinstance(value, dict | list):
        raise BadRequest(f"Filter on {field.name!r}: expected a single value, not {value!r}")
    try:
        return pa.scalar(value).cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise BadRequest(
            f"Filter value {value!r} does not fit column {field.name!r} of type {field.type}"
        ) from exc


def _condition(field: pa.Field, op: str, value: Any) -> pc.Expression:
    name = _op(op)
    if name is None:
        raise BadRequest(
            f"Unknown filter operator {op!r} on {field.name!r}; use $eq $ne $gt $gte $lt $lte "
            "$in $nin"
        )
    column = pc.field(field.name)
    if value is None:
        if name == "eq":
            return column.is_null()
        if name == "ne":
            return column.is_valid()
        raise BadRequest(f"Filter {op} on {field.name!r} needs a value, not null")
    if name in {"in", "nin"}:
        if not isinstance(value, list) or not value:
            raise BadRequest(f"Filter {op} on {field.name!r} needs a non-empty list")
        values = pa.array([_literal(field, v).as_py() for v in value], type=field.type)
        inside = column.isin(values)
        return inside if name == "in" else ~inside
    scalar = _literal(field, value)
    comparisons = {
        "eq": column == scalar,
        "ne": column != scalar,
        "gt": column > scalar,
        "gte": column >= scalar,
        "lt": column < scalar,
        "lte": column <= scalar,
    }
    return comparisons[name]


def build_filter(filters: dict[str, Any] | None, schema: pa.Schema) -> pc.Expression | None:
    """One expression for every filter entry (all must hold); 400 for unknown columns."""
    if not filters:
        return None
    expression: pc.Expression | None = None
    for column, spec in filters.items():
        if column not in schema.names:
            raise BadRequest(
                f"Unknown column {column!r} in filters; the dataset has: {', '.join(schema.names)}"
            )
        field = schema.field(column)
        if isinstance(spec, dict) and spec and all(_op(str(k)) for k in spec):
            parts = [_condition(field, str(k), v) for k, v in spec.items()]
        elif isinstance(spec, dict):
            raise BadRequest(f"Filter on {column!r}: unknown operators in {sorted(spec)}")
        else:
            parts = [_condition(field, "$eq", spec)]
        for part in parts:
            expression = part if expression is None else expression & part
    return expression


@dataclass
class Plan:
    """A validated read: what to scan and how much of it."""

    dataset: ds.Dataset
    columns: list[str] | None
    filter: pc.Expression | None
    offset: int = 0
    limit: int | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS

    @property
    def schema(self) -> pa.Schema:
        full = self.dataset.schema
        return pa.schema([full.field(c) for c in self.columns]) if self.columns else full


def plan(
    path: Path,
    fmt: str,
    *,
    columns: list[str] | None = None,
    filters: dict[str, Any] | None = None,
    offset: int | None = None,
    limit: int | None = None,
    batch_rows: int | None = None,
) -> Plan:
    """Open a file and check the request against its schema (400 for unknown columns)."""
    dataset = formats.arrow_dataset(path, fmt)
    schema = dataset.schema
    if columns:
        unknown = [c for c in columns if c not in schema.names]
        if unknown:
            raise BadRequest(
                f"Unknown column(s) {', '.join(map(repr, unknown))}; the dataset has: "
                + ", ".join(schema.names)
            )
    return Plan(
        dataset=dataset,
        columns=list(dict.fromkeys(columns)) if columns else None,
        filter=build_filter(filters, schema),
        offset=offset or 0,
        limit=limit,
        batch_rows=batch_rows or DEFAULT_BATCH_ROWS,
    )


def batches(p: Plan) -> Iterator[pa.RecordBatch]:
    """The selected rows in batches of at most `batch_rows`, after `offset`, up to `limit`."""
    skip, remaining = p.offset, p.limit
    try:
        scanner = p.dataset.scanner(columns=p.columns, filter=p.filter, batch_size=p.batch_rows)
        for batch in scanner.to_batches():
            if batch.num_rows == 0:
                continue
            if skip:
                if skip >= batch.num_rows:
                    skip -= batch.num_rows
                    continue
                batch, skip = batch.slice(skip), 0
            if remaining is not None:
                batch = batch.slice(0, remaining)
                remaining -= batch.num_rows
            yield batch
            if remaining == 0:
                return
    except pa.ArrowException as exc:
        raise FileError(f"cannot read the dataset: {str(exc).splitlines()[0][:300]}") from exc


def rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """A batch as JSON-safe row dicts."""
    result: list[dict[str, Any]] = formats.jsonable(batch.to_pylist())
    return result
