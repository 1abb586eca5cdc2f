"""Decontamination recall and clean-seed flag rate on a labelled set built from ../shared/data.

Benchmark items are injected into the seed pools in six kinds (verbatim, reformatted, wrapped
in instructions, truncated, short, rephrased by hand) and the whole decontaminate stage runs
on the real warehouse. Targets: recall >= 0.98 on the first five kinds and >= 0.90 on
rephrased copies; at most 0.5% of the seeds believed clean flagged. The seeds do hold real
contamination (AIME problems inside MATH / MATH-500, a few MATH train/test duplicates): those
prompts were inspected one by one and are listed in `TRUE_SEED_HITS`; only flags outside that
list count as false positives.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from schemas.config import IngestSettings, SourceSettings
from schemas.decontam import DecontamSettings
from tasks.decontam.loading import load_benchmarks
from tasks.decontam.stage import run_decontam
from tasks.ingest.stage import ingest_source
from tasks.text import normalize_text
from tests.tasks.decontam_rephrased import REPHRASED

SEEDS = ("gsm8k_train.jsonl", "deepscaler_math_train.json", "deepscaler_aime_1983_2023.json")
KINDS = ("verbatim", "reformatted", "wrapped", "truncated", "short", "rephrased")
PER_KIND = 150
SHORT_TOKENS = 13

# Flagged seed prompts that inspection (pair by pair) found to be real copies of a benchmark
# problem: same question, same numbers, same answer, possibly reworded or reformatted.
# AIME 1983-2023 problems that the MATH test set (and MATH-500) reuses:
_AIME_IN_MATH = (
    2, 9, 16, 20, 23, 30, 31, 47, 78, 82, 86, 107, 109, 115, 124, 126, 138, 143, 155, 173, 178, 197,
    205, 267, 288, 303, 319, 333, 338, 340, 347, 356, 368, 369, 372, 379, 391, 399, 407, 440, 447, 450,
    451, 455, 468, 473, 479, 487, 494, 513, 516, 527, 561, 576, 580, 617, 621, 632, 638, 640, 650, 655,
    726, 734, 745, 775, 787, 812,
)
# MATH train problems (DeepScaleR pool) that repeat a benchmark problem:
_MATH_TRAIN_COPIES = {
    750: "math#3024", 1186: "math#2296", 1412: "math#1039", 1595: "math#312", 1835: "math#3692",
    2518: "math#2106", 2676: "math#2088", 2833: "math#2437", 2940: "math#4657", 2992: "math#1922",
    3146: "math#1701", 3459: "math#2355", 3463: "math#1087", 4173: "math#2182", 4388: "math#1119",
    4521: "olympiadbench#2895", 4543: "math#120", 5252: "math#3614 (appended verbatim)",
    5319: "math#2146", 6096: "math#3766", 6273: "math#3708", 6845: "olympiadbench#2644",
    7355: "math#4908",
}
TRUE_SEED_HITS: dict[tuple[str, str], str] = {
    **{("deepscaler_aime_1983_2023", str(i)): "AIME problem reused by MATH" for i in _AIME_IN_MATH},
    **{("deepscaler_math_train", str(i)): f"same problem as {item}" for i, item in _MATH_TRAIN_COPIES.items()},
}

WRAPPERS = (
    "{p}\n\nPlease reason step by step, and put your final answer within \\boxed{{}}.",
    "Solve the following problem. Show your work and put the final answer in \\boxed{{}}.\n\n{p}",
    "Question: {p}\nAnswer:",
    "<|im_start|>user\n{p}<|im_end|>\n<|im_start|>assistant\n",
    "Here is a competition problem for you to practise on.\n\n{p}\n\nTake your time and explain "
    "every step of your reasoning before you give the final result.",
    "### Instruction:\nAnswer the math question below.\n\n### Input:\n{p}\n\n### Response:",
    "Problem 7 (4 points). {p}",
)


def reformat(text: str, rng: random.Random) -> str:
    """Layout, TeX spelling and case changes that keep the problem (three of them at random)."""
    steps = [
        lambda t: " ".join(t.split()),
        lambda t: re.sub(r"\.\s+", ".\n\n", t),
        lambda t: re.sub(r"\$([^$]+)\$", r"\\(\1\\)", t),
        lambda t: t.replace("$", ""),
        lambda t: t.replace("\\frac", "\\dfrac"),
        lambda t: t.replace("\\le ", "\\leq ").replace("\\ge ", "\\geq "),
        lambda t: t.upper() if len(t) < 400 else t.lower(),
        lambda t: re.sub(r"(\w)\s*=\s*(\w)", r"\1 = \2", t),
        lambda t: t.replace("(", "\\left(").replace(")", "\\right)"),
    ]
    for step in rng.sample(steps, 3):
        text = step(text)
    return text


def truncate(text: str, rng: random.Random) -> str:
    words = text.split()
    keep = max(int(len(words) * rng.uniform(0.5, 0.8)), 1)
    return " ".join(words[:keep])


def build_labelled(shared: Path, rng: random.Random) -> list[dict]:
    """[{kind, problem, answer, benchmark, item}] of injected copies of benchmark items."""
    items = load_benchmarks([str(shared / "benchmarks")]).items
    from tasks.text import tokens

    short = [i for i in items if 3 <= len(tokens(i.text)) < SHORT_TOKENS]
    long = [i for i in items if len(tokens(i.text)) >= 30]
    rows = []

    def add(kind: str, item, problem: str) -> None:
        rows.append({"kind": kind, "problem": problem, "answer": item.answer,
                     "benchmark": item.benchmark, "item": item.item_id})

    for item in rng.sample(items, PER_KIND):
        add("verbatim", item, item.problem)
    for item in rng.sample(items, PER_KIND):
        add("reformatted", item, reformat(item.problem, rng))
    for item in rng.sample(items, PER_KIND):
        add("wrapped", item, rng.choice(WRAPPERS).format(p=item.problem))
    for item in rng.sample(long, PER_KIND):
        add("truncated", item, truncate(item.text, rng))
    for item in rng.sample(short, 100):
        form = rng.choice(("verbatim", "reformatted", "wrapped"))
        text = item.problem if form == "verbatim" else reformat(item.problem, rng) if form == "reformatted" \
            else rng.choice(WRAPPERS).format(p=item.problem)
        add("short", item, text)
    for entry in REPHRASED:
        rows.append({"kind": "rephrased", "problem": entry["text"], "answer": entry["answer"],
                     "benchmark": entry["benchmark"], "item": entry["item"]})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def ingest_all(lake, shared: Path, labelled: Path) -> None:
    for name in SEEDS:
        field = "question" if name.startswith("gsm8k") else "problem"
        source = SourceSettings(name=name.split(".")[0], paths=[str(shared / "seeds" / name)],
                              problem_field=field, answer_field="answer")
        ingest_source(lake, source, IngestSettings(), "ingest-seeds")
    ingest_source(lake, SourceSettings(name="labelled", paths=[str(labelled)]), IngestSettings(), "ingest-labelled")


def evaluate(lake, rows: list[dict]) -> dict:
    """Recall per kind and flagged seeds (true hits and false positives apart)."""
    items = lake.query("SELECT benchmark, benchmark_item, problem FROM benchmark_items").to_pylist()
    same_text: dict[str, set] = defaultdict(set)
    text_of = {}
    for item in items:
        text = normalize_text(item["problem"])
        same_text[text].add((item["benchmark"], item["benchmark_item"]))
        text_of[(item["benchmark"], item["benchmark_item"])] = text
    found, methods = defaultdict(set), defaultdict(set)
    for hit in lake.query("SELECT c.prompt_id, c.benchmark, c.benchmark_item, c.method, p.source, p.source_id "
                          "FROM contamination AS c JOIN prompts AS p USING (prompt_id)").to_pylist():
        key = (hit["source"], hit["source_id"])
        found[key].add((hit["benchmark"], hit["benchmark_item"]))
        methods[key, hit["benchmark"], hit["benchmark_item"]].add(hit["method"])
    recall: dict[str, list[int]] = {kind: [0, 0] for kind in KINDS}
    by_method: dict[str, Counter] = {kind: Counter() for kind in KINDS}
    missed = []
    for line, row in enumerate(rows, 1):
        wanted = same_text[text_of[(row["benchmark"], row["item"])]]
        right = found.get(("labelled", str(line)), set()) & wanted
        recall[row["kind"]][0] += bool(right)
        recall[row["kind"]][1] += 1
        by_method[row["kind"]].update({m for b, i in right for m in methods[("labelled", str(line)), b, i]})
        if not right:
            missed.append((row["kind"], row["benchmark"], row["item"]))
    # Siblings (a test item's text with other numbers: MATH train holds many) are the sibling
    # layer's business, measured in tests/tasks/test_decontam_siblings.py: listed apart here.
    only_sibling = {key for key in found if {m for (k, _, _), ms in methods.items() if k == key for m in ms} == {"sibling"}}
    seeds = {(s, i) for (s, i) in found if s != "labelled" and (s, i) not in only_sibling}
    true = sorted(seeds & TRUE_SEED_HITS.keys())
    false = sorted(seeds - TRUE_SEED_HITS.keys())
    total = lake.query("SELECT count(*) FROM prompts WHERE source <> 'labelled'").column(0)[0].as_py()
    return {
        "recall": {k: round(h / n, 3) for k, (h, n) in recall.items()},
        "recall_counts": {k: f"{h}/{n}" for k, (h, n) in recall.items()},
        "found_by_method": {k: dict(c) for k, c in by_method.items()},
        "missed": missed,
        "seed_prompts": total,
        "seed_true_hits": len(true),
        "seed_false_positives": len(false),
        "seed_false_positive_rate": round(len(false) / total, 5),
        "seed_siblings": len([k for k in only_sibling if k[0] != "labelled"]),
        "false_positive_ids": false,
    }


def plain_13gram(lake, rows: list[dict]) -> dict:
    """Reference: any shared 13-gram of `tasks.text.tokens`, no allow-list, no checks."""
    from tasks.text import tokens, word_ngrams

    items = lake.query("SELECT benchmark, benchmark_item, problem FROM benchmark_items").to_pylist()
    grams = {g for item in items for g in word_ngrams(tokens(item["problem"]), 13)}
    flagged = lambda text: not grams.isdisjoint(word_ngrams(tokens(text), 13))  # noqa: E731
    recall = Counter(row["kind"] for row in rows if flagged(row["problem"]))
    total = Counter(row["kind"] for row in rows)
    seeds = lake.query("SELECT problem FROM prompts WHERE source <> 'labelled'").column(0).to_pylist()
    hits = sum(1 for text in seeds if flagged(text))
    return {"recall": {k: round(recall[k] / total[k], 3) for k in KINDS},
            "seed_flag_rate": round(hits / len(seeds), 4), "seed_flagged": hits}


@pytest.mark.slow
def test_recall_per_kind_and_clean_seed_flag_rate(lake, shared_data, tmp_path):
    rows = build_labelled(shared_data, random.Random(0))
    ingest_all(lake, shared_data, write_jsonl(tmp_path / "labelled.jsonl", rows))
    settings = DecontamSettings(benchmarks=[str(shared_data / "benchmarks")])
    started = time.perf_counter()
    report = run_decontam(lake, settings, f"decontam-{uuid.uuid4().hex[:6]}")
    seconds = time.perf_counter() - started
    result = evaluate(lake, rows)
    baseline = plain_13gram(lake, rows)
    print(json.dumps({**result, "seconds": round(seconds, 1), "layer_seconds": report.seconds,
                      "plain_13gram_reference": baseline}, indent=1))
    for kind in KINDS[:-1]:
        assert result["recall"][kind] >= 0.98, (kind, result["missed"])
    assert result["recall"]["rephrased"] >= 0.90, result["missed"]
    assert result["seed_false_positive_rate"] <= 0.005, result["false_positive_ids"]
    started = time.perf_counter()
    again = run_decontam(lake, settings, f"decontam-{uuid.uuid4().hex[:6]}")
    assert again.checked == 0 and sum(again.rows.values()) == 0
    assert time.perf_counter() - started < 10
