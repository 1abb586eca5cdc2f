"""What a release checks and says: contamination of the published rewrite and answer, benchmark
siblings, whether (and against what) it was decontaminated, student lengths over the chat
template, and the mixture's up-sampling and targets, asked vs achieved."""

import json

import pyarrow.parquet as pq
import pytest

from schemas.errors import UserError
from schemas.publish import PublishSettings
from schemas.records import Trace
from tasks.publish.lengths import StudentTokenizer
from tasks.publish.report.build import render_report
from tasks.publish.report.funnel import funnel
from tasks.publish.stage import run_publish
from tests.tasks.test_publish import build_warehouse
from warehouse.releases import get_version, version_dir


def publish(lake, settings=None, name="mix"):
    return run_publish(lake, name, settings or PublishSettings(), run_id="publish-test")


def rows_of(lake, version=1, name="mix") -> list[dict]:
    path = version_dir(lake.home, name, version) / "data"
    return [r for f in sorted(path.iterdir()) for r in pq.read_table(f).to_pylist()]


def manifest_of(lake, version=1, name="mix") -> dict:
    return json.loads(get_version(lake, name, version)["manifest"])


def add_contamination(lake, rows: list[dict]) -> None:
    """Contamination rows as the recheck stage writes them: `target` problem | rewrite | answer,
    an answer row naming its trace (teacher, sample_index)."""
    missing = [c for c in ("target", "teacher", "sample_index") if c not in lake.columns("contamination")]
    with lake.transaction():
        for column in missing:
            kind = "BIGINT" if column == "sample_index" else "VARCHAR"
            lake.con.execute(f"ALTER TABLE contamination ADD COLUMN {column} {kind}")
        for r in rows:
            lake.con.execute(
                "INSERT INTO contamination (prompt_id, benchmark, benchmark_item, method, score, evidence, run_id, "
                "target, teacher, sample_index) VALUES (?, ?, ?, ?, 1.0, 'e', 'recheck-1', ?, ?, ?)",
                [r["prompt_id"], r["benchmark"], r.get("item", "1"), r.get("method", "ngram"), r["target"],
                 r.get("teacher"), r.get("sample_index")])


@pytest.fixture
def warehouse(lake):
    build_warehouse(lake)
    return lake


def test_a_contaminated_rewrite_answer_or_sibling_is_left_out_with_its_reason(warehouse):
    add_contamination(warehouse, [
        {"prompt_id": "p03", "benchmark": "math500", "target": "rewrite"},  # p03's accepted rewrite is an item
        {"prompt_id": "p04", "benchmark": "math500", "target": "rewrite"},  # p04's rewrite was rejected: no effect
        {"prompt_id": "p06", "benchmark": "aime24", "target": "answer", "teacher": "teacher-a", "sample_index": 1},
        {"prompt_id": "p08", "benchmark": "gsm8k", "target": "problem", "method": "sibling"},
        {"prompt_id": "p10", "benchmark": "gsm8k", "target": "problem", "method": "sibling"},
    ])
    report = publish(warehouse)
    assert report.stats["dropped"] == {"benchmark_sibling": 4, "contaminated": 2, "contaminated_answer": 1,
                                       "contaminated_rewrite": 2, "duplicate": 2}
    kept = {(r["prompt_id"], r["sample_index"]) for r in rows_of(warehouse)}
    assert not {k for k in kept if k[0] in ("p03", "p08", "p10")} and ("p06", 1) not in kept
    assert {("p06", 0), ("p04", 0), ("p04", 1)} <= kept
    manifest = manifest_of(warehouse)
    assert manifest["release"]["dropped"]["contaminated_answer"] == 1
    assert manifest["decontamination"]["siblings_by_benchmark"] == {"gsm8k": 2}
    assert manifest["stats"]["contamination"]["siblings_by_benchmark"] == {"gsm8k": 2}
    publish_step = funnel(manifest)[-1]
    assert publish_step.dropped["contaminated_rewrite"] == 2 and publish_step.seen == 24
    html = render_report(manifest)
    assert 'id="siblings"' in html and 'data-key="gsm8k"' in html


def test_the_manifest_lists_every_benchmark_checked_with_hashes_layers_and_thresholds(warehouse):
    publish(warehouse)
    section = manifest_of(warehouse)["decontamination"]
    assert section["status"] == "checked" and section["unchecked_prompts"] == 0 and section["runs"] == ["c"]
    [bench] = section["benchmarks"]
    assert bench | {"items_sha256": None} == {"name": "gsm8k", "source": "/bench/gsm8k_test.jsonl", "sha256": "ab" * 32,
                                              "items": 20, "items_sha256": None}
    assert len(bench["items_sha256"]) == 64
    assert section["layers"]["ngram_n"] == 13 and section["layers"]["ratio_contaminated"] == 0.5
    assert section["layers"]["judge_model"] is None and "benchmarks" not in section["layers"]
    card = (version_dir(warehouse.home, "mix", 1) / "README.md").read_text()
    assert "> **Decontaminated** against 1 benchmarks: gsm8k (20 items)." in card


def test_an_undecontaminated_set_is_refused_unless_allowed_and_then_says_so(lake):
    build_warehouse(lake, decontaminated=False)
    with pytest.raises(UserError, match="refusing to publish a set that is not decontaminated .no decontamination ran."):
        publish(lake)
    assert not (lake.home.releases / "mix").exists() or not list((lake.home.releases / "mix").iterdir())
    publish(lake, PublishSettings(allow_undecontaminated=True))
    manifest = manifest_of(lake)
    assert manifest["decontamination"]["status"] == "skipped" and manifest["decontamination"]["benchmarks"] == []
    card = (version_dir(lake.home, "mix", 1) / "README.md").read_text()
    body = card.split("---\n", 2)[2].lstrip("\n").splitlines()
    assert body[0] == "# mix" and body[2].startswith("> **This set is NOT decontaminated.**")
    assert "decontaminated against public benchmarks" not in card
    step = next(s for s in funnel(manifest) if s.stage == "decontaminate")
    assert step.as_row()["reasons"].startswith("skipped")


