"""The publish stage on a small hand-built warehouse: what goes in, what is left out and why,
versioning (no-op, new version, old one untouched), and loading the release with datasets/duckdb."""

import hashlib
import json
from datetime import UTC, datetime

import duckdb
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from schemas.errors import UserError
from schemas.publish import DEFAULT_SYSTEM, PublishSettings
from schemas.decontam import DecontamChecked, DecontamSettings
from schemas.records import (
    BenchmarkItem,
    Contamination,
    Difficulty,
    Duplicate,
    IngestFile,
    Prompt,
    Quarantine,
    Rewrite,
    Trace,
)
from tasks.publish import compare
from tasks.publish.assemble import assistant_content, mixture_share
from tasks.publish.stage import run_publish
from tasks.runs import record_run
from warehouse import releases
from warehouse.lake import Lake
from warehouse.releases import get_version, verify_release, version_dir

T0 = datetime(2025, 1, 1, tzinfo=UTC)
N = 12  # prompts p00..p11: even ones from gsm8k, odd ones from math


def record_decontamination(lake: Lake, prompt_ids: list[str]) -> None:
    """A decontaminate run as the stage leaves it: its run row (settings, benchmark files),
    the benchmark items it loaded and a `decontam_checked` row per prompt."""
    with lake.transaction():
        lake.insert_records([BenchmarkItem(benchmark="gsm8k", benchmark_item=str(i), problem=f"Item {i}?", answer=str(i),
                                           run_id="c") for i in range(20)])
        lake.insert_records([DecontamChecked(check_key="k1", prompt_id=p, contaminated=p == "p07", run_id="c")
                             for p in prompt_ids])
    files = [{"name": "gsm8k", "source": "/bench/gsm8k_test.jsonl", "sha256": "ab" * 32, "items": 20}]
    record_run(lake, run_id="c", stage="decontaminate", started_at=T0,
               params={"settings": DecontamSettings(benchmarks=["/bench"]).model_dump(mode="json"), "check_key": "k1"},
               stats={"benchmarks": {"gsm8k": 20}, "benchmark_files": files})


def build_warehouse(lake: Lake, prompts: int = N, decontaminated: bool = True) -> None:
    """prompts with two kept and one dropped trace each; p03 rewritten (accepted), p04 rejected
    rewrite, p05 a duplicate, p07 contaminated, p11 never scored for difficulty."""
    ids = [f"p{i:02d}" for i in range(prompts)]
    source = lambda i: "gsm8k" if i % 2 == 0 else "math"  # noqa: E731
    with lake.transaction():
        lake.insert_records([
            Prompt(prompt_id=p, source=source(i), source_file=f"{source(i)}.jsonl", source_id=str(i),
                   problem=f"What is {i} + {i}?", answer=str(2 * i), domain="arithmetic" if i < 6 else "algebra",
                   text_hash=p, run_id="ingest-1", ingested_at=T0) for i, p in enumerate(ids)
        ])
        lake.insert_records([
            IngestFile(run_id="ingest-1", source=s, source_file=f"{s}.jsonl", path=f"/seeds/{s}.jsonl", format="jsonl",
                       content_sha256=hashlib.sha256(s.encode()).hexdigest(), read=6, ingested=6, unchanged=0, quarantined=1)
            for s in ("gsm8k", "math")
        ])
        lake.insert_records([Quarantine(quarantine_id="q1", source="math", source_file="math.jsonl", location="line 9",
                                        reason="malformed_json", detail="bad", run_id="ingest-1", quarantined_at=T0)])
        lake.insert_records([
            Difficulty(prompt_id=p, model="base", n=8, n_correct=i % 8, pass_rate=(i % 8) / 8,
                       band="teachable" if 2 <= i % 8 <= 6 else "too_hard", run_id="difficulty-1")
            for i, p in enumerate(ids) if p != "p11"
        ])
        lake.insert_records([
            Rewrite(prompt_id="p03", rewritten_problem="Add three to three.", answer="6", status="accepted", run_id="rw"),
            Rewrite(prompt_id="p04", rewritten_problem="Something else.", status="rejected", reason="answer_changed", run_id="rw"),
        ])
        lake.insert_records([Duplicate(prompt_id="p05", duplicate_of="p03", method="minhash", similarity=0.9, run_id="d")])
        lake.insert_records([Contamination(prompt_id="p07", benchmark="gsm8k", benchmark_item="17", method="ngram", run_id="c")])
        lake.insert_records([
            Trace(prompt_id=p, teacher="teacher-a", sample_index=k, reasoning=f"  reason {p} {k} ", solution=f"\\boxed{{{2 * i}}}",
                  final_answer=str(2 * i), correct=k < 2, tokens=100 + k, status="kept" if k < 2 else "dropped",
                  reason=None if k < 2 else "wrong_answer", run_id="traces-1")
            for i, p in enumerate(ids) for k in range(3)
        ])
    if decontaminated:
        record_decontamination(lake, ids)


