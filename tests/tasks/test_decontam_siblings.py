"""Benchmark siblings (issue 13 item 3) and the notation-aware form (issue 12 item 5).

Siblings: benchmark items of ../shared/data/benchmarks with every number changed are recorded
as method `sibling` (>= 95% of them), the policy decides what a sibling becomes, and the sibling
layer alone flags at most 0.2% of the clean seed pool."""

from __future__ import annotations

import json
import random
import re

import pytest

from schemas.decontam import DecontamSettings
from tasks.decontam.check import check_chunk
from tasks.decontam.encode import Encoder
from tasks.decontam.loading import load_benchmarks
from tasks.decontam.notation import plain
from tasks.decontam.stage import check_key, run_decontam

from tests.tasks.test_decontam_stage import CARLA, JANET, bench_dir, contamination, ingest_pool  # noqa: F401

_NUMBER = re.compile(r"\d+")


def renumbered(text: str, rng: random.Random) -> str:
    """Every number replaced by a different one."""
    def other(match: re.Match) -> str:
        value = int(match.group(0))
        new = rng.randint(2, 999)
        return str(new if new != value else new + 1)
    return _NUMBER.sub(other, text)


@pytest.mark.parametrize("latex,text", [
    (r"Find $\frac{3}{4} + x^{2}$ if $\left| x \right| \le 5$.", "Find 3/4 + x squared if |x| <= 5."),
    (r"Solve $z^4 + z^2 + 1 = 0$.", "Solve z^{4} plus z^{2} plus 1 equals 0."),
    (r"What is $\sqrt{2} \cdot 3$?", "What is sqrt(2) times 3?"),
    (r"Compute $\dbinom{8}{4}$.", r"Compute $\binom{8}{4}$."),
])
def test_notations_of_one_problem_tokenise_alike(latex, text):
    encoder = Encoder([plain(latex)])
    a, b = encoder.encode([plain(latex)]), encoder.encode([plain(text)])
    assert a.ids.tolist() == b.ids.tolist(), (plain(latex), plain(text))


def test_policies_drop_review_keep(lake, tmp_path, bench_dir):  # noqa: F811
    variant = JANET.replace("16 eggs", "20 eggs").replace("$2", "$3")
    ingest_pool(lake, tmp_path, [{"problem": variant}, {"problem": JANET}])
    base = dict(benchmarks=[str(bench_dir)], embedding=False)
    report = run_decontam(lake, DecontamSettings(**base), "run-1")
    assert contamination(lake) == {"1": {("gsm8k", "sibling")}, "2": {("gsm8k", "ngram13"), ("gsm8k", "minhash")}}
    assert report.siblings == {"gsm8k": 1}
    assert report.funnel().as_dict()["dropped"] == {"benchmark_sibling": 1, "contaminated": 1}
    evidence = lake.query("SELECT evidence FROM contamination WHERE method = 'sibling'").column(0)[0].as_py()
    assert "other numbers" in evidence and "16 for 20" in evidence
    for policy, verdict in (("review", None), ("keep", "kept")):
        report = run_decontam(lake, DecontamSettings(**base, sibling_policy=policy), f"run-{policy}")
        rows = lake.query("SELECT p.source_id, r.layer, r.verdict FROM decontam_reviews r JOIN prompts p "
                          "USING (prompt_id) WHERE r.check_key = ? AND r.layer = 'sibling'", [report.check_key]).to_pylist()
        assert rows == [{"source_id": "1", "layer": "sibling", "verdict": verdict}]
        assert report.siblings == {"gsm8k": 1} and report.contaminated == 1  # only the verbatim copy


@pytest.mark.slow
def test_numbers_changed_benchmark_items_are_siblings_and_clean_seeds_are_not(shared_data):
    settings = DecontamSettings(benchmarks=[str(shared_data / "benchmarks")], embedding=False, minhash=False)
    items = load_benchmarks(settings.benchmarks).items
    key = check_key(items, settings)
    rng = random.Random(7)
    numbered = [i for i in items if _NUMBER.search(i.text)]
    sample = rng.sample(numbered, 1000)
    texts = [renumbered(i.problem, rng) for i in sample]
    result = check_chunk(key, items, settings, frozenset(), texts, [None] * len(texts), {})
    found = {(h.doc, h.item) for h in result.hits if h.method == "sibling"}
    index = {(i.benchmark, i.item_id): n for n, i in enumerate(items)}
    caught = sum((d, index[(i.benchmark, i.item_id)]) in found for d, i in enumerate(sample))
    print(json.dumps({"items": len(sample), "caught": caught}))
    assert caught / len(sample) >= 0.95
    # GSM8K train is clean of GSM8K test siblings; MATH train is not: MATH's problems come from
    # templates, and its train split holds test items' templates with other numbers (real
    # siblings, e.g. the distance from a circle's centre to a point with other coefficients).
    gsm8k = [json.loads(line)["question"] for line in open(shared_data / "seeds" / "gsm8k_train.jsonl")]
    math = [r["problem"] for r in json.loads((shared_data / "seeds" / "deepscaler_math_train.json").read_text())]
    flags = {}
    for name, seeds in (("gsm8k_train", gsm8k), ("math_train", math)):
        clean = check_chunk(key, items, settings, frozenset(), seeds, [None] * len(seeds), {})
        siblings = sorted({h.doc for h in clean.hits if h.method == "sibling"})
        flags[name] = (len(siblings), len(seeds), [seeds[d][:100] for d in siblings[:5]])
    print(json.dumps(flags, indent=1))
    assert flags["gsm8k_train"][0] / len(gsm8k) <= 0.002
    assert flags["math_train"][0] / len(math) <= 0.05
