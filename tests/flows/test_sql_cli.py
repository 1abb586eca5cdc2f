"""`teachable sql` as a user runs it: reads work, the reported write through EXPLAIN ANALYZE
is refused in one line, and --no-files keeps the query to the warehouse's tables."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq

from tests.support.cli import run_cli


def digests(root):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_sql_reads_and_refuses_writes_in_one_line(home, tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"problem": "What is 2+2?", "answer": "4"}\n')
    assert run_cli(None, "--home", str(home.root), "ingest", str(seeds), "--source", "s", cwd=tmp_path).returncode == 0
    local = tmp_path / "local.parquet"
    pq.write_table(pa.table({"x": [7]}), local)
    before = digests(home.root)

    read = run_cli(None, "--home", str(home.root), "sql", "SELECT count(*) AS n FROM prompts", "-f", "csv", cwd=tmp_path)
    assert read.returncode == 0 and read.stdout.splitlines() == ["n", "1"]
    attack = f"explain analyze copy (select 'x') to '{home.catalog}' (format csv)"
    refused = run_cli(None, "--home", str(home.root), "sql", attack, cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: sql is read-only: EXPLAIN of COPY statements is not allowed"]
    file_read = run_cli(None, "--home", str(home.root), "sql", f"SELECT x FROM '{local}'", "-f", "csv", cwd=tmp_path)
    assert file_read.stdout.splitlines() == ["x", "7"]
    no_files = run_cli(None, "--home", str(home.root), "sql", f"SELECT x FROM '{local}'", "--no-files", cwd=tmp_path)
    assert no_files.returncode == 2 and "reading local files is turned off" in no_files.stderr
    assert len(no_files.stderr.strip().splitlines()) == 1
    assert digests(home.root) == before