@pytest.fixture
def warehouse(lake):
    build_warehouse(lake)
    return lake


def publish(lake, settings=None, name="mix"):
    return run_publish(lake, name, settings or PublishSettings(), run_id="publish-test", flow_run_id="flow-123")


def records(lake, version: int, name="mix") -> list[dict]:
    path = version_dir(lake.home, name, version) / "data"
    return [r for f in sorted(path.iterdir()) for r in pq.read_table(f).to_pylist()]


def test_v1_holds_one_chat_record_per_kept_trace_of_clean_prompts(warehouse):
    report = publish(warehouse)
    assert (report.version, report.created, report.rows) == (1, True, 20)  # 10 clean prompts x 2 kept
    assert report.stats["dropped"] == {"contaminated": 2, "duplicate": 2}
    rows = records(warehouse, 1)
    assert [(r["prompt_id"], r["sample_index"]) for r in rows] == sorted((r["prompt_id"], r["sample_index"]) for r in rows)
    assert {r["prompt_id"] for r in rows} == {f"p{i:02d}" for i in range(N)} - {"p05", "p07"}
    first = rows[0]
    assert first["messages"] == [
        {"role": "system", "content": DEFAULT_SYSTEM},
        {"role": "user", "content": "What is 0 + 0?"},
        {"role": "assistant", "content": "<think>\nreason p00 0\n</think>\n\n\\boxed{0}"},
    ]
    assert first | {"messages": None} == {"messages": None, "prompt_id": "p00", "source": "gsm8k", "domain": "arithmetic",
                                          "difficulty": {"pass_rate": 0.0, "band": "too_hard"}, "tokens": 100,
                                          "teacher": "teacher-a", "sample_index": 0, "rewritten": False,
                                          "student_tokens": first["student_tokens"], "repeat": 0}
    by_id = {r["prompt_id"]: r for r in rows}
    assert by_id["p03"]["messages"][1]["content"] == "Add three to three." and by_id["p03"]["rewritten"]
    assert by_id["p04"]["messages"][1]["content"] == "What is 4 + 4?"  # a rejected rewrite is not used
    assert by_id["p11"]["difficulty"] is None
    assert verify_release(warehouse.home, get_version(warehouse, "mix", 1)) == []


def test_manifest_records_lineage_counts_files_and_the_run(warehouse):
    report = publish(warehouse)
    row = get_version(warehouse, "mix", 1)
    manifest = json.loads(row["manifest"])
    path = version_dir(warehouse.home, "mix", 1)
    assert (path / "manifest.json").read_text() == row["manifest"]
    assert manifest["name"] == "mix" and manifest["version"] == 1 and manifest["flow_run_id"] == "flow-123"
    assert manifest["snapshot_id"] == row["snapshot_id"] == report.snapshot_id
    assert manifest["code_version"].startswith(("git:", "teachable==", "unknown"))
    assert manifest["config"] == PublishSettings().model_dump(mode="json")
    assert [s["content_sha256"] for s in manifest["sources"]] == [hashlib.sha256(s.encode()).hexdigest() for s in ("gsm8k", "math")]
    stages = manifest["stages"]
    assert stages["prompts"]["by_source"] == {"gsm8k": 6, "math": 6}
    assert stages["quarantine"]["by_reason"] == {"malformed_json": 1}
    assert stages["duplicates"]["by_method"] == {"minhash": 1}
    assert stages["contamination"]["by_benchmark_method"] == {"gsm8k/ngram": 1}
    assert stages["rewrites"] == {"by_status": {"accepted": 1, "rejected": 1}, "by_reason": {"answer_changed": 1}}
    assert stages["traces"]["by_status"] == {"dropped": 12, "kept": 24} and stages["traces"]["by_reason"] == {"wrong_answer": 12}
    assert manifest["release"]["by_band"] == {"none": 2, "teachable": 10, "too_hard": 8}
    files = {f["path"]: f for f in manifest["files"]}
    assert set(files) == {"README.md", "data/train-00000-of-00001.parquet"}
    for relative, entry in files.items():
        assert hashlib.sha256((path / relative).read_bytes()).hexdigest() == entry["sha256"]
    assert manifest["sha256"] == row["sha256"] == releases.aggregate_sha256(manifest["files"])
    card = (path / "README.md").read_text()
    assert card.startswith("---\n") and "path: data/train-*" in card and "| duplicate | 2 |" in card
    from huggingface_hub import DatasetCard

    meta = DatasetCard(card).data  # the Hub's own parser reads what the Hub shows
    assert (meta.license, meta.language, meta.size_categories) == ("other", ["en"], ["n<1K"])
    assert [f["name"] for f in meta.dataset_info["features"]] == [
        "messages", "prompt_id", "source", "domain", "difficulty", "tokens", "student_tokens", "teacher",
        "sample_index", "rewritten", "repeat"]
    assert meta.dataset_info["splits"] == [{"name": "train", "num_examples": 20}]


