"""Tasks layer (dedup): every read and write of the dedup stage, through `warehouse.lake.Lake`.

Pending prompts are those with neither a `duplicates` row nor a `dedup_signatures` row under
the current settings key; the kept pool is those signed under that key and never dropped.
Reads return Arrow; writes go through `Lake.insert_new` (idempotent on each table's key).
The SQL stays here, small, so the rest of the stage is plain numpy/Python.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from schemas.dedup import DedupEmbedding, DedupSignature
from schemas.records import Duplicate
from warehouse.lake import Lake

_POOL = """
    SELECT s.prompt_id FROM dedup_signatures s
    WHERE s.params_key = $key
      AND NOT EXISTS (SELECT 1 FROM duplicates d WHERE d.prompt_id = s.prompt_id)
"""

# Keep-preference order (source priority, has an answer, earliest, position in its source),
# and the exact-duplicate target of each pending prompt: a kept prompt with the same text, the
# kept prompt a dropped same-text prompt points at, or the best-ranked pending same-text prompt.
# The problem text is not carried through the sort: it is streamed afterwards (memory).
_PENDING = f"""
WITH pending AS (
    SELECT p.prompt_id, p.text_hash, p.source, p.answer, p.ingested_at, p.source_id
    FROM prompts p
    WHERE NOT EXISTS (SELECT 1 FROM duplicates d WHERE d.prompt_id = p.prompt_id)
      AND NOT EXISTS (SELECT 1 FROM dedup_signatures s
                      WHERE s.prompt_id = p.prompt_id AND s.params_key = $key)
), ranked AS (
    SELECT prompt_id, text_hash, row_number() OVER (ORDER BY
        coalesce(list_position($priority, source), 1000000000),
        answer IS NULL OR trim(answer) = '', ingested_at,
        TRY_CAST(source_id AS BIGINT) NULLS LAST, source_id, prompt_id) - 1 AS rank
    FROM pending
), pool AS ({_POOL}),
kept_text AS (
    SELECT p.text_hash, min(p.prompt_id) AS prompt_id
    FROM prompts p JOIN pool USING (prompt_id) GROUP BY p.text_hash
), dropped_text AS (
    SELECT p.text_hash, min(d.duplicate_of) AS prompt_id
    FROM duplicates d JOIN prompts p USING (prompt_id)
    WHERE d.duplicate_of IN (SELECT prompt_id FROM pool) GROUP BY p.text_hash
)
SELECT r.rank, r.prompt_id,
       coalesce(k.prompt_id, x.prompt_id, nullif(
           first_value(r.prompt_id) OVER (PARTITION BY r.text_hash ORDER BY r.rank), r.prompt_id)
       ) AS exact_of
FROM ranked r
LEFT JOIN kept_text k USING (text_hash)
LEFT JOIN dropped_text x USING (text_hash)
ORDER BY r.rank
"""


def pending(lake: Lake, params_key: str, source_priority: list[str]) -> pa.Table:
    """Pending prompts in keep-preference order: rank, prompt_id, exact_of (null if none)."""
    return lake.con.execute(_PENDING, {"key": params_key, "priority": source_priority}).to_arrow_table()


def stream_problems(lake: Lake, ids: pa.Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of (id, problem) for a table of (id, prompt_id), in storage order: no sort, so
    the texts stream through without DuckDB holding them all."""
    with lake.registered("_dedup_stream", ids):
        reader = lake.con.execute(
            "SELECT s.id, p.problem FROM prompts p JOIN _dedup_stream s USING (prompt_id)"
        ).to_arrow_reader(batch_rows)
        yield from reader


def pool_size(lake: Lake, params_key: str) -> int:
    return int(lake.con.execute(f"SELECT count(*) FROM ({_POOL})", {"key": params_key}).fetchone()[0])


def pool_matches(lake: Lake, params_key: str, keys: np.ndarray) -> pa.Table:
    """Kept-pool entries (prompt_id, band, key) whose band key is one of `keys`."""
    with lake.registered("_dedup_keys", pa.table({"key": np.unique(keys)})):
        return lake.con.execute(
            f"""
            WITH pool AS ({_POOL}),
            entries AS (
                SELECT s.prompt_id, unnest(s.band_keys) AS key,
                       generate_subscripts(s.band_keys, 1) - 1 AS band
                FROM dedup_signatures s JOIN pool USING (prompt_id)
                WHERE s.params_key = $key
            )
            SELECT e.prompt_id, e.band, e.key FROM entries e SEMI JOIN _dedup_keys k ON e.key = k.key
            ORDER BY e.prompt_id, e.band
            """,
            {"key": params_key},
        ).to_arrow_table()


def _prompt_column(lake: Lake, prompt_ids: list[str], column: str) -> list:
    """One column of `prompts` for these ids, in the order given."""
    if not prompt_ids:
        return []
    with lake.registered("_dedup_ids", pa.table({"prompt_id": prompt_ids, "i": np.arange(len(prompt_ids))})):
        table = lake.con.execute(
            f"SELECT p.{column} FROM prompts p JOIN _dedup_ids USING (prompt_id) ORDER BY i"
        ).to_arrow_table()
    return table.column(column).to_pylist()


def problems(lake: Lake, prompt_ids: list[str]) -> list[str]:
    """Problem texts of these prompts, in the order given."""
    return _prompt_column(lake, prompt_ids, "problem")


def answers(lake: Lake, prompt_ids: list[str]) -> list[str | None]:
    """Reference answers of these prompts (None when absent), in the order given."""
    return _prompt_column(lake, prompt_ids, "answer")


def pool_embeddings(lake: Lake, params_key: str, model: str) -> pa.Table:
    """(prompt_id, vector) of kept-pool prompts that have an embedding for this model."""
    return lake.con.execute(
        f"""
        WITH pool AS ({_POOL})
        SELECT e.prompt_id, e.vector FROM dedup_embeddings e JOIN pool USING (prompt_id)
        WHERE e.model = $model ORDER BY e.prompt_id
        """,
        {"key": params_key, "model": model},
    ).to_arrow_table()


def stored_embeddings(lake: Lake, model: str, prompt_ids: list[str]) -> pa.Table:
    """(prompt_id, vector) already stored for these prompts (reused across settings changes)."""
    with lake.registered("_dedup_ids", pa.table({"prompt_id": prompt_ids})):
        return lake.con.execute(
            "SELECT e.prompt_id, e.vector FROM dedup_embeddings e SEMI JOIN _dedup_ids USING (prompt_id) "
            "WHERE e.model = $model",
            {"model": model},
        ).to_arrow_table()


def write_run(
    lake: Lake, duplicates: pa.Table, signatures: pa.Table, embeddings: pa.Table | None
) -> dict[str, int]:
    """All rows of one run in one transaction (one DuckLake snapshot); returns new rows per table."""
    with lake.transaction():
        written = {
            "duplicates": lake.insert_new(Duplicate, duplicates),
            "dedup_signatures": lake.insert_new(DedupSignature, signatures),
        }
        if embeddings is not None:
            written["dedup_embeddings"] = lake.insert_new(DedupEmbedding, embeddings)
    return written
