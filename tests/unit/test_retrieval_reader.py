"""Retrieval's reading: filters (equality, comparisons, lists, nulls, casts), columns, offset and
limit across batches, and 400s that name the problem."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from waza.errors import BadRequest
from waza.services.retrieval import reader


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reader") / "sales.parquet"
    n = 50
    pq.write_table(
        pa.table(
            {
                "id": list(range(n)),
                "region": ["north" if i % 2 else "south" for i in range(n)],
                "amount": [i * 1.5 for i in range(n)],
                "day": [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(n)],
                "note": [None if i % 10 == 0 else f"n{i}" for i in range(n)],
            }
        ),
        path,
        row_group_size=7,
    )
    return path


def read(path: Path, **kwargs: Any) -> list[dict[str, Any]]:
    plan = reader.plan(path, "parquet", **kwargs)
    return [row for batch in reader.batches(plan) for row in reader.rows(batch)]


@pytest.mark.parametrize(
    ("filters", "ids"),
    [
        ({"id": 7}, [7]),
        ({"id": {"$eq": 7}}, [7]),
        ({"id": {"$gt": 45}}, [46, 47, 48, 49]),
        ({"id": {"gte": 47, "$lt": 49}}, [47, 48]),
        ({"id": {"<=": 1}}, [0, 1]),
        ({"id": {"$in": [3, 5, 99]}}, [3, 5]),
        ({"id": {"$lt": 4}, "region": {"$ne": "north"}}, [0, 2]),
        ({"id": {"$lt": 6}, "region": {"$nin": ["south"]}}, [1, 3, 5]),
        ({"note": None, "id": {"$lt": 25}}, [0, 10, 20]),
        ({"note": {"$ne": None}, "id": {"$lt": 3}}, [1, 2]),
        ({"id": "12"}, [12]),  # cast to the column's type
        ({"day": {"$gte": "2024-02-17"}}, [47, 48, 49]),  # an ISO date on a date column
        ({"amount": {"$gt": 72}}, [49]),
    ],
)
def test_filters(table_path: Path, filters: dict[str, Any], ids: list[int]) -> None:
    assert [r["id"] for r in read(table_path, filters=filters)] == ids


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"nope": 1}, "Unknown column 'nope'"),
        ({"id": {"$regex": "x"}}, "unknown operators"),
        ({"id": "not a number"}, "does not fit column 'id' of type int64"),
        ({"id": {"$in": []}}, "non-empty list"),
        ({"id": {"$gt": None}}, "needs a value"),
        ({"id": [1, 2]}, "expected a single value"),
    ],
)
def test_bad_filters_are_400(table_path: Path, filters: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        read(table_path, filters=filters)


def test_columns_offset_and_limit_across_batches(table_path: Path) -> None:
    rows = read(table_path, columns=["amount", "id"], offset=5, limit=12, batch_rows=4)
    assert [r["id"] for r in rows] == list(range(5, 17))
    assert list(rows[0]) == ["amount", "id"]  # in the order asked for
    filtered = read(table_path, filters={"region": "north"}, offset=2, limit=3)
    assert [r["id"] for r in filtered] == [5, 7, 9]
    assert read(table_path, offset=1000) == []


def test_unknown_columns_are_400(table_path: Path) -> None:
    with pytest.raises(BadRequest, match="'price'"):
        read(table_path, columns=["id", "price"])


def test_rows_are_json_safe(tmp_path: Path) -> None:
    path = tmp_path / "odd.parquet"
    pq.write_table(
        pa.table(
            {
                "b": [b"\x00\xff"],
                "f": [float("nan")],
                "t": [dt.datetime(2024, 5, 6, 7, 8, 9)],
            }
        ),
        path,
    )
    assert read(path) == [{"b": "AP8=", "f": None, "t": "2024-05-06T07:08:09"}]
