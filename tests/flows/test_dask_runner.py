"""`--task-runner`: dedup on a real local Dask cluster (2 worker processes) gives exactly the
rows of the default local pool, and its shards really ran on the Dask workers; bad values and
an unreachable scheduler are one line and exit 2."""

import json
import socket

import pytest
from typer.testing import CliRunner

from schemas.config import IngestSettings, SourceSettings
from schemas.dedup import DedupSettings
from schemas.errors import UserError
from tasks.ingest.stage import ingest_source
from warehouse.home import Home
from warehouse.lake import Lake

SHARD = 150  # prompts per shard: the pool below makes several signing shards


@pytest.fixture(scope="module")
def dask_cluster():
    import distributed
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def near_duplicates(tmp_path) -> list:
    """Procedural seeds, then a file of edited copies of some of them (same text in every home)."""
    seeds = SourceSettings(name="gen", paths=["procedural://?n=700&seed=11"])
    with Lake(Home.resolve(tmp_path / "scratch")) as lake:
        ingest_source(lake, seeds, IngestSettings(), "ingest-test")
        problems = lake.query("SELECT problem FROM prompts ORDER BY source_id").column(0).to_pylist()
    edits = [str.upper, lambda t: "Solve: " + t, lambda t: t.replace(" ", "  ") + " Explain.",
             lambda t: f" {t}\n"]  # the last one is an exact duplicate after normalisation
    copies = [{"problem": edits[i % len(edits)](p)} for i, p in enumerate(problems[::3])]
    path = tmp_path / "copies.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in copies))
    return [seeds, SourceSettings(name="copies", paths=[str(path)])]


def ingested(root, sources) -> str:
    with Lake(Home.resolve(root)) as lake:
        for source in sources:
            ingest_source(lake, source, IngestSettings(), "ingest-test")
    return str(root)


def outcome(home: str) -> dict:
    with Lake(Home.resolve(home), read_only=True) as lake:
        kept = lake.query("SELECT prompt_id FROM prompts WHERE prompt_id NOT IN "
                          "(SELECT prompt_id FROM duplicates) ORDER BY 1").column(0).to_pylist()
        rows = lake.query("SELECT prompt_id, duplicate_of, method, round(similarity, 9) AS s "
                          "FROM duplicates ORDER BY 1").to_pylist()
        keys = lake.query("SELECT prompt_id, band_keys FROM dedup_signatures ORDER BY 1").to_pylist()
    return {"kept": kept, "duplicates": rows, "signatures": keys}


