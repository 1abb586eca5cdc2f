"""The recheck stage (issue 13 item 1): accepted rewrites and kept traces' answers checked
against the benchmarks before publish, hits in `contamination` with `target` (and the trace's
teacher and sample_index), incremental per check key."""

from __future__ import annotations

from schemas.decontam import DecontamSettings
from schemas.records import Rewrite, Trace
from tasks.decontam.published import run_recheck
from tasks.stage import stage

from tests.tasks.test_decontam_stage import CARLA, JANET, bench_dir, ingest_pool  # noqa: F401

CLEAN = [{"problem": f"A shop sells {n} pens a day. How many pens does it sell in {n + 1} days?"} for n in (3, 4, 5)]
HONEST = "Each day brings 3 more. So the total is 3 * 4 = 12 pens. The answer is 12."


def ids(lake) -> list[str]:
    return lake.query("SELECT prompt_id FROM prompts ORDER BY source_id").column(0).to_pylist()


def add(lake, rewrites: list[Rewrite], traces: list[Trace]) -> None:
    with lake.transaction():
        lake.insert_records(rewrites)
        lake.insert_records(traces)


def trace(prompt_id: str, index: int, solution: str, answer: str) -> Trace:
    return Trace(prompt_id=prompt_id, teacher="teacher-a", sample_index=index, solution=solution,
                 final_answer=answer, correct=True, status="kept", run_id="traces-1")


def test_a_rewrite_that_is_a_benchmark_item_and_an_answer_that_quotes_one_are_caught(lake, tmp_path, bench_dir):  # noqa: F811
    ingest_pool(lake, tmp_path, CLEAN)
    a, b, c = ids(lake)
    add(lake, [Rewrite(prompt_id=a, rewritten_problem=JANET, answer="18", status="accepted", run_id="rw"),
               Rewrite(prompt_id=b, rewritten_problem="A shop sells 4 pens a day for 5 days. How many pens?",
                       answer="20", status="accepted", run_id="rw")],
        [trace(a, 0, HONEST, "12"), trace(b, 0, HONEST, "20"), trace(b, 1, HONEST, "20"),
         trace(c, 0, f"Recall the problem: {CARLA} It takes 160 minutes.", "160"), trace(c, 1, HONEST, "24")])
    settings = DecontamSettings(benchmarks=[str(bench_dir)])
    report = run_recheck(lake, settings, "recheck-1")
    rows = lake.query("SELECT prompt_id, benchmark, target, teacher, sample_index FROM contamination "
                      "GROUP BY ALL ORDER BY ALL").to_pylist()
    assert rows == sorted([
        {"prompt_id": a, "benchmark": "gsm8k", "target": "rewrite", "teacher": "", "sample_index": -1},
        {"prompt_id": c, "benchmark": "gsm8k", "target": "answer", "teacher": "teacher-a", "sample_index": 0},
    ], key=lambda r: (r["prompt_id"], r["target"]))
    assert report.checked == {"rewrite": 2, "answer": 5} and report.contaminated == {"rewrite": 1, "answer": 1}
    assert report.funnel().as_dict() == {"in": 3, "kept": 1, "dropped": {"published_text_contaminated": 2}}
    assert lake.count("decontam_rechecked") == 7
    before = lake.count("contamination")
    again = run_recheck(lake, settings, "recheck-2")
    assert again.checked == {} and again.prompts == 0 and lake.count("contamination") == before
    add(lake, [], [trace(b, 2, HONEST, "20")])  # a new trace: only it is checked
    third = run_recheck(lake, settings, "recheck-3")
    assert third.checked == {"answer": 1} and third.contaminated == {"answer": 0}
    # a prompt already excluded (a is): its new texts are not checked again
    add(lake, [], [trace(a, 5, HONEST, "12")])
    assert run_recheck(lake, settings, "recheck-4").checked == {}


def test_recheck_is_registered_between_traces_and_publish_and_skipped_without_benchmarks():
    from tasks.stage import STAGE_NAMES

    assert STAGE_NAMES.index("traces") < STAGE_NAMES.index("recheck") < STAGE_NAMES.index("publish")
    spec = stage("recheck")
    assert spec.skip_reason(DecontamSettings()) == "no benchmarks configured"
    assert "contamination" in spec.writes and "traces" in spec.reads
