"""Realistic dedup pools for the dedup benchmark, built from real seed text.

Seeds: the shared GSM8K train, MATH train (DeepScaleR) and AIME problems with their reference
answers (../shared/data/seeds, see its MANIFEST.md); without them, the procedural generator's
problems. A pool of n prompts holds every seed once, then:
- ~45% spliced problems: the first sentences of one seed and the last ones of another (a new
  problem, its own family);
- ~40% numbers-changed variants: families of 20-30 prompts from one seed template with every
  number replaced (each a different problem, its own family: they must all be kept);
- ~10% one-word near duplicates of an earlier prompt (a word inserted, deleted or replaced;
  same family, same answer: they must be dropped);
- the rest exact copies (same family).
`family[i] == family[j]` iff prompts i and j are the same problem.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILLERS = ["the", "also", "exactly", "then", "all", "now", "just", "please"]
_NUMBER = re.compile(r"\d+")
_SENTENCE = re.compile(r"(?<=[.?!])\s+")


@dataclass
class Seed:
    problem: str
    answer: str | None
    source: str


@dataclass
class Pool:
    texts: list[str]
    answers: list[str | None]
    family: np.ndarray  # prompts with the same family are duplicates of each other
    kind: list[str]  # seed | splice | numbers | near | exact


def shared_seeds_dir() -> Path | None:
    root = Path(os.environ.get("TEACHABLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    seeds = root / "seeds"
    return seeds if (seeds / "gsm8k_train.jsonl").exists() else None


def load_seeds(limit: int | None = None) -> list[Seed]:
    """GSM8K train + MATH train + AIME from the shared seeds, else procedural problems."""
    folder = shared_seeds_dir()
    if folder is None:
        from tasks.ingest.procedural import ProceduralSpec, generate

        return [Seed(r["problem"], r["answer"], "procedural") for r in generate(ProceduralSpec(n=limit or 5000))]
    seeds = []
    for line in (folder / "gsm8k_train.jsonl").read_text().splitlines():
        row = json.loads(line)
        seeds.append(Seed(row["question"], row["answer"].rsplit("####", 1)[-1].strip(), "gsm8k"))
    for name, source in (("deepscaler_math_train.json", "math"), ("deepscaler_aime_1983_2023.json", "aime")):
        for row in json.loads((folder / name).read_text()):
            seeds.append(Seed(row["problem"], str(row["answer"]) if row.get("answer") is not None else None, source))
    return seeds[:limit] if limit else seeds


def _renumber(text: str, rng: np.random.Generator) -> str:
    return _NUMBER.sub(lambda m: str(int(rng.integers(2, 10 ** max(2, len(m.group())) ))), text)


def _splice(a: str, b: str) -> str | None:
    """First half of a's sentences, last half of b's; None unless each side is at least 40% of
    the words (else it is mostly one seed: a near copy, not a new problem)."""
    first, second = _SENTENCE.split(a), _SENTENCE.split(b)
    if len(first) < 2 or len(second) < 2:
        return None
    head, tail = " ".join(first[: len(first) // 2]), " ".join(second[len(second) // 2 :])
    words_head, words_tail = len(head.split()), len(tail.split())
    if min(words_head, words_tail) < 0.4 * (words_head + words_tail):
        return None
    return head + " " + tail


def _one_word(text: str, rng: np.random.Generator) -> str | None:
    words = text.split(" ")
    plain = [i for i, w in enumerate(words) if w.isalpha()]
    if len(words) < 15 or not plain:
        return None
    at = plain[int(rng.integers(len(plain)))]
    choice = int(rng.integers(3))
    if choice == 0:
        words.insert(at, FILLERS[int(rng.integers(len(FILLERS)))])
    elif choice == 1:
        del words[at]
    else:
        words[at] = FILLERS[int(rng.integers(len(FILLERS)))]
    return " ".join(words)


def make_pool(n: int, seed: int = 0, seeds: list[Seed] | None = None) -> Pool:
    rng = np.random.default_rng(seed)
    seeds = seeds if seeds is not None else load_seeds()
    texts = [s.problem for s in seeds][:n]
    answers = [s.answer for s in seeds][:n]
    kind = ["seed"] * len(texts)
    from tasks.text import normalize_text

    # The seeds hold copies (AIME problems in the MATH pool too, reformatted): one family per
    # normalised text, and per (answer, numbers) when a text has three or more numbers.
    first_of: dict[object, int] = {}
    family = []
    for i, (text, answer) in enumerate(zip(texts, answers)):
        numbers = tuple(sorted(_NUMBER.findall(text)))
        same = first_of.get(normalize_text(text))
        if same is None and len(numbers) >= 3 and answer:
            same = first_of.get((answer.strip(), numbers))
        family.append(i if same is None else same)
        first_of.setdefault(normalize_text(text), family[-1])
        if len(numbers) >= 3 and answer:
            first_of.setdefault((answer.strip(), numbers), family[-1])
    seen = {normalize_text(t) for t in texts}  # a copy up to spacing is an exact duplicate
    templates = [i for i, s in enumerate(seeds) if len(_NUMBER.findall(s.problem)) >= 2]

    def add(text: str, answer: str | None, fam: int, what: str) -> None:
        texts.append(text)
        answers.append(answer)
        family.append(fam)
        kind.append(what)

    rest = max(0, n - len(texts))  # shares of what the seeds leave
    quota = {"splice": int(rest * 0.45), "numbers": int(rest * 0.40), "near": int(rest * 0.10)}
    numbers_of: dict[str, set[tuple[str, ...]]] = {}
    while quota["numbers"] > 0 and len(texts) < n:
        base = seeds[templates[int(rng.integers(len(templates)))]].problem
        # A permutation of the template's (or a sibling's) numbers is not "other numbers";
        # a template drawn twice, or two seeds that are one problem (AIME items in the MATH
        # pool), share the record.
        used = numbers_of.setdefault(normalize_text(base), {tuple(sorted(_NUMBER.findall(base)))})
        for _ in range(min(int(rng.integers(20, 31)), quota["numbers"])):
            text = _renumber(base, rng)
            numbers = tuple(sorted(_NUMBER.findall(text)))
            if normalize_text(text) not in seen and numbers not in used:
                seen.add(normalize_text(text))
                used.add(numbers)
                add(text, str(int(rng.integers(1, 10**6))), len(family), "numbers")
                quota["numbers"] -= 1
    while quota["splice"] > 0 and len(texts) < n:
        a, b = rng.integers(len(seeds), size=2).tolist()
        text = _splice(seeds[a].problem, seeds[b].problem) if a != b else None
        if text and normalize_text(text) not in seen:
            seen.add(normalize_text(text))
            add(text, seeds[b].answer, len(family), "splice")
            quota["splice"] -= 1
    while quota["near"] > 0 and len(texts) < n:
        source = int(rng.integers(len(texts)))
        text = _one_word(texts[source], rng)
        if text and normalize_text(text) not in seen:
            seen.add(normalize_text(text))
            add(text, answers[source], family[source], "near")
            quota["near"] -= 1
    while len(texts) < n:
        source = int(rng.integers(len(texts)))
        add(texts[source], answers[source], family[source], "exact")
    order = rng.permutation(n)  # copies land anywhere in the pool
    return Pool([texts[i] for i in order], [answers[i] for i in order],
                np.asarray(family)[order], [kind[i] for i in order])
