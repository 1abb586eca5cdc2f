"""The `decontaminate` flow and its CLI command on the session's Prefect harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flows.cli.app import main
from flows.cli.common import user_errors
from flows.cli.decontaminate import command
from flows.decontaminate import decontaminate_flow
from schemas.config import IngestSettings, SourceSettings
from schemas.decontam import DecontamSettings
from tasks.ingest.stage import ingest_source
from warehouse.lake import Lake

PROBLEM = ("Carla is downloading a 200 GB file. Normally she can download 2 GB/minute, but 40% of the way "
           "through the download, Windows forces a restart to install updates, which takes 20 minutes.")


@pytest.fixture
def warehouse(home, tmp_path: Path):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "gsm8k_test.jsonl").write_text(json.dumps({"question": PROBLEM, "answer": "#### 160"}) + "\n")
    pool = tmp_path / "pool.jsonl"
    pool.write_text(json.dumps({"problem": f"Question: {PROBLEM}"}) + "\n"
                    + json.dumps({"problem": "What is the sum of 2 and 3?"}) + "\n")
    with Lake(home) as lake:
        ingest_source(lake, SourceSettings(name="pool", paths=[str(pool)]), IngestSettings(), "ingest")
    return home, bench


def cli() -> typer.Typer:
    app = typer.Typer()
    app.callback()(main)
    app.command("decontaminate")(user_errors(command))
    return app


def test_flow_records_the_run_and_returns_hits(prefect_harness, warehouse):
    home, bench = warehouse
    settings = DecontamSettings(benchmarks=[str(bench)], embedding=False)
    result = decontaminate_flow(settings=settings, home=str(home.root))
    assert result["counts"]["checked"] == 2 and result["counts"]["contaminated"] == 1
    assert {(h["benchmark"], h["method"]) for h in result["hits"]} >= {("gsm8k", "ngram13")}
    with Lake(home, read_only=True) as lake:
        run = lake.query("SELECT stage, flow_run_id, snapshot_id, stats FROM runs WHERE stage = 'decontaminate'").to_pylist()
    assert len(run) == 1 and run[0]["flow_run_id"] and run[0]["snapshot_id"] == result["snapshot_id"]
    assert json.loads(run[0]["stats"])["contaminated"] == 1
    again = decontaminate_flow(settings=settings, home=str(home.root))
    assert again["counts"]["checked"] == 0 and again["counts"]["already_checked"] == 2


def test_cli_prints_hits_and_rejects_bad_benchmarks(prefect_harness, warehouse):
    home, bench = warehouse
    runner = CliRunner()
    result = runner.invoke(cli(), ["--home", str(home.root), "decontaminate", "--benchmarks", str(bench),
                                   "--no-embedding"])
    assert result.exit_code == 0, result.output
    assert "gsm8k" in result.output and "ngram13" in result.output and "contaminated 1" in result.output
    bad = runner.invoke(cli(), ["--home", str(home.root), "decontaminate", "--benchmarks", "/no/such/dir"])
    assert bad.exit_code == 2
    assert "no such benchmark file or directory" in bad.output and "Traceback" not in bad.output


def test_a_bad_sibling_policy_is_one_line(prefect_harness, warehouse):
    home, bench = warehouse
    bad = CliRunner().invoke(cli(), ["--home", str(home.root), "decontaminate", "--benchmarks", str(bench),
                                     "--sibling-policy", "maybe"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output and "sibling_policy" in bad.output


def _pool_home(root: Path, bench: Path) -> str:
    """A pool of copies, siblings and clean prompts (several chunks of 4)."""
    rows = [{"problem": f"Question: {PROBLEM}"}, {"problem": PROBLEM.replace("200 GB", "300 GB")}]
    rows += [{"problem": f"What is the sum of {n} and {n + 3}?"} for n in range(10)]
    pool = root.parent / "chunked-pool.jsonl"  # one file: the same prompt ids in both homes
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from warehouse.home import Home

    with Lake(Home.resolve(root)) as lake:
        ingest_source(lake, SourceSettings(name="pool", paths=[str(pool)]), IngestSettings(), "ingest")
    return str(root)


def _rows(home: str) -> dict:
    from warehouse.home import Home

    with Lake(Home.resolve(home), read_only=True) as lake:
        return {t: lake.query(f"SELECT * EXCLUDE (run_id) FROM {t} ORDER BY ALL").to_pylist()
                for t in ("contamination", "decontam_checked", "decontam_reviews")}


def test_chunks_on_dask_give_the_local_rows(prefect_harness, warehouse, tmp_path):
    import distributed
    from distributed import get_task_stream

    from flows.runtime.task_runners import on_task_runner

    _, bench = warehouse
    settings = DecontamSettings(benchmarks=[str(bench)], embedding=False, batch_size=4)
    local_home, dask_home = _pool_home(tmp_path / "local", bench), _pool_home(tmp_path / "dask", bench)
    local = decontaminate_flow(settings=settings, home=local_home)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        address = cluster.scheduler.address.replace("tcp://", "dask://")
        with get_task_stream(client) as stream:
            remote = on_task_runner(decontaminate_flow, address)(settings=settings, home=dask_home)
        ran = [task for task in stream.data if task["worker"] in set(client.scheduler_info()["workers"])]
    finally:
        client.close()
        cluster.close()
    assert remote["counts"]["checked"] == local["counts"]["checked"] == 12
    assert remote["counts"]["contaminated"] == local["counts"]["contaminated"] == 2  # a copy and a sibling
    assert _rows(dask_home) == _rows(local_home)
    assert len(ran) >= 3  # every chunk of 4 ran on a Dask worker
