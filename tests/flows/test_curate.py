"""The curate flow as a user runs it: funnel and LLM-usage artifacts in Prefect, progress
artifacts during the LLM stages, and two runs on one home (the second refuses or waits)."""

import fcntl
import json
import time

import pytest

from tests.support.cli import start_cli
from tests.support.fake_openai import FakeOpenAI
from tests.support.oracle import oracle, pipeline_config, procedural_answers
from warehouse.home import Home
from warehouse.runlock import hold_home, lock_path

SPEC = "procedural://?n=60&seed=3&levels=1-3"


def start(api_url, home, config, cwd, *extra):
    return start_cli(api_url, "--home", str(home), "run", str(config), *extra, cwd=cwd)


def finish(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def lock_is_held(home) -> bool:
    path = lock_path(Home.resolve(home))
    if not path.exists():
        return False
    with open(path) as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False


def latest_artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                                      sort=ArtifactSort.CREATED_DESC, limit=1)
    assert found, f"no artifact {key!r}"
    return found[0]


@pytest.fixture
def oracle_server():
    with FakeOpenAI(oracle(procedural_answers(SPEC)), delay_s=0.02) as fake:
        yield fake


def test_curate_publishes_funnel_usage_and_progress_artifacts(prefect_harness, oracle_server, teachable_cli, tmp_path):
    home = tmp_path / "home"
    config = pipeline_config(tmp_path / "cfg.yaml", oracle_server.base_url, SPEC)
    code, out, err = finish(start(prefect_harness, home, config, tmp_path))
    assert code == 0, err[-3000:]
    assert "funnel (in = kept + dropped)" in out and "LLM usage" in out

    funnel = {row["stage"]: row for row in json.loads(latest_artifact("curate-funnel").data)}
    assert list(funnel) == ["ingest", "dedup", "decontaminate", "rewrite", "difficulty", "traces", "recheck", "publish"]
    for row in funnel.values():
        reasons = 0 if row["reasons"] in ("-",) or row["reasons"].startswith("skipped") else \
            sum(int(part.rsplit(" ", 1)[1]) for part in row["reasons"].split(", "))
        assert row["in"] == row["kept"] + row["dropped"] and row["dropped"] == reasons, row
    stats = {r["stage"]: json.loads(r["stats"]) for r in json.loads(teachable_cli(
        "--home", str(home), "sql", "SELECT stage, stats FROM runs", "--format", "json").stdout)}
    assert funnel["ingest"]["in"] == 60
    assert funnel["difficulty"]["kept"] == stats["difficulty"]["bands"].get("teachable", 0)
    assert funnel["traces"]["kept"] == stats["traces"]["kept"] > 0
    assert funnel["publish"]["kept"] == stats["publish"]["rows"]
    recorded = {stage: s["funnel"] for stage, s in stats.items()}  # the same funnel, queryable in `runs`
    assert set(recorded) == {stage for stage, row in funnel.items() if not row["reasons"].startswith("skipped")}
    for stage, f in recorded.items():
        assert (f["in"], f["kept"], sum(f["dropped"].values())) == \
            (funnel[stage]["in"], funnel[stage]["kept"], funnel[stage]["dropped"]), stage

    usage = json.loads(latest_artifact("curate-llm-usage").data)
    calls = json.loads(teachable_cli("--home", str(home), "sql", "SELECT stage, count(*) AS n FROM llm_calls GROUP BY 1",
                                     "--format", "json").stdout)
    assert {r["stage"]: r["calls"] for r in usage} == {r["stage"]: r["n"] for r in calls}
    assert sum(r["calls"] for r in usage) == len(oracle_server.requests)

    progress = latest_artifact("traces-progress")
    assert progress.type == "progress" and float(progress.data) == 100.0


def test_second_curate_run_refuses_while_the_first_runs(prefect_harness, tmp_path):
    spec = "procedural://?n=150&seed=4&levels=1-3"
    with FakeOpenAI(oracle(procedural_answers(spec)), delay_s=0.1) as slow:
        config = pipeline_config(tmp_path / "cfg.yaml", slow.base_url, spec)
        home = tmp_path / "home"
        first = start(prefect_harness, home, config, tmp_path)
        deadline = time.monotonic() + 120
        while not lock_is_held(home) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lock_is_held(home), "the first run never took the home"
        code, _, err = finish(start(prefect_harness, home, config, tmp_path))
        assert first.poll() is None, "the first run ended before the second was refused: slow it down"
        assert code == 2, err[-2000:]
        assert f"home {home} is busy" in err and f"run {config}" in err and f"pid {first.pid}" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        code, out, err = finish(first)
        assert code == 0, err[-3000:]
    assert "release oracle v1 (new" in out


def test_waiting_run_starts_when_the_home_is_free(prefect_harness, oracle_server, tmp_path):
    home = tmp_path / "home"
    config = pipeline_config(tmp_path / "cfg.yaml", oracle_server.base_url, SPEC)
    with hold_home(Home.resolve(home), "teachable run other.yaml", wait=0):
        waiting = start(prefect_harness, home, config, tmp_path, "--wait", "300", "--stages", "ingest")
        time.sleep(8)
        assert waiting.poll() is None, finish(waiting)[2][-2000:]
    code, out, err = finish(waiting)
    assert code == 0, err[-2000:]
    assert "is busy: waiting up to 300 s for `teachable run other.yaml`" in err
    assert "ingested 60" in out


def test_prefect_global_limit_governs_llm_endpoint(prefect_harness, tmp_path):
    """With a server present, the endpoint's Prefect global concurrency limit (here set to 1 by
    an operator) caps requests in flight across the run, below the engine's own 4."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    from tasks.llm.gates import limit_name

    spec = "procedural://?n=30&seed=8&levels=1-2"
    with FakeOpenAI(oracle(procedural_answers(spec)), delay_s=0.05) as fake:
        config = pipeline_config(tmp_path / "cfg.yaml", fake.base_url, spec)
        name = limit_name(fake.base_url, "oracle")
        with get_client(sync_client=True) as client:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        code, _, err = finish(start(prefect_harness, tmp_path / "home", config, tmp_path, "--stages", "ingest,difficulty"))
        assert code == 0, err[-2000:]
        # every prompt with an answer is scored (answerless ones stay unlabelled: no reference model)
        assert len(fake.requests) >= 20 and fake.max_in_flight == 1
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(name)
        fake.max_in_flight = 0
        code, _, err = finish(start(prefect_harness, tmp_path / "home2", config, tmp_path, "--stages", "ingest,difficulty"))
        assert code == 0, err[-2000:]
        with get_client(sync_client=True) as client:
            assert client.read_global_concurrency_limit_by_name(name).limit == 4  # created from the engine's setting
        assert fake.max_in_flight > 1  # without the operator's limit the engine's 4 apply
