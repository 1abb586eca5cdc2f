"""Schemas layer: Arrow schemas and DuckDB column types derived from the record models.

One mapping from Python annotations to Arrow and to DuckDB keeps the three in step; a model
field with a type this module does not know is a programming error raised at import time.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from functools import cache

import pyarrow as pa

from schemas.records import Record

_ARROW: dict[object, pa.DataType] = {
    str: pa.string(),
    bytes: pa.binary(),
    list[int]: pa.list_(pa.int64()),
    list[str]: pa.list_(pa.string()),
    list[float]: pa.list_(pa.float32()),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    datetime: pa.timestamp("us", tz="UTC"),
}

_DUCKDB: dict[pa.DataType, str] = {
    pa.string(): "VARCHAR",
    pa.binary(): "BLOB",
    pa.list_(pa.int64()): "BIGINT[]",
    pa.list_(pa.string()): "VARCHAR[]",
    pa.list_(pa.float32()): "FLOAT[]",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}


def _base_type(annotation: object) -> tuple[type, bool]:
    """(python type, nullable) of a field annotation such as `str | None`."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) != 1:
            raise TypeError(f"unsupported union annotation {annotation!r}")
        return non_null[0], True
    return annotation, False  # type: ignore[return-value]


@cache
def arrow_schema(model: type[Record]) -> pa.Schema:
    fields = []
    for name, info in model.model_fields.items():
        py_type, nullable = _base_type(info.annotation)
        if py_type not in _ARROW:
            raise TypeError(f"{model.__name__}.{name}: no Arrow type for {py_type!r}")
        fields.append(pa.field(name, _ARROW[py_type], nullable=nullable))
    return pa.schema(fields)


def duckdb_columns(model: type[Record]) -> list[tuple[str, str]]:
    """[(column, DuckDB type)] in model field order."""
    return [(f.name, _DUCKDB[f.type]) for f in arrow_schema(model)]
