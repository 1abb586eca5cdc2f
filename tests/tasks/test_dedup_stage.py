"""The dedup stage on a real (temporary) warehouse: which prompt is kept, the `duplicates` rows
and their reasons, number variants, incremental and idempotent reruns. No Prefect."""

import json
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.config import IngestSettings, PipelineConfig, SourceSettings
from schemas.dedup import DedupSettings
from tasks.dedup.stage import params_key, run_dedup
from tasks.ingest.stage import ingest_source

BASE = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did she sell?"


def add(lake, tmp_path: Path, source: str, records: list[dict]) -> list[str]:
    """Ingest records as one file; returns their prompt ids in file order."""
    path = tmp_path / f"{source}-{uuid.uuid4().hex[:6]}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    ingest_source(lake, SourceSettings(name=source, paths=[str(path)]), IngestSettings(), "ingest-test")
    rows = lake.query(
        "SELECT prompt_id FROM prompts WHERE source_file = ? ORDER BY CAST(source_id AS INT)", [path.name]
    )
    return rows.column("prompt_id").to_pylist()


def dedup(lake, **settings):
    return run_dedup(lake, DedupSettings(**settings), f"dedup-{uuid.uuid4().hex[:6]}")


def duplicates(lake) -> dict[str, tuple]:
    rows = lake.query("SELECT prompt_id, duplicate_of, method, similarity, run_id FROM duplicates").to_pylist()
    return {r["prompt_id"]: (r["duplicate_of"], r["method"], round(r["similarity"], 3)) for r in rows}


def test_exact_near_and_number_variants(lake, tmp_path):
    ids = add(lake, tmp_path, "gsm", [
        {"problem": BASE, "answer": "72"},
        {"problem": "  " + BASE.replace(" ", "   ") + "\n"},  # exact after normalisation
        {"problem": BASE.lower().replace(",", "").rstrip("?")},  # case + punctuation
        {"problem": "Solve: " + BASE.replace("then she", "she then")},  # prefix + swapped words
        {"problem": BASE.replace("48", "50")},  # other numbers: another problem
        {"problem": BASE.replace("48", "36").replace("half", "a third")},
        {"problem": "What is the largest prime factor of 999?"},
        {"problem": "???"},
    ])
    report = dedup(lake)
    assert report.considered == 8
    assert report.dropped == {"exact": 1, "minhash": 2}
    assert report.kept == 5 == report.considered - sum(report.dropped.values())
    assert report.rejected["numbers_differ"] >= 1 and report.no_shingles == 1
    found = duplicates(lake)
    assert found[ids[1]] == (ids[0], "exact", 1.0)
    assert found[ids[2]] == (ids[0], "minhash", 1.0)
    kept, method, similarity = found[ids[3]]
    assert (kept, method) == (ids[0], "minhash") and 0.6 <= similarity < 1.0
    assert set(found) == {ids[1], ids[2], ids[3]}
    runs = lake.query("SELECT DISTINCT run_id FROM duplicates").column("run_id").to_pylist()
    assert runs == [report.run_id]
    signed = lake.query("SELECT prompt_id, band_keys FROM dedup_signatures").to_pylist()
    assert {r["prompt_id"] for r in signed} == {ids[0], ids[4], ids[5], ids[6], ids[7]}
    assert {len(r["band_keys"]) for r in signed} == {0, 19}  # '???' has no shingles, no keys


def test_merge_number_variants_when_allowed(lake, tmp_path):
    ids = add(lake, tmp_path, "gsm", [{"problem": BASE}, {"problem": BASE.replace("48", "50")}])
    report = dedup(lake, merge_number_variants=True)
    assert report.dropped == {"minhash": 1}
    assert duplicates(lake)[ids[1]][0] == ids[0]


def test_kept_member_source_priority_then_answer_then_earliest(lake, tmp_path):
    first = add(lake, tmp_path, "web", [{"problem": BASE}, {"problem": BASE.upper()}])
    answered = add(lake, tmp_path, "web", [{"problem": BASE.lower(), "answer": "72"}])
    preferred = add(lake, tmp_path, "curated", [{"problem": BASE + " Explain."}])
    dedup(lake, source_priority=["curated"])
    found = duplicates(lake)
    assert {found[p][0] for p in first + answered} == {preferred[0]}
    assert preferred[0] not in found


def test_without_priority_answer_beats_earlier_and_earlier_beats_later(lake, tmp_path):
    first = add(lake, tmp_path, "a", [{"problem": BASE}, {"problem": BASE.upper()}])
    answered = add(lake, tmp_path, "b", [{"problem": BASE.lower(), "answer": "72"}])
    other = add(lake, tmp_path, "a", [{"problem": "How many legs do 3 cats have?"}])
    later = add(lake, tmp_path, "b", [{"problem": "how many legs do 3 cats have"}])
    dedup(lake)
    found = duplicates(lake)
    assert found[first[0]][0] == found[first[1]][0] == answered[0]
    assert found[later[0]][0] == other[0]