def test_student_lengths_are_the_tokenizers_own_count_and_max_seq_len_drops_exactly_the_longer(warehouse):
    publish(warehouse)
    rows = rows_of(warehouse)
    tokenizer = StudentTokenizer.load(None).tokenizer
    own = [len(tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"]) for r in rows]
    assert [r["student_tokens"] for r in rows] == own
    text = tokenizer.apply_chat_template(rows[0]["messages"], tokenize=False)
    assert own[0] == len(tokenizer(text, add_special_tokens=False)["input_ids"])  # the template, no extra BOS
    limit = sorted(own)[len(own) // 2]
    longer = {(r["prompt_id"], r["sample_index"]) for r, n in zip(rows, own) if n > limit}
    assert 0 < len(longer) < len(rows)
    report = publish(warehouse, PublishSettings(max_seq_len=limit))
    assert report.stats["dropped"]["too_long_for_student"] == len(longer)
    kept = {(r["prompt_id"], r["sample_index"]) for r in rows_of(warehouse, 2)}
    assert kept == {(r["prompt_id"], r["sample_index"]) for r in rows} - longer
    lengths = manifest_of(warehouse, 2)["stats"]["student_tokens"]
    assert lengths["limit"] == limit and lengths["over_limit"] == 0 and lengths["max"] <= limit
    assert manifest_of(warehouse, 2)["student"] == {"tokenizer": "bundled:SmolLM2-135M-Instruct",
                                                     "class": type(tokenizer).__name__, "vocab_size": len(tokenizer),
                                                     "max_seq_len": limit}


def add_spares(lake, prompt_ids: list[str]) -> None:
    """A third, correct trace per prompt that `keep: best_of_k` did not keep (reason not_best)."""
    with lake.transaction():
        lake.insert_records([
            Trace(prompt_id=p, teacher="teacher-a", sample_index=9, reasoning=f"another way {p}", solution="\\boxed{1}",
                  final_answer="1", correct=True, tokens=50, status="dropped", reason="not_best", run_id="traces-2")
            for p in prompt_ids])


def test_a_weight_above_one_adds_spare_traces_first_then_repeats(warehouse):
    add_spares(warehouse, ["p01", "p09"])
    report = publish(warehouse, PublishSettings(mixture={"math": 2.0}))
    rows = rows_of(warehouse)
    math = [r for r in rows if r["source"] == "math"]
    assert len(math) == 16 and report.stats["added"] == {"repeats": 6, "spare_traces": 2}  # 8 clean rows x 2
    assert {(r["prompt_id"], r["sample_index"]) for r in math if r["sample_index"] == 9} == {("p01", 9), ("p09", 9)}
    repeats = [r for r in math if r["repeat"] > 0]
    assert len(repeats) == 6 and all(r["repeat"] == 1 for r in repeats)
    assert len({(r["prompt_id"], r["teacher"], r["sample_index"], r["repeat"]) for r in rows}) == len(rows)
    mixture = manifest_of(warehouse)["mixture"]
    assert mixture["groups"]["math"]["asked"] == {"weight": 2.0}
    assert mixture["groups"]["math"]["achieved"] | {"share": None} == {"rows": 16, "tokens": sum(r["student_tokens"] for r in math),
                                                                        "spare_traces": 2, "repeats": 6, "share": None}
    assert mixture["groups"]["gsm8k"]["achieved"]["rows"] == 12 and "spare" in mixture["upsampling"]


def test_targets_in_rows_or_tokens_are_met_and_stated(warehouse):
    publish(warehouse, PublishSettings(targets={"gsm8k": 5, "math": 20}))
    groups = manifest_of(warehouse)["mixture"]["groups"]
    assert groups["gsm8k"]["asked"] == {"target": 5, "unit": "rows"} and groups["gsm8k"]["achieved"]["rows"] == 6
    assert groups["math"]["achieved"]["rows"] == 20 and groups["math"]["achieved"]["repeats"] == 12
    rows = [r for r in rows_of(warehouse) if r["source"] == "gsm8k"]
    assert len({r["prompt_id"] for r in rows}) == 3  # whole prompts: 2 kept traces each
    publish(warehouse, PublishSettings(targets={"math": 3000}, target_unit="tokens"))
    achieved = manifest_of(warehouse, 2)["mixture"]["groups"]["math"]["achieved"]
    assert achieved["tokens"] >= 3000
    one_less = achieved["tokens"] - min(r["student_tokens"] for r in rows_of(warehouse, 2) if r["source"] == "math")
    assert one_less < 3000 + max(r["student_tokens"] for r in rows_of(warehouse, 2))


def test_a_target_naming_no_group_is_a_user_error(warehouse):
    with pytest.raises(UserError, match="mixture names no source physics"):
        publish(warehouse, PublishSettings(targets={"physics": 10}))


def test_a_tokenizer_that_cannot_be_loaded_is_one_line(warehouse, tmp_path):
    with pytest.raises(UserError, match=r"^publish.tokenizer '.*nope' cannot be loaded: ") as caught:
        publish(warehouse, PublishSettings(tokenizer=str(tmp_path / "nope")))
    assert "\n" not in str(caught.value)
