"""The engine-neutral metadata filter: parsed once, then translated by each backend.

A filter is a JSON object whose keys are metadata fields (a dotted path reaches into nested
objects: ``"doc.lang"``) and whose values are either a literal (equality) or an object of
operators; every entry must hold (AND)::

    {"source": "a.txt"}                              # equality
    {"year": {"$gte": 2020, "$lt": 2025}}            # numeric range
    {"lang": {"$in": ["en", "fr"]}}                  # one of
    {"lang": {"$nin": ["de"]}, "draft": {"$ne": true}}
    {"$or": [{"source": "a.txt"}, {"page": {"$gt": 3}}]}   # also "$and"

Literals are strings, numbers or booleans. ``$ne`` and ``$nin`` match only vectors that *have*
the field (on both engines). Anything else (an unknown ``$operator``, a null, a list where a
literal belongs, a range over a string) is a 400 with the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TypeAlias

from waza.errors import BadRequest

Literal: TypeAlias = str | int | float | bool

COMPARISONS = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte")
RANGE_OPS = ("$gt", "$gte", "$lt", "$lte")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_DEPTH = 8


@dataclass(frozen=True)
class Condition:
    """One comparison on one metadata field; ``value`` is a tuple for ``$in``/``$nin``."""

    path: tuple[str, ...]
    op: str
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class All:
    """Every item must hold."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Any_:
    """At least one item must hold."""

    items: tuple[Node, ...]


Node: TypeAlias = Condition | All | Any_


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _literal(value: object, where: str) -> Literal:
    if isinstance(value, bool | str):
        return value
    if is_number(value):
        assert isinstance(value, int | float)
        if isinstance(value, float) and not math.isfinite(value):
            raise BadRequest(f"Filter {where}: numbers must be finite")
        return value
    raise BadRequest(
        f"Filter {where}: expected a string, number or boolean, not {type(value).__name__}"
    )


def _field(key: str, spec: object, depth: int) -> Node:
    if not _KEY.match(key):
        raise BadRequest(
            f"Filter field {key!r} is not a valid name: use letters, digits and underscores, "
            "with '.' between nested names"
        )
    path = tuple(key.split("."))
    if not isinstance(spec, dict):
        return Condition(path, "$eq", _literal(spec, f"on {key!r}"))
    if not spec:
        raise BadRequest(f"Filter on {key!r} has no operator")
    conditions: list[Node] = []
    for op, value in spec.items():
        if op not in COMPARISONS:
            raise BadRequest(
                f"Unknown filter operator {op!r} on {key!r}; supported: {', '.join(COMPARISONS)}"
            )
        where = f"{op} on {key!r}"
        if op in ("$in", "$nin"):
            if not isinstance(value, list) or not value:
                raise BadRequest(f"Filter {where}: expected a non-empty list")
            conditions.append(Condition(path, op, tuple(_literal(v, where) for v in value)))
        elif op in RANGE_OPS:
            if not is_number(value):
                raise BadRequest(f"Filter {where}: ranges compare numbers only")
            conditions.append(Condition(path, op, _literal(value, where)))
        else:
            conditions.append(Condition(path, op, _literal(value, where)))
    return conditions[0] if len(conditions) == 1 else All(tuple(conditions))


def _group(spec: object, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise BadRequest(f"Filter is nested deeper than {MAX_DEPTH} levels")
    if not isinstance(spec, dict):
        raise BadRequest("A filter is a JSON object of field conditions")
    items: list[Node] = []
    for key, value in spec.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise BadRequest(f"Filter {key}: expected a non-empty list of filters")
            parts = tuple(_group(item, depth + 1) for item in value)
            items.append(All(parts) if key == "$and" else Any_(parts))
        elif key.startswith("$"):
            raise BadRequest(f"Unknown filter operator {key!r}; combine filters with $and/$or")
        else:
            items.append(_field(key, value, depth))
    if not items:
        raise BadRequest("A filter needs at least one condition")
    return items[0] if len(items) == 1 else All(tuple(items))


def parse_filter(spec: object) -> Node | None:
    """Validate a filter object; None or ``{}`` means no filter."""
    if spec is None or spec == {}:
        return None
    if isinstance(spec, str):
        raise BadRequest(
            "String filter expressions are engine-specific and not accepted; use the JSON "
            'filter form, e.g. {"source": "a.txt", "page": {"$gte": 2}}'
        )
    return _group(spec, 0)
