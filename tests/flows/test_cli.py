"""The `teachable` CLI end to end: real Prefect (session harness), real DuckLake, real seed files."""

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli.app import app
from tests.support.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def teachable(teachable_cli):
    return lambda home, *args, check=True: teachable_cli("--home", str(home.root), *args, check=check)


def count_records(path: Path) -> int:
    if path.suffix == ".jsonl":
        return sum(1 for line in path.open("rb") if line.strip())
    return len(json.loads(path.read_text()))


def test_seed_pools_ingest_fully_and_rerun_adds_nothing(teachable, home, shared_data):
    seeds = shared_data / "seeds"
    commands = [
        ["ingest", str(seeds / "gsm8k_train.jsonl"), "--source", "gsm8k", "--problem-field", "question", "--answer-field", "answer"],
        ["ingest", str(seeds / "deepscaler_math_train.json"), "--source", "math"],
        ["ingest", str(seeds / "deepscaler_aime_1983_2023.json"), "--source", "aime"],
    ]
    expected = {
        "gsm8k": count_records(seeds / "gsm8k_train.jsonl"),
        "math": count_records(seeds / "deepscaler_math_train.json"),
        "aime": count_records(seeds / "deepscaler_aime_1983_2023.json"),
    }
    for command in commands:
        assert "quarantined 0" in teachable(home, *command).stdout
    for command in commands:
        assert "ingested 0 +" in teachable(home, *command).stdout

    result = teachable(home, "sql", "select source, count(*) as n, count(answer) as answered from prompts group by 1 order by 1", "--format", "csv")
    rows = {r["source"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert {s: int(r["n"]) for s, r in rows.items()} == expected
    assert sum(expected.values()) == 15_922
    assert int(rows["gsm8k"]["answered"]) == expected["gsm8k"]
    gsm = teachable(home, "sql", "select answer from prompts where source = 'gsm8k' and source_id = '1'", "--format", "json")
    assert json.loads(gsm.stdout) == [{"answer": "72"}]  # line 1 of GSM8K train ends with '#### 72'

    status = teachable(home, "status").stdout
    assert "prompts" in status and "15922" in status
    assert "ATTACH 'ducklake:" in status


def test_demo_config_runs_through_curate(teachable, home):
    teachable(home, "run", str(REPO / "configs" / "demo.yaml"), "--stages", "ingest")
    runs = teachable(home, "sql", "select stage, status, snapshot_id from runs order by started_at", "--format", "json")
    assert [r["stage"] for r in json.loads(runs.stdout)] == ["ingest"]
    from schemas.config import load_config
    from tasks.ingest.procedural import ProceduralSpec

    wanted = ProceduralSpec.parse(load_config(REPO / "configs" / "demo.yaml").sources[0].paths[0]).n
    count = teachable(home, "sql", "select count(*) as n from prompts where source = 'procedural'", "--format", "json")
    assert json.loads(count.stdout) == [{"n": wanted}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "/no/such.jsonl", "--source", "x"], "no such file: /no/such.jsonl"),
        (["ingest", "x.jsonl", "--source", "x", "--format", "xml"], "format"),
        (["ingest", "procedural://?n=zero", "--source", "x"], "bad generator spec"),
        (["sql", "delete from prompts"], "sql is read-only: DELETE statements are not allowed"),
        (["run", "missing.yaml"], "config file not found"),
        (["run", str(REPO / "configs" / "demo.yaml"), "--stages", "ingest,nope"], "unknown stage(s) nope"),
        (["difficulty", "--engine", "gpt"], "Input should be 'local'"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(home, tmp_path, args, message):
    from warehouse.lake import Lake

    Lake(home).close()
    proc = run_cli(None, "--home", str(home.root), *args, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_config_names_key_and_line(home, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("sources:\n  - name: a\n    paths: [x.jsonl]\n    formt: jsonl\n")
    result = runner.invoke(app, ["--home", str(home.root), "run", str(config)])
    assert result.exit_code == 2
    assert "bad.yaml:4: sources.0.formt: Extra inputs are not permitted" in result.stderr


def test_help_explains_commands():
    result = runner.invoke(app, ["--help"])
    for command in ("ingest", "run", "sql", "status", "serve-model"):
        assert command in result.output
    ingest_help = runner.invoke(app, ["ingest", "--help"])
    assert "--problem-field" in ingest_help.output and "quarantine" in ingest_help.output
