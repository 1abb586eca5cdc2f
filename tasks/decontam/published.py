"""Tasks layer (decontam): the recheck stage, what is published checked against the benchmarks.

Runs after traces and before publish: every accepted rewrite of a prompt with kept traces
(target `rewrite`, the user turn a release shows) and every kept trace's answer part (target
`answer`: its solution, else its final answer) go through the decontamination layers against
the same benchmark set as the prompt check (`tasks.decontam.check`). Rewrites meet every layer;
answers meet the n-gram, short-item and MinHash layers against each item's text followed by its
answer (as datatrove checks answers: a teacher quoting a test item with its answer shares
n-grams across the two), with the answer as the agreement check's answer. Hits are
`contamination` rows with `target` (and `teacher`, `sample_index` for answers); what was
checked is remembered per check key in `decontam_rechecked`, so a rerun checks only new texts.
Chunks are committed one by one and go through `ctx.shards` when given, as in the prompt check.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace

import pyarrow as pa

from schemas.decontam import DecontamRechecked, DecontamSettings
from schemas.records import Contamination
from tasks.decontam import store
from tasks.decontam.check import ChunkResult, check_chunk
from tasks.decontam.embed import vector_model
from tasks.decontam.loading import BenchmarkItem, load_benchmarks
from tasks.decontam.stage import InProcess, best_hits, check_key
from tasks.runs import Funnel
from tasks.stage import StageContext
from warehouse.lake import Lake

log = logging.getLogger("teachable.decontam")
TARGETS = ("rewrite", "answer")


@dataclass
class RecheckReport:
    run_id: str
    check_key: str
    benchmarks: dict[str, int]
    checked: dict[str, int] = field(default_factory=dict)  # target -> texts checked in this run
    contaminated: dict[str, int] = field(default_factory=dict)  # target -> texts with a hit
    prompts: int = 0  # prompts whose published texts were checked
    excluded: int = 0  # of them, prompts with a hit (publish leaves them out)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    hits: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def funnel(self) -> Funnel:
        return Funnel(self.prompts, self.prompts - self.excluded,
                      {"published_text_contaminated": self.excluded} if self.excluded else {})


def answer_items(items: list[BenchmarkItem]) -> list[BenchmarkItem]:
    """Each item's text followed by its answer (the answer side of a test item)."""
    return [replace(i, text=f"{i.text}\n{i.answer}") if i.answer else i for i in items]


def answer_settings(settings: DecontamSettings) -> DecontamSettings:
    """Long teacher answers restate problems they solve: whole-text layers (embeddings,
    siblings) would flag honest solutions of similar problems, so only n-grams and MinHash run."""
    return settings.model_copy(update={"embedding": False, "siblings": False})


def run_recheck(lake: Lake, settings: DecontamSettings, run_id: str, shards=None) -> RecheckReport:
    started = time.perf_counter()
    loaded = load_benchmarks(settings.benchmarks)
    key = check_key(loaded.items, settings)
    report = RecheckReport(run_id, key, loaded.counts())
    pending = store.pending_published(lake, key)
    report.seconds["load"] = round(time.perf_counter() - started, 3)
    vectors = store.cached_vectors(lake, vector_model(settings)) if settings.embedding else {}
    excluded: set[str] = set()
    report.prompts = len(set(pending.column("prompt_id").to_pylist()))
    for target in TARGETS:
        rows = pending.filter(pa.compute.equal(pending.column("target"), target))
        if rows.num_rows == 0:
            continue
        items, s = (loaded.items, settings) if target == "rewrite" else (answer_items(loaded.items),
                                                                         answer_settings(settings))
        log.info("recheck: %d %s texts to check", rows.num_rows, target)
        _target(lake, rows, key, f"{key}:{target}", items, s, run_id, vectors, report, excluded, shards)
    report.excluded = len(excluded)
    report.hits = store.hits_table(lake, run_id)
    report.seconds["total"] = round(time.perf_counter() - started, 3)
    return report


def _target(lake: Lake, rows: pa.Table, key: str, index_key: str, items: list[BenchmarkItem],
            settings: DecontamSettings, run_id: str, vectors: dict, report: RecheckReport, excluded: set[str],
            shards) -> None:
    size = settings.batch_size
    texts, answers = rows.column("text"), rows.column("answer")
    work = ((start, (index_key, items, settings, frozenset(), texts[start:start + size].to_pylist(),
                     answers[start:start + size].to_pylist(), vectors))
            for start in range(0, rows.num_rows, size))
    for start, result in (shards or InProcess()).map(check_chunk, work):
        chunk = rows.slice(start, size)
        with lake.transaction():
            written = _write(lake, result, chunk, items, key, run_id)
        target = chunk.column("target")[0].as_py()
        flagged = result.flagged()
        report.checked[target] = report.checked.get(target, 0) + chunk.num_rows
        report.contaminated[target] = report.contaminated.get(target, 0) + len(flagged)
        excluded.update(chunk.column("prompt_id")[d].as_py() for d in flagged)
        for table, n in written.items():
            report.rows[table] = report.rows.get(table, 0) + n
        log.info("recheck: committed %d/%d %s texts, %d contaminated", start + chunk.num_rows, rows.num_rows,
                 target, report.contaminated[target])


def _write(lake: Lake, result: ChunkResult, chunk: pa.Table, items: list[BenchmarkItem], key: str,
           run_id: str) -> dict[str, int]:
    cols = {name: chunk.column(name).to_pylist() for name in ("prompt_id", "target", "teacher", "sample_index")}
    flagged = result.flagged()

    def where(d: int) -> dict:
        return {name: cols[name][d] for name in cols}

    written = {"contamination": lake.insert_records([
        Contamination(**where(h.doc), benchmark=items[h.item].benchmark, benchmark_item=items[h.item].item_id,
                      method=h.method, score=h.score, evidence=h.evidence, run_id=run_id)
        for h in best_hits(result.hits)])}
    written["decontam_rechecked"] = lake.insert_records([
        DecontamRechecked(check_key=key, **where(d), contaminated=d in flagged, run_id=run_id)
        for d in range(chunk.num_rows)])
    return written


READS = ("traces",)
WRITES = ("contamination", "decontam_rechecked")


def run(ctx: StageContext, settings: DecontamSettings) -> RecheckReport:
    return run_recheck(ctx.lake, settings, ctx.run_id, ctx.shards)


def params(settings: DecontamSettings, report: RecheckReport) -> dict:
    return {"settings": settings.model_dump(), "check_key": report.check_key}


def summarize(report: RecheckReport) -> dict:
    counts = {"prompts": report.prompts, "excluded": report.excluded, "checked": report.checked,
              "contaminated": report.contaminated, "rows": report.rows, "benchmarks": report.benchmarks}
    return {"check_key": report.check_key, "counts": counts, "hits": report.hits, "seconds": report.seconds}