def test_dask_workers_give_the_local_pool_result(prefect_harness, dask_cluster, near_duplicates, tmp_path):
    from distributed import get_task_stream

    from flows.dedup import dedup_flow
    from flows.runtime.task_runners import on_task_runner

    settings = DedupSettings(shard_size=SHARD, workers=2)
    local_home = ingested(tmp_path / "local", near_duplicates)
    dask_home = ingested(tmp_path / "dask", near_duplicates)
    local = dedup_flow(settings=settings, home=local_home)
    address = dask_cluster.scheduler.address.replace("tcp://", "dask://")
    with get_task_stream(dask_cluster) as stream:
        remote = on_task_runner(dedup_flow, address)(settings=settings, home=dask_home)

    assert remote["totals"]["dropped"] == local["totals"]["dropped"]
    assert local["totals"]["dropped"]["exact"] >= 50 and local["totals"]["dropped"]["minhash"] >= 150
    assert outcome(dask_home) == outcome(local_home)
    signing = -(-(local["totals"]["considered"] - local["totals"]["dropped"]["exact"]) // SHARD)
    workers = set(dask_cluster.scheduler_info()["workers"])
    ran = [task for task in stream.data if task["worker"] in workers]
    assert signing >= 4 and len(ran) >= signing  # every signing shard (verification runs in the flow's process)
    assert len(ran) == len(stream.data) and {task["worker"] for task in ran} == workers


def test_threads_runner_gives_the_same_result(prefect_harness, near_duplicates, tmp_path):
    from flows.dedup import dedup_flow
    from flows.runtime.task_runners import on_task_runner

    settings = DedupSettings(shard_size=SHARD, workers=1)
    local_home = ingested(tmp_path / "local", near_duplicates)
    threads_home = ingested(tmp_path / "threads", near_duplicates)
    dedup_flow(settings=settings, home=local_home)
    on_task_runner(dedup_flow, "threads:2")(settings=settings, home=threads_home)
    assert outcome(threads_home) == outcome(local_home)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


@pytest.mark.parametrize("spec,message", [
    ("ray://x", "unknown task runner 'ray://x': use local, threads[:N] or dask://HOST:PORT"),
    ("threads:0", "threads:N needs a whole number N >= 1"),
    ("threads:two", "threads:N needs a whole number N >= 1"),
    ("dask://127.0.0.1", "use dask://HOST:PORT"),
    ("dask://127.0.0.1:99999", "use dask://HOST:PORT"),
    ("dask://:8786", "use dask://HOST:PORT"),
])
def test_parser_rejects_bad_values(spec, message):
    from flows.runtime.task_runners import parse

    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(spec)


def test_parser_builds_the_runners():
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.runtime.task_runners import parse

    assert parse(None) is None and parse("local") is None
    threads = parse("threads:3")
    assert isinstance(threads, ThreadPoolTaskRunner) and threads._max_workers == 3


def test_dask_address_is_checked_before_any_work(dask_cluster):
    from prefect_dask import DaskTaskRunner

    from flows.runtime.task_runners import parse

    address = dask_cluster.scheduler.address
    runner = parse(address.replace("tcp://", "dask://"))
    assert isinstance(runner, DaskTaskRunner) and runner.address == address
    unreachable = r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:\d+: .*refused"
    with pytest.raises(UserError, match=unreachable):
        parse(f"dask://127.0.0.1:{closed_port()}")


@pytest.mark.parametrize("spec", ["bogus", "dask://127.0.0.1:{port}"])
def test_cli_bad_task_runner_is_one_line_and_exit_2(home, spec):
    from flows.cli.app import app

    flags = ["--home", str(home.root), "dedup", "--task-runner", spec.format(port=closed_port())]
    result = CliRunner().invoke(app, flags)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output


def test_run_maps_dedup_shards_on_the_chosen_runner(prefect_harness, tmp_path, monkeypatch):
    from flows.cli.app import app
    from flows.runtime.task_runners import TaskRunnerShards

    mapped, original = [], TaskRunnerShards.map

    def spy(self, fn, items):
        mapped.append((type(self.runner).__name__, fn.__name__))
        return original(self, fn, items)

    monkeypatch.setattr(TaskRunnerShards, "map", spy)
    config = tmp_path / "pipeline.yaml"
    config.write_text('name: t\nsources:\n  - name: gen\n    paths: ["procedural://?n=60&seed=2"]\n')
    flags = ["--home", str(tmp_path / "home"), "run", str(config), "--stages", "ingest,dedup"]
    result = CliRunner().invoke(app, [*flags, "--task-runner", "threads:2"])
    assert result.exit_code == 0, result.output
    assert ("ThreadPoolTaskRunner", "sign_shard") in mapped
    bad = CliRunner().invoke(app, [*flags, "--task-runner", "dask://127.0.0.1"])
    assert bad.exit_code == 2 and "use dask://HOST:PORT" in bad.output


def test_a_stage_flow_called_without_its_runner_refuses(prefect_harness, home):
    from flows.dedup import dedup_flow

    with pytest.raises(UserError, match="call it through flows.runtime.task_runners.on_task_runner"):
        dedup_flow(settings=DedupSettings(), home=str(home.root), task_runner="dask://127.0.0.1:8786")