def test_rerun_is_idempotent_and_fast(lake, tmp_path):
    add(lake, tmp_path, "gsm", [{"problem": BASE}, {"problem": BASE.upper()}, {"problem": "Other 3?"}])
    dedup(lake)
    before = {t: lake.count(t) for t in ("duplicates", "dedup_signatures")}
    snapshot = lake.current_snapshot()
    report = dedup(lake)
    assert report.considered == 0 and report.written == {} and report.dropped == {}
    assert {t: lake.count(t) for t in before} == before
    assert lake.current_snapshot() == snapshot  # nothing written, not even an empty snapshot
    assert sum(report.seconds.values()) < 5


def test_incremental_run_compares_new_prompts_with_the_kept_pool(lake, tmp_path):
    old = add(lake, tmp_path, "gsm", [{"problem": BASE}, {"problem": BASE.upper()}, {"problem": "How many legs do 3 cats have?"}])
    first = dedup(lake)
    signed_before = lake.query("SELECT prompt_id, run_id, band_keys FROM dedup_signatures ORDER BY 1").to_pylist()
    new = add(lake, tmp_path, "later", [
        {"problem": BASE.replace("did she", "did Natalia")},  # near dup of the kept pool
        {"problem": BASE.upper()},  # exact text of a dropped prompt: points at its kept one
        {"problem": "How many legs do 3 cats have?!"},
        {"problem": "How many legs do 4 cats have?"},  # number variant: kept
        {"problem": "Brand new problem about 7 trains and 2 stations."},
    ])
    report = dedup(lake)
    assert report.pool_before == first.kept == 2
    assert report.considered == 5 and report.dropped == {"minhash": 2, "exact": 1} and report.kept == 2
    found = duplicates(lake)
    assert found[new[0]][:2] == (old[0], "minhash")
    assert found[new[1]] == (old[0], "exact", 1.0)
    assert found[new[2]][:2] == (old[2], "minhash")
    assert new[3] not in found and new[4] not in found
    assert old[0] not in found  # the pool's prompts stay kept
    signed_after = lake.query("SELECT prompt_id, run_id, band_keys FROM dedup_signatures ORDER BY 1").to_pylist()
    assert [r for r in signed_after if r["prompt_id"] in {s["prompt_id"] for s in signed_before}] == signed_before


def test_new_settings_reexamine_the_pool(lake, tmp_path):
    ids = add(lake, tmp_path, "gsm", [{"problem": BASE}, {"problem": BASE.replace("clips", "pins").replace("half", "twice")}])
    assert dedup(lake).dropped == {}
    report = dedup(lake, threshold=0.3)
    assert params_key(DedupSettings(threshold=0.3)) != params_key(DedupSettings())
    assert report.considered == 2 and report.dropped == {"minhash": 1}
    assert duplicates(lake)[ids[1]][0] == ids[0]
    assert params_key(DedupSettings(workers=1, shard_size=10)) == params_key(DedupSettings())


def test_many_shards_in_worker_processes_give_the_same_result(lake, tmp_path):
    records = [{"problem": f"Problem {i}: how many apples are {i} plus {i * 7} apples, if {i % 5} are eaten?"} for i in range(60)]
    records += [{"problem": r["problem"].upper()} for r in records[:20]]
    ids = add(lake, tmp_path, "gen", records)
    report = dedup(lake, shard_size=16, workers=2)
    assert report.considered == 80 and report.dropped == {"minhash": 20}
    found = duplicates(lake)
    assert all(found[ids[60 + i]][0] == ids[i] for i in range(20))


def test_exact_only_mode(lake, tmp_path):
    ids = add(lake, tmp_path, "gsm", [{"problem": BASE}, {"problem": BASE + " "}, {"problem": BASE.upper()}])
    report = dedup(lake, minhash=False)
    assert report.dropped == {"exact": 1} and report.kept == 2
    assert duplicates(lake) == {ids[1]: (ids[0], "exact", 1.0)}


def test_settings_are_validated_and_part_of_the_pipeline_config():
    with pytest.raises(ValidationError, match="bands and rows"):
        DedupSettings(bands=10)
    with pytest.raises(ValidationError):
        DedupSettings(threshhold=0.5)
    config = PipelineConfig.model_validate({"sources": [{"name": "s", "paths": ["x"]}], "dedup": {"threshold": 0.7, "ngram": 3}})
    assert config.dedup.threshold == 0.7 and config.dedup.embedding.enabled is False
    for name, field in DedupSettings.model_fields.items():
        assert field.description, name


def test_an_exact_copy_of_a_near_duplicate_points_at_the_kept_prompt(lake, tmp_path):
    near = BASE.replace("then she", "she then")
    ids = add(lake, tmp_path, "gsm", [{"problem": BASE, "answer": "72"}, {"problem": near}, {"problem": near + " "}])
    dedup(lake)
    found = duplicates(lake)
    assert found[ids[1]][:2] == (ids[0], "minhash")
    assert found[ids[2]] == found[ids[1]]  # not left pointing at the dropped ids[1]


def test_point_at_kept_follows_chains():
    from tasks.dedup.stage import _point_at_kept

    rows = [("b", "a", "exact", 1.0), ("c", "b", "minhash", 0.7), ("a", "k", "embedding", 0.96)]
    assert _point_at_kept(rows) == [("b", "k", "embedding", 0.96), ("c", "k", "embedding", None), ("a", "k", "embedding", 0.96)]
