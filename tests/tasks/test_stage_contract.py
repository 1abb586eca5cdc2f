"""The one stage contract (tasks.stage): every registered stage has the same entry shape,
declares the tables it reads and writes, is checked before work, and is recorded in `runs`
whether a Prefect flow or an ad-hoc command runs it."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

from schemas.config import IngestJob, PipelineConfig, SourceSettings
from schemas.errors import UserError
from schemas.llm import EngineSettings
from schemas.tables import TABLES
from tasks.llm.local_engine import engines_in, pointed_at, with_engines
from tasks.stage import STAGE_NAMES, STAGES, check_inputs, choose, run_recorded
from warehouse.lake import Lake

KNOWN_TABLES = {model.__table__ for model in TABLES}


@pytest.mark.parametrize("spec", STAGES, ids=lambda s: s.name)
def test_every_stage_has_one_entry_shape(spec):
    module = spec.module
    assert list(inspect.signature(module.run).parameters) == ["ctx", "settings"]
    assert spec.writes, f"{spec.name} writes nothing"
    assert set(spec.reads) | set(spec.writes) <= KNOWN_TABLES


def test_choose_keeps_pipeline_order_and_refuses_unknown_stages():
    assert choose(["publish", "ingest"]) == ["ingest", "publish"]
    assert choose(None) == list(STAGE_NAMES)
    with pytest.raises(UserError, match="unknown stage"):
        choose(["ingest", "nope"])


def test_inputs_are_checked_before_any_work(home):
    with Lake(home) as lake:
        check_inputs(lake, ["ingest", "dedup", "difficulty"])  # prompts come from ingest
        with pytest.raises(UserError, match=r"stage dedup reads `prompts`.*run ingest first"):
            check_inputs(lake, ["dedup"])
        with pytest.raises(UserError, match=r"stage traces reads `difficulty`"):
            check_inputs(lake, ["ingest", "traces"])


def test_a_direct_run_is_recorded_with_its_funnel(home):
    job = IngestJob(sources=[SourceSettings(name="gen", paths=["procedural://?n=12&seed=3"])])
    outcome = run_recorded("ingest", job, str(home.root))
    assert outcome.result["totals"]["ingested"] == 12
    with Lake(home, read_only=True) as lake:
        check_inputs(lake, ["dedup"])  # prompts now hold rows
        run = lake.query("SELECT stage, params, stats, flow_run_id FROM runs").to_pylist()
    assert len(run) == 1 and run[0]["stage"] == "ingest" and run[0]["flow_run_id"] is None
    assert json.loads(run[0]["stats"])["funnel"] == {"in": 12, "kept": 12, "dropped": {}}
    assert json.loads(run[0]["params"]) == job.model_dump(mode="json")


def test_local_engines_are_found_anywhere_in_the_settings():
    config = PipelineConfig.model_validate({
        "sources": [{"name": "s", "paths": ["procedural://?n=1"]}],
        "difficulty": {"base": {"kind": "local", "model": "m"}, "reference": {"kind": "openai", "model": "r",
                                                                          "base_url": "http://127.0.0.1:9/v1"}},
        "rewrite": {"rewriter": {"kind": "local", "model": "m"}},
        "decontaminate": {"judge": {"kind": "local", "model": "j"}},
        "traces": {"teacher": {"kind": "openai", "model": "t", "base_url": "http://127.0.0.1:9/v1"}},
    })
    engines = [e for spec in STAGES for e in engines_in(spec.settings_of(config))]
    local = [e.model for e in engines if e.kind == "local"]
    assert local.count("m") == 2 and "j" in local  # base, rewriter; the judge (decontaminate, recheck)
    assert {"r", "t"} <= {e.model for e in engines}
    pointed = with_engines(config.difficulty, lambda e: pointed_at(e, "http://127.0.0.1:1234/v1"))
    assert pointed.base == EngineSettings(kind="openai", model="m", base_url="http://127.0.0.1:1234/v1")
    assert pointed.reference == config.difficulty.reference  # not local: unchanged
    assert config.difficulty.base.kind == "local"  # the config itself is not changed


def test_ad_hoc_ingest_and_dedup_need_no_prefect(home, tmp_path):
    """Without a configured Prefect server an ad-hoc stage command does not even import Prefect
    (no temporary server: ~13 s saved, nor its 1.8 s import), and its run is recorded all the
    same; dedup's --task-runner flag is checked without it too."""
    seeds = tmp_path / "one.jsonl"
    seeds.write_text('{"problem": "What is 1+1?", "answer": "2"}\n')
    env = {k: v for k, v in __import__("os").environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    for command, printed in ((["ingest", str(seeds), "--source", "s"], "ingested 1"), (["dedup"], "kept 1")):
        script = ("import sys; from flows.cli.app import entrypoint\n"
                  f"sys.argv = ['teachable', '--home', {str(home.root)!r}, *{command!r}]\n"
                  "try:\n    entrypoint()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
                  "print('PREFECT', 'prefect' in sys.modules)\n")
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "PREFECT False" in proc.stdout and printed in proc.stdout, proc.stdout
    with Lake(home, read_only=True) as lake:
        assert lake.query("SELECT stage FROM runs ORDER BY started_at").to_pylist() == [{"stage": "ingest"}, {"stage": "dedup"}]
