"""Tasks layer (ingest): every read and write of the ingest stage, through `warehouse.lake.Lake`.

Prompt rows of a file the warehouse has never held are appended as they are (their ids hash
the source and file name, so none can exist yet, and the file's own ids are unique); rows of a
file seen before, and quarantine rows, keep only ids not stored yet (what `Lake.insert_new`
does). The SQL stays here, small, so the stage itself is plain Python.

Rows reach SQL through DuckDB's replacement scan (a local variable named in the query), not a
registered view: a view registered and dropped inside a transaction keeps its Arrow table alive
until the commit, so a large file's whole contents would stay in memory (duckdb-python #469).
"""

from __future__ import annotations

import pyarrow as pa

from schemas.arrow import arrow_schema
from schemas.records import IngestFile, Prompt, Quarantine
from warehouse.lake import CATALOG, Lake, quote

_HAS_ROWS = "SELECT 1 FROM prompts WHERE source = $source AND source_file = $file LIMIT 1"


def file_is_new(lake: Lake, source: str, source_file: str) -> bool:
    """No prompt of this source's file is stored yet (an earlier run that crashed left none)."""
    return lake.query(_HAS_ROWS, {"source": source, "file": source_file}).num_rows == 0


def _insert(lake: Lake, model: type, table: pa.Table, only_new: bool) -> int:
    """Insert the rows (only those whose key is not stored yet); how many were inserted."""
    schema = arrow_schema(model)
    _teachable_ingest_rows = table.select(schema.names).cast(schema)
    target = f"{CATALOG}.{quote(model.__table__)}"
    sql = f"INSERT INTO {target} BY NAME SELECT * FROM _teachable_ingest_rows AS b"
    if only_new:
        match = " AND ".join(f"t.{quote(k)} = b.{quote(k)}" for k in model.__key__)
        sql += f" WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {match})"
    row = lake.con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def write_prompts(lake: Lake, table: pa.Table, fresh: bool) -> int:
    """Store prompt rows; returns how many were new."""
    if table.num_rows == 0:
        return 0
    return _insert(lake, Prompt, table, only_new=not fresh)


def write_quarantine(lake: Lake, table: pa.Table) -> None:
    if table.num_rows:
        _insert(lake, Quarantine, table, only_new=True)


def record_file(lake: Lake, record: IngestFile) -> None:
    lake.insert_records([record])


def snapshot(lake: Lake) -> int:
    return lake.current_snapshot()
