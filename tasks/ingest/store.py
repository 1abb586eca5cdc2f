"""Tasks layer (ingest): every read and write of the ingest stage, through `warehouse.lake.Lake`.

Prompt rows of a file the warehouse has never held are appended as they are (their ids hash
the source and file name, so none can exist yet, and the file's own ids are unique); rows of a
file seen before go through `Lake.insert_new`, which keeps only ids not stored yet. The SQL
stays here, small, so the stage itself is plain Python.
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


def _append(lake: Lake, model: type, table: pa.Table) -> int:
    schema = arrow_schema(model)
    with lake.registered("_teachable_ingest", table.select(schema.names).cast(schema)):
        row = lake.con.execute(
            f"INSERT INTO {CATALOG}.{quote(model.__table__)} BY NAME SELECT * FROM _teachable_ingest"
        ).fetchone()
    return int(row[0]) if row else 0


def write_prompts(lake: Lake, table: pa.Table, fresh: bool) -> int:
    """Store prompt rows; returns how many were new."""
    if table.num_rows == 0:
        return 0
    return _append(lake, Prompt, table) if fresh else lake.insert_new(Prompt, table)


def write_quarantine(lake: Lake, table: pa.Table) -> None:
    lake.insert_new(Quarantine, table)


def record_file(lake: Lake, record: IngestFile) -> None:
    lake.insert_records([record])


def snapshot(lake: Lake) -> int:
    return lake.current_snapshot()
