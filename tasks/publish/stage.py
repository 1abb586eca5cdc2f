"""Tasks layer (publish): the publish stage, warehouse in, immutable versioned release out.

Reads kept traces (with their prompt, accepted rewrite and difficulty), drops what must not
ship (each drop counted by reason), writes `releases/<name>/v<N>/` (shards, card, manifest,
and the unhashed report.html) and its `dataset_versions` row atomically. When the would-be
files hash the same as the latest version's, nothing is written and that version is returned
(publishing is idempotent).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from schemas.errors import UserError
from schemas.publish import RELEASE_KEY, PublishJob, PublishSettings
from schemas.records import DatasetVersion
from tasks.failpoints import failpoint
from tasks.publish.assemble import Assembled, assemble
from tasks.publish.card import render_card
from tasks.publish.checked import SKIPPED, decontamination
from tasks.publish.lengths import StudentTokenizer, length_histogram
from tasks.publish.manifest import build_manifest, manifest_text
from tasks.publish.report.build import render_report
from tasks.publish.stats import release_stats
from tasks.runs import Funnel, now
from tasks.stage import StageContext
from warehouse.lake import Lake
from warehouse.release_queries import (
    benchmark_inventory,
    contaminated_prompts_by_benchmark,
    decontamination_runs,
    difficulty_models,
    kept_traces,
    siblings_by_benchmark,
    source_lineage,
    stage_counts,
    unchecked_prompts,
)
from warehouse.releases import (
    CARD,
    MANIFEST,
    REPORT,
    check_name,
    latest_version,
    next_version,
    publish_atomically,
    remove_stale_temps,
    staged_release,
    version_dir,
)


@dataclass
class PublishReport:
    run_id: str
    name: str
    version: int
    created: bool  # False: same content as the latest version, nothing written
    path: str
    rows: int
    sha256: str
    snapshot_id: int | None
    stats: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def funnel(self) -> Funnel:
        """Kept traces in, release rows kept, the rest left out by the publish filters."""
        dropped = self.stats.get("dropped", {})
        return Funnel(self.rows + sum(dropped.values()), self.rows, dropped)


def choose_difficulty_model(lake: Lake, settings: PublishSettings) -> str | None:
    models = difficulty_models(lake)
    if settings.difficulty_model is not None:
        if settings.difficulty_model not in models:
            scored = ", ".join(models) or "none"
            raise UserError(f"no difficulty rows for model {settings.difficulty_model!r}; scored: {scored}")
        return settings.difficulty_model
    if len(models) > 1:
        raise UserError(f"difficulty has several models ({', '.join(models)}): choose one with --difficulty-model")
    return models[0] if models else None


def distributions(lake: Lake, assembled: Assembled, settings: PublishSettings) -> dict:
    """The manifest's `stats`: what the report charts beyond counts, fixed at publish time."""
    lengths = assembled.table.column("student_tokens").to_pylist()
    return {**release_stats(assembled.table),
            "student_tokens": length_histogram(lengths, settings.max_seq_len),
            "contamination": {"prompts_by_benchmark": contaminated_prompts_by_benchmark(lake),
                              "siblings_by_benchmark": siblings_by_benchmark(lake)}}


def checked_section(lake: Lake, assembled: Assembled, settings: PublishSettings) -> dict:
    """What the release was checked against; refuses an unchecked set unless allowed."""
    released = sorted(set(assembled.table.column("prompt_id").to_pylist()))
    runs = decontamination_runs(lake)
    unchecked = unchecked_prompts(lake, released) if runs else len(released)
    section = decontamination(runs, benchmark_inventory(lake), unchecked, len(released), siblings_by_benchmark(lake))
    section["allowed_undecontaminated"] = settings.allow_undecontaminated
    if section["status"] != "checked" and not settings.allow_undecontaminated:
        what = ("no decontamination ran" if section["status"] == SKIPPED
                else f"{unchecked} of its {len(released)} prompts were never checked")
        raise UserError(f"refusing to publish a set that is not decontaminated ({what}): run `teachable "
                        "decontaminate --benchmarks DIR` first, or pass --allow-undecontaminated "
                        "(publish.allow_undecontaminated: true) and the card will say so")
    return section


def _tokenizer(settings: PublishSettings) -> StudentTokenizer:
    return StudentTokenizer.load(settings.tokenizer)


def run_publish(lake: Lake, name: str, settings: PublishSettings, *, run_id: str,
                flow_run_id: str | None = None) -> PublishReport:
    home = lake.home
    check_name(name)
    model = choose_difficulty_model(lake, settings)
    snapshot = lake.current_snapshot()
    candidates = kept_traces(lake, model)
    if candidates.num_rows == 0:
        raise UserError("no kept traces to publish; run the traces stage first")
    tokenizer = _tokenizer(settings)
    assembled = assemble(candidates, settings, tokenizer.count)
    stats = assembled.stats()
    if assembled.table.num_rows == 0:
        reasons = ", ".join(f"{k} {v}" for k, v in stats["dropped"].items())
        raise UserError(f"all {assembled.candidates} kept traces were filtered out ({reasons}); loosen the filters")
    checked = checked_section(lake, assembled, settings)
    lineage = source_lineage(lake, sorted(assembled.files))
    latest = latest_version(lake, name)
    remove_stale_temps(home, name)  # we hold the warehouse write lock: no other publish is running
    version = next_version(lake, home, name)
    with staged_release(home, name, version) as staged:
        staged.write_shards(assembled.table, settings.shard_rows, RELEASE_KEY)
        staged.write_text(CARD, render_card(name, settings, stats, lineage, checked))
        sha256 = staged.aggregate()
        if latest is not None and latest["sha256"] == sha256:
            # Same files as the latest version: leaving the block discards the staged copy.
            return PublishReport(run_id, name, latest["version"], False,
                                 str(version_dir(home, name, latest["version"])), latest["rows"], sha256,
                                 latest["snapshot_id"], stats)
        created_at = now()
        manifest = build_manifest(
            name=name, version=version, created_at=created_at, settings=settings, run_id=run_id,
            flow_run_id=flow_run_id, snapshot_id=snapshot, difficulty_model=model, stats=stats,
            lineage=lineage, stage_counts=stage_counts(lake), distributions=distributions(lake, assembled, settings),
            files=staged.files, sha256=sha256, decontamination=checked, mixture=assembled.mixture,
            student=tokenizer.describe() | {"max_seq_len": settings.max_seq_len},
        )
        text = manifest_text(manifest)
        staged.write_text(MANIFEST, text, listed=False)
        # A derived view of the manifest: unlisted, so it changes neither the hash nor the no-op test.
        staged.write_text(REPORT, render_report(manifest), listed=False)
        row = DatasetVersion(name=name, version=version, snapshot_id=snapshot, created_at=created_at,
                             rows=stats["rows"], sha256=sha256, manifest=text)
        failpoint("publish.staged")  # every file staged, nothing committed
        publish_atomically(lake, staged, row)
    return PublishReport(run_id, name, version, True, str(version_dir(home, name, version)),
                         stats["rows"], sha256, snapshot, stats)


READS = ("traces", "prompts")  # tables that must hold rows; contamination may rightly be empty
WRITES = ("dataset_versions",)


def run(ctx: StageContext, settings: PublishJob) -> PublishReport:
    return run_publish(ctx.lake, settings.name, settings, run_id=ctx.run_id, flow_run_id=ctx.flow_run_id)
