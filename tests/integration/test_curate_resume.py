"""Crash-resume of the whole DAG: `teachable run` is SIGKILLed at five random points (mid
ingest, inside the LLM stages, during the publish), rerun each time, and the final release is
byte-identical to an uninterrupted run's, with no duplicated rows anywhere.

The engine is the deterministic oracle server (tests/support/oracle.py): a sampled real model
gives different answers on two uninterrupted runs, so byte-identity can only be asked of an
engine whose answers are a function of the request. The kills are real SIGKILLs, landed at
named failpoints (tasks/failpoints.py) with a random N-th occurrence, seed printed on failure.
"""

import json
import random

import pytest

from schemas.tables import TABLES
from tests.support.cli import run_cli
from tests.support.fake_openai import FakeOpenAI
from tests.support.oracle import oracle, pipeline_config, procedural_answers
from warehouse.home import Home
from warehouse.lake import Lake

pytestmark = pytest.mark.slow

SPEC = "procedural://?n=120&seed=5&levels=1-3"
RUN_SPECIFIC = {"runs", "llm_calls", "ingest_files"}  # one row per run or attempt: more runs, more rows, by design


def curate(api_url, home, config, cwd, failpoint=None):
    # The test harness's server runs no lease repossessor, so slots a killed run held on the
    # endpoint's Prefect limit would stay taken for the session: these runs keep local limits.
    env = {"TEACHABLE_PREFECT_LIMITS": "0", **({"TEACHABLE_FAILPOINTS": failpoint} if failpoint else {})}
    return run_cli(api_url, "--home", str(home), "run", str(config), cwd=cwd, **env)


def kill_points(rng: random.Random) -> list[str]:
    """Five points in pipeline order; each N is small enough that the point is always reached."""
    points = [
        "ingest.batch@1",
        f"llm.samples.difficulty@{rng.randint(1, 40)}",
        f"llm.samples.difficulty@{rng.randint(1, 20)}",
        f"llm.samples.traces@{rng.randint(1, 40)}",
        "publish.staged@1",
    ]
    if rng.random() < 0.5:  # sometimes the first difficulty kill moves into rewrite (which runs before it)
        points[1] = "llm.samples.rewrite@1"
    return points


def table_counts(home) -> dict[str, tuple[int, int]]:
    """(rows, distinct identities) per table."""
    counts = {}
    with Lake(Home.resolve(home), read_only=True) as lake:
        for model in TABLES:
            key = ", ".join(f'"{c}"' for c in model.__key__)
            rows, distinct = lake.query(
                f'SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT {key} FROM "{model.__table__}")) '
                f'FROM "{model.__table__}"').to_pylist()[0].values()
            counts[model.__table__] = (rows, distinct)
    return counts


def release(home) -> dict:
    versions = sorted((home / "releases" / "oracle").glob("v*"))
    assert [v.name for v in versions] == ["v1"], versions
    return json.loads((versions[0] / "manifest.json").read_text())


def test_sigkill_at_five_points_then_resume_gives_identical_release(prefect_harness, tmp_path):
    seed = random.randrange(1_000_000)
    points = kill_points(random.Random(seed))
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    with FakeOpenAI(oracle(procedural_answers(SPEC))) as fake:
        config = pipeline_config(tmp_path / "cfg.yaml", fake.base_url, SPEC, extra={"ingest": {"batch_size": 50}})
        assert curate(prefect_harness, straight, config, tmp_path).returncode == 0
        for point in points:
            killed = curate(prefect_harness, resumed, config, tmp_path, failpoint=point)
            assert killed.returncode == -9, f"seed {seed}: {point} was not reached\n{killed.stderr[-2000:]}"
        final = curate(prefect_harness, resumed, config, tmp_path)
        assert final.returncode == 0, final.stderr[-3000:]

    a, b = release(straight), release(resumed)
    assert b["sha256"] == a["sha256"], f"seed {seed}, points {points}"
    assert b["files"] == a["files"] and b["rows"] == a["rows"] > 0
    assert b["stages"] == a["stages"]
    before, after = table_counts(straight), table_counts(resumed)
    for table, (rows, distinct) in after.items():
        assert rows == distinct, f"{table}: {rows - distinct} duplicated rows (seed {seed})"
        if table not in RUN_SPECIFIC:
            assert rows == before[table][0], f"{table}: {rows} rows vs {before[table][0]} uninterrupted"
    verify = run_cli(prefect_harness, "--home", str(resumed), "datasets", "verify", "oracle@v1", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
