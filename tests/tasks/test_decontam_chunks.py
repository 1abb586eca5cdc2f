"""Decontamination at scale (issue 12 item 6): each chunk is committed on its own, so a run
that dies mid-way keeps the chunks before and a rerun checks only the rest, with the rows of
an uninterrupted run; a shard mapper in other processes gives the rows of the in-process run."""

from __future__ import annotations

import logging

import pytest

import tasks.decontam.stage as stage_module
from schemas.decontam import DecontamSettings
from tasks.decontam.stage import run_decontam
from tasks.shards import Workers
from warehouse.home import Home
from warehouse.lake import Lake

from tests.tasks.test_decontam_stage import POOL, bench_dir, ingest_pool  # noqa: F401

POOL_8 = POOL + [{"problem": f"A box holds {n} red and {n + 2} blue balls. How many balls are there?"}
                 for n in (3, 5, 7)]


def rows(lake) -> dict:
    return {
        "contamination": lake.query("SELECT p.source_id, benchmark, benchmark_item, method, score, evidence "
                                    "FROM contamination JOIN prompts p USING (prompt_id) ORDER BY ALL").to_pylist(),
        "reviews": lake.query("SELECT p.source_id, benchmark, layer, score FROM decontam_reviews "
                              "JOIN prompts p USING (prompt_id) ORDER BY ALL").to_pylist(),
        "checked": lake.query("SELECT p.source_id, contaminated FROM decontam_checked "
                              "JOIN prompts p USING (prompt_id) ORDER BY ALL").to_pylist(),
    }


def settings(bench_dir, **changes) -> DecontamSettings:  # noqa: F811
    return DecontamSettings(benchmarks=[str(bench_dir)], embedding=False, batch_size=3, **changes)


def test_a_failed_chunk_keeps_the_chunks_before_and_the_rerun_goes_on(lake, tmp_path, bench_dir, monkeypatch,
                                                                         caplog):
    ingest_pool(lake, tmp_path, POOL_8)
    real, calls = stage_module.check_chunk, []

    def dies_on_the_second_chunk(*args):
        calls.append(len(args[4]))
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")  # as a kill would: nothing after this point runs
        return real(*args)

    monkeypatch.setattr(stage_module, "check_chunk", dies_on_the_second_chunk)
    with caplog.at_level(logging.INFO, logger="teachable.decontam"), pytest.raises(KeyboardInterrupt):
        run_decontam(lake, settings(bench_dir), "run-1")
    assert lake.count("decontam_checked") == 3  # the first chunk, committed
    assert "committed 3/8 prompts" in caplog.text
    monkeypatch.setattr(stage_module, "check_chunk", real)
    again = run_decontam(lake, settings(bench_dir), "run-2")
    assert again.checked == 5 and again.already_checked == 3
    with Lake(Home.resolve(tmp_path / "whole")) as whole:
        ingest_pool(whole, tmp_path, POOL_8, name="pool")
        run_decontam(whole, settings(bench_dir), "run-1")
        assert rows(whole) == rows(lake)


def test_worker_processes_give_the_in_process_rows(lake, tmp_path, bench_dir):  # noqa: F811
    ingest_pool(lake, tmp_path, POOL_8)
    local = run_decontam(lake, settings(bench_dir), "run-1")
    with Lake(Home.resolve(tmp_path / "workers")) as other, Workers(2) as workers:
        ingest_pool(other, tmp_path, POOL_8, name="pool")
        mapped = run_decontam(other, settings(bench_dir), "run-1", shards=workers)
        assert rows(other) == rows(lake)
    assert (mapped.checked, mapped.contaminated) == (local.checked, local.contaminated) == (8, 4)


def test_a_killed_runs_pool_boilerplate_is_not_used_by_the_run_that_resumes_it(lake):
    """Pool boilerplate is learned chunk by chunk; what a killed run stored (no `runs` row)
    must not make the resumed run flag less than the uninterrupted run would have."""
    from datetime import UTC, datetime

    from schemas.decontam import DecontamAllowlist
    from tasks.decontam.store import stored_allowlist
    from tasks.runs import record_run

    with lake.transaction():
        lake.insert_records([
            DecontamAllowlist(check_key="k", ngram=f"gram {run}", reason="pool", count=9, run_id=run)
            for run in ("finished", "killed")])
    record_run(lake, run_id="finished", stage="decontaminate", started_at=datetime.now(UTC), params={}, stats={})
    assert stored_allowlist(lake, "k") == frozenset({"gram finished"})
