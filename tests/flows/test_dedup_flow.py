"""The `dedup` flow and the `teachable dedup` command body under the session Prefect harness:
the run is recorded in `runs`, a rerun does nothing, bad flags are one line and exit 2."""

import json

import pytest
import typer
from typer.testing import CliRunner

from schemas.config import IngestSettings, SourceSettings
from schemas.dedup import DedupSettings
from tasks.ingest.stage import ingest_source
from warehouse.lake import Lake

BASE = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did she sell?"


@pytest.fixture
def pool(home, tmp_path):
    path = tmp_path / "pool.jsonl"
    records = [BASE, BASE.upper(), BASE + " ", BASE.replace("48", "50"), "How many legs do 3 cats have?"]
    path.write_text("".join(json.dumps({"problem": r}) + "\n" for r in records))
    with Lake(home) as lake:
        ingest_source(lake, SourceSettings(name="s", paths=[str(path)]), IngestSettings(), "ingest-test")
    return home


def cli() -> typer.Typer:
    from flows.cli.app import app

    return app


def test_dedup_flow_records_its_run(prefect_harness, pool):
    from flows.dedup import dedup_flow

    result = dedup_flow(settings=DedupSettings(), home=str(pool.root))
    assert result["totals"]["considered"] == 5
    assert result["totals"]["dropped"] == {"exact": 1, "minhash": 1, "embedding": 0}
    with Lake(pool, read_only=True) as lake:
        run = lake.query("SELECT stage, status, stats, snapshot_id, flow_run_id FROM runs WHERE run_id = ?", [result["run_id"]]).to_pylist()[0]
    assert run["stage"] == "dedup" and run["status"] == "completed" and run["flow_run_id"]
    assert json.loads(run["stats"])["kept"] == 3 and run["snapshot_id"] == result["snapshot_id"]
    again = dedup_flow(settings=DedupSettings(), home=str(pool.root))
    assert again["totals"]["considered"] == 0


def test_cli_command_runs_the_flow_and_prints_the_summary(prefect_harness, pool):
    result = CliRunner().invoke(cli(), ["--home", str(pool.root), "dedup", "--threshold", "0.7", "--source-priority", "s"])
    assert result.exit_code == 0, result.output
    assert "considered 5 = kept 3 + dropped 2 (exact 1, minhash 1, embedding 0)" in " ".join(result.output.split())


@pytest.mark.parametrize("flags", [["--threshold", "1.5"], ["--shingle", "letters"], ["--bands", "4"]])
def test_cli_bad_flags_are_one_line_and_exit_2(home, flags):
    result = CliRunner().invoke(cli(), ["--home", str(home.root), "dedup", *flags])
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