RELEASE_FILES = ["data/train-00000-of-00003.parquet", "data/train-00001-of-00003.parquet",
                 "data/train-00002-of-00003.parquet", "README.md", "manifest.json"]


@pytest.mark.parametrize("target", RELEASE_FILES)
def test_verify_names_any_release_file_with_one_flipped_byte(warehouse, target):
    publish(warehouse, PublishSettings(shard_rows=7))
    path = version_dir(warehouse.home, "mix", 1)
    on_disk = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    assert on_disk == sorted([*RELEASE_FILES, releases.REPORT])  # the report: derived, never verified
    file = path / target
    file.chmod(0o644)
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x20
    file.write_bytes(bytes(data))
    problems = verify_release(warehouse.home, get_version(warehouse, "mix", 1))
    assert problems[0].startswith(f"{target}: changed"), problems
    assert [p for p in problems if not p.startswith("aggregate")] == problems[:1]  # only that file is named


def test_the_report_is_beside_the_card_but_outside_the_hash_and_verify(warehouse):
    publish(warehouse)
    path = version_dir(warehouse.home, "mix", 1)
    manifest = json.loads(get_version(warehouse, "mix", 1)["manifest"])
    assert (path / releases.REPORT).stat().st_mode & 0o777 == 0o444
    assert releases.REPORT not in {f["path"] for f in manifest["files"]}
    releases.make_writable(path)
    (path / releases.REPORT).write_text("tampered")
    assert verify_release(warehouse.home, get_version(warehouse, "mix", 1)) == []


def test_publishing_the_same_content_again_is_a_no_op(warehouse):
    first = publish(warehouse)
    before = sorted(p.name for p in (warehouse.home.releases / "mix").iterdir())
    again = publish(warehouse)
    assert (again.version, again.created, again.sha256) == (1, False, first.sha256)
    assert sorted(p.name for p in (warehouse.home.releases / "mix").iterdir()) == before == ["v1"]
    assert warehouse.count("dataset_versions") == 1


def test_the_same_warehouse_content_gives_byte_identical_files(warehouse, tmp_path):
    from warehouse.home import Home

    publish(warehouse)
    with Lake(Home.resolve(tmp_path / "other")) as other:
        build_warehouse(other)
        publish(other)
        a, b = version_dir(warehouse.home, "mix", 1), version_dir(other.home, "mix", 1)
        for relative in ("README.md", "data/train-00000-of-00001.parquet"):
            assert (a / relative).read_bytes() == (b / relative).read_bytes()
        assert get_version(warehouse, "mix")["sha256"] == get_version(other, "mix")["sha256"]


def test_a_new_filter_gives_v2_the_diff_shows_it_and_v1_is_untouched(warehouse):
    publish(warehouse)
    v1 = version_dir(warehouse.home, "mix", 1)
    before = {p: p.read_bytes() for p in v1.rglob("*") if p.is_file()}
    report = publish(warehouse, PublishSettings(bands=["teachable"], shard_rows=4))
    assert (report.version, report.created, report.rows) == (2, True, 10)
    assert report.stats["dropped"] == {"band_filter": 10, "contaminated": 2, "duplicate": 2}
    assert {p: p.read_bytes() for p in v1.rglob("*") if p.is_file()} == before
    assert verify_release(warehouse.home, get_version(warehouse, "mix", 1)) == []
    assert len(list((version_dir(warehouse.home, "mix", 2) / "data").iterdir())) == 3
    result = compare.diff(warehouse.home, get_version(warehouse, "mix", 1), get_version(warehouse, "mix", 2))
    assert {k: result["rows"][k] for k in ("added", "removed", "changed", "unchanged")} == \
        {"added": 0, "removed": 10, "changed": 0, "unchanged": 10}
    assert {"by": "band", "value": "too_hard", "old": 8, "new": 0, "change": "-8"} in result["counts"]
    assert {s["setting"] for s in result["settings"]} == {"bands", "shard_rows"}
    assert {f["path"] for f in result["files"]} >= {"README.md", "data/train-00000-of-00001.parquet"}
    again = publish(warehouse, PublishSettings(bands=["teachable"], shard_rows=4))
    assert (again.version, again.created) == (2, False)


