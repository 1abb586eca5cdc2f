"""Each stage report states its own funnel; the curate table reads that one shape."""

from collections import Counter

from tasks.runs import funnel_row, funnel_rows
from tasks.dedup.stage import DedupReport
from tasks.decontam.report import DecontamReport
from tasks.difficulty.stage import DifficultyReport
from tasks.ingest.stage import IngestReport, UnitStats
from tasks.publish.stage import PublishReport
from tasks.rewrite.stage import RewriteReport
from tasks.runs import Funnel
from tasks.traces.stage import TracesReport


def reports() -> dict:
    units = [UnitStats("a.jsonl", "jsonl", read=10, ingested=6, unchanged=2, quarantined=2,
                       reasons=Counter({"missing_problem": 1, "bad_json": 1})),
             UnitStats("b.csv", "csv", read=5, ingested=5)]
    return {
        "ingest": IngestReport("r", "s", units),
        "dedup": DedupReport("r", "k", considered=15, kept=11, dropped=Counter({"exact": 3, "minhash": 1})),
        "decontaminate": DecontamReport("r", "k", {}, checked=11, contaminated=2),
        "difficulty": DifficultyReport("r", "m", considered=9, scored=8, pending=1,
                                       bands=Counter({"teachable": 3, "too_easy": 4, "too_hard": 1})),
        "rewrite": RewriteReport("r", candidates=4, accepted=1, rejected=Counter({"leaked_answer": 2, "bad_json": 1})),
        "traces": TracesReport("r", "t", prompts=3, responses=12, kept=5, dropped=Counter({"wrong_answer": 6}),
                               incomplete=1),
        "publish": PublishReport("r", "n", 1, True, "p", rows=4, sha256="x", snapshot_id=1,
                                 stats={"dropped": {"too_long": 1}}),
    }


def test_every_stage_funnel_reconciles_in_with_kept_plus_dropped():
    expected = {"ingest": (15, 13), "dedup": (15, 11), "decontaminate": (11, 9), "difficulty": (9, 3),
                "rewrite": (4, 1), "traces": (12, 5), "publish": (5, 4)}
    for stage, report in reports().items():
        funnel = report.funnel()
        assert (funnel.seen, funnel.kept) == expected[stage], stage
        assert funnel.seen == funnel.kept + sum(funnel.dropped.values()), stage


def test_total_adds_reasons_and_as_dict_leaves_out_zero_reasons():
    total = Funnel.total([Funnel(5, 3, {"a": 2}), Funnel(4, 1, {"a": 1, "b": 2, "c": 0})])
    assert total.as_dict() == {"in": 9, "kept": 4, "dropped": {"a": 3, "b": 2}}


def test_curate_rows_come_from_each_result_funnel_and_skipped_stages_say_why():
    results = {stage: {"funnel": report.funnel().as_dict()} for stage, report in reports().items()}
    results["decontaminate"] = {"skipped": "no benchmarks configured"}
    results["extra"] = {"rows": 1}  # a result without a funnel has no row
    rows = {row["stage"]: row for row in funnel_rows(results)}
    assert list(rows) == ["ingest", "dedup", "decontaminate", "difficulty", "rewrite", "traces", "publish"]
    assert rows["ingest"] == {"stage": "ingest", "in": 15, "kept": 13, "dropped": 2,
                              "reasons": "bad_json 1, missing_problem 1"}
    assert rows["difficulty"]["reasons"] == "pending 1, too_easy 4, too_hard 1"
    assert funnel_row("decontaminate", results["decontaminate"])["reasons"] == "skipped: no benchmarks configured"
