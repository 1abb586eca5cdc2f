"""Warehouse layer: row-level comparison of two stored releases, straight from their Parquet.

Rows are matched on the release key (prompt_id, teacher, sample_index, repeat; releases made
before up-sampling have no `repeat` column and read as repeat 0); a matched row whose
record differs (messages, difficulty, tokens, ...) counts as changed. Runs in a private
in-memory DuckDB, so it needs no catalog lock and never loads a whole release into Python.
"""

from __future__ import annotations

import json

import duckdb

from schemas.errors import UserError
from schemas.publish import RELEASE_KEY
from warehouse.home import Home
from warehouse.releases import DATA_DIR, version_dir

EXAMPLES = 5


def _files(home: Home, row: dict) -> list[str]:
    path = version_dir(home, row["name"], row["version"])
    files = [path / f["path"] for f in json.loads(row["manifest"])["files"] if f["path"].startswith(DATA_DIR)]
    for file in files:
        if not file.is_file():
            raise UserError(f"{row['name']}@v{row['version']}: {file} is missing; run `teachable datasets verify`")
    return [str(f) for f in files]


def diff_rows(home: Home, old: dict, new: dict) -> dict:
    """{added, removed, changed, unchanged, examples: {added: [...], removed: [...], changed: [...]}}."""
    key = ", ".join(RELEASE_KEY)
    con = duckdb.connect()
    try:
        for alias, row in (("a", old), ("b", new)):
            # The whole row as a struct, hashed: any difference in any column counts.
            files = _files(home, row)
            columns = {r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet($files)", {"files": files}).fetchall()}
            keys = ", ".join(k if k in columns else f"0 AS {k}" for k in RELEASE_KEY)
            con.execute(
                f"CREATE TEMP TABLE {alias} AS SELECT {keys}, md5(CAST(t AS VARCHAR)) AS h "
                "FROM read_parquet($files) AS t", {"files": files},
            )
        join = " AND ".join(f"a.{k} = b.{k}" for k in RELEASE_KEY)
        con.execute(
            f"CREATE TEMP TABLE d AS SELECT coalesce(a.prompt_id, b.prompt_id) AS prompt_id, "
            f"coalesce(a.teacher, b.teacher) AS teacher, coalesce(a.sample_index, b.sample_index) AS sample_index, "
            "coalesce(a.repeat, b.repeat) AS repeat, "
            "CASE WHEN a.h IS NULL THEN 'added' WHEN b.h IS NULL THEN 'removed' "
            "WHEN a.h <> b.h THEN 'changed' ELSE 'unchanged' END AS kind "
            f"FROM a FULL OUTER JOIN b ON {join}"
        )
        counts = dict(con.execute("SELECT kind, count(*) FROM d GROUP BY 1").fetchall())
        result: dict = {k: int(counts.get(k, 0)) for k in ("added", "removed", "changed", "unchanged")}
        examples = {}
        for kind in ("added", "removed", "changed"):
            rows = con.execute(
                f"SELECT {key} FROM d WHERE kind = ? ORDER BY {key} LIMIT {EXAMPLES}", [kind]
            ).fetchall()
            examples[kind] = [dict(zip(RELEASE_KEY, r)) for r in rows]
        result["examples"] = examples
        return result
    finally:
        con.close()