def test_a_new_system_prompt_changes_rows_not_keys(warehouse):
    publish(warehouse)
    publish(warehouse, PublishSettings(system_prompt="Think, then answer."))
    result = compare.diff(warehouse.home, get_version(warehouse, "mix", 1), get_version(warehouse, "mix", 2))
    assert (result["rows"]["added"], result["rows"]["removed"], result["rows"]["changed"]) == (0, 0, 20)


def test_mixture_keeps_a_stable_hash_chosen_share_of_each_group(lake):
    build_warehouse(lake, prompts=200)
    report = publish(lake, PublishSettings(mixture={"math": 0.5, "gsm8k": 0.0}))
    kept = {r["prompt_id"] for r in records(lake, 1)}
    assert {r["source"] for r in records(lake, 1)} == {"math"}
    assert 35 <= len(kept) <= 65  # about half of the ~98 clean math prompts
    assert kept == {f"p{i:02d}" for i in range(1, 200, 2) if mixture_share(f"p{i:02d}", 0) < 0.5} - {"p05", "p07"}
    assert report.stats["dropped"]["mixture"] == 2 * (198 - len(kept))  # 2 kept traces per prompt
    by_domain = publish(lake, PublishSettings(mixture={"algebra": 0.0}, mixture_by="domain"))
    assert by_domain.stats["by_domain"] == {"arithmetic": 10}  # p00-p04


def test_a_mixture_key_that_names_no_group_is_a_user_error(warehouse):
    with pytest.raises(UserError, match="mixture names no source gsm8K; kept traces have: gsm8k, math"):
        publish(warehouse, PublishSettings(mixture={"gsm8K": 0.5}))


def test_pass_rate_filter_drops_unscored_prompts_too(warehouse):
    report = publish(warehouse, PublishSettings(min_pass_rate=0.5))
    assert all(r["difficulty"]["pass_rate"] >= 0.5 for r in records(warehouse, 1))
    assert report.stats["dropped"]["pass_rate_filter"] == 2 * 8  # p00-p03, p08-p10 below 0.5, p11 unscored


def test_nothing_to_publish_is_a_plain_user_error(lake, warehouse):
    with pytest.raises(UserError, match="all 24 kept traces were filtered out"):
        publish(warehouse, PublishSettings(mixture_default=0.0))
    assert not (warehouse.home.releases / "mix").exists() or not any((warehouse.home.releases / "mix").iterdir())


def test_no_kept_traces_says_run_the_traces_stage(lake):
    with pytest.raises(UserError, match="no kept traces to publish; run the traces stage first"):
        publish(lake)


def test_several_difficulty_models_need_a_choice(warehouse):
    with warehouse.transaction():
        warehouse.insert_records([Difficulty(prompt_id="p00", model="other", n=8, band="too_easy", run_id="x")])
    with pytest.raises(UserError, match="several models"):
        publish(warehouse)
    assert publish(warehouse, PublishSettings(difficulty_model="base")).rows == 20


@pytest.mark.parametrize("bad", [{"mixture": {"math": -0.5}}, {"targets": {"math": -1}}, {"max_seq_len": 0}, {"bands": ["easy"]}, {"min_pass_rate": 0.9, "max_pass_rate": 0.1},
                                 {"shard_rows": 0}, {"typo": 1}])
def test_bad_settings_are_rejected(bad):
    with pytest.raises(ValidationError):
        PublishSettings(**bad)


@pytest.mark.parametrize(("text", "expected"), [("mix", ("mix", None)), ("mix@2", ("mix", 2)), ("mix@v12", ("mix", 12))])
def test_dataset_references(text, expected):
    assert compare.parse_ref(text) == expected


@pytest.mark.parametrize("text", ["mix@", "mix@vx", "@v1", "a/b@v1", "mix@v1@v2"])
def test_bad_dataset_references(text):
    with pytest.raises(UserError, match="bad dataset reference"):
        compare.parse_ref(text)


def test_assistant_content_format():
    assert assistant_content(" r ", " s ") == "<think>\nr\n</think>\n\ns"
    assert assistant_content(None, "s") == "<think>\n\n</think>\n\ns"


def test_release_loads_with_datasets_and_duckdb(warehouse, tmp_path):
    import datasets

    publish(warehouse, PublishSettings(shard_rows=7))
    path = version_dir(warehouse.home, "mix", 1)
    loaded = datasets.load_dataset("parquet", data_dir=str(path), cache_dir=str(tmp_path / "hf"))
    assert list(loaded) == ["train"] and loaded["train"].num_rows == 20
    assert loaded["train"][0]["messages"][2]["role"] == "assistant"
    hub_style = datasets.load_dataset(str(path), cache_dir=str(tmp_path / "hf2"))  # reads the card's configs
    assert hub_style["train"].num_rows == 20
    counts = duckdb.sql(f"SELECT source, count(*) FROM read_parquet('{path}/data/*.parquet') GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [("gsm8k", 12), ("math", 8)]
