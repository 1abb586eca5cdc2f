"""The verifier against the benchmarks' own reference solutions (shared data files).

Measurement: extract the final answer from each MATH-500 `solution` and GSM8K `answer`
rationale and verify it against the reference answer; the verifier must agree on >= 99%. The
disagreements are printed. A negative control pairs each solution with the NEXT item's
reference, so a verifier that accepts everything cannot pass. HumanEval's canonical solutions
must all pass the code sandbox, and wrong/looping/networking solutions must not.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tasks.verify import answers_equivalent, extract_final_answer, run_code_tests, verify_answer
from tasks.verify.mvpool import get_pool

MIN_AGREEMENT = 0.99


def _jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _math500(shared_data: Path) -> list[tuple[str, str, str]]:
    rows = _jsonl(shared_data / "benchmarks/math500.jsonl")
    return [(r["unique_id"], r["solution"], r["answer"]) for r in rows]


def _gsm8k(shared_data: Path) -> list[tuple[str, str, str]]:
    rows = _jsonl(shared_data / "benchmarks/gsm8k_test.jsonl")
    # The reference is the text after "####" as written ("1,250"); the verifier reads the whole rationale.
    return [(f"gsm8k-test-{i + 1}", r["answer"], r["answer"].rsplit("####", 1)[1].strip())
            for i, r in enumerate(rows)]


def _measure(name: str, items: list[tuple[str, str, str]], capsys) -> float:
    verdicts = [(item_id, reference, verify_answer(solution, reference))
                for item_id, solution, reference in items]
    disagreements = [(i, ref, v) for i, ref, v in verdicts if not v.correct]
    rate = 1 - len(disagreements) / len(items)
    methods = Counter(v.method for _, _, v in verdicts)
    with capsys.disabled():
        print(f"\n[verify] {name}: {len(items) - len(disagreements)}/{len(items)} agree ({rate:.2%}); "
              f"decided by {dict(methods)}")
        for item_id, reference, verdict in disagreements:
            print(f"[verify]   {item_id}: reference {reference!r}, extracted {verdict.extracted!r}, "
                  f"{verdict.method}: {verdict.reason}")
    return rate


def test_math500_reference_solutions_agree(shared_data, capsys):
    items = _math500(shared_data)
    assert len(items) == 500
    assert _measure("MATH-500 solution vs answer", items, capsys) >= MIN_AGREEMENT


def test_math500_agrees_through_math_verify_alone(shared_data, capsys):
    """Most MATH-500 items are decided before math-verify (numbers, identical strings); this
    sends every extracted answer through the math-verify workers, no shortcuts."""
    items = _math500(shared_data)
    replies = [(i, ref, get_pool().check(ref, extract_final_answer(sol) or "", 5.0)) for i, sol, ref in items]
    failed = [(i, ref, reply) for i, ref, reply in replies if reply != {"status": "ok", "equal": True}]
    with capsys.disabled():
        print(f"\n[verify] MATH-500 via math-verify only: {len(items) - len(failed)}/{len(items)} agree "
              f"{failed}")
    assert 1 - len(failed) / len(items) >= MIN_AGREEMENT


def test_gsm8k_reference_rationales_agree(shared_data, capsys):
    items = _gsm8k(shared_data)
    assert len(items) == 1319
    assert _measure("GSM8K rationale vs #### answer", items, capsys) >= MIN_AGREEMENT


@pytest.mark.parametrize("benchmark", ["math500", "gsm8k"])
def test_wrong_references_are_rejected(shared_data, benchmark, capsys):
    """Negative control: solution i against reference i+1 is accepted only when those two
    references are themselves equivalent (e.g. both are "3")."""
    items = _math500(shared_data) if benchmark == "math500" else _gsm8k(shared_data)
    accepted = []
    for index, (item_id, solution, _) in enumerate(items):
        other = items[(index + 1) % len(items)][2]
        if verify_answer(solution, other).correct:
            accepted.append((item_id, items[index][2], other))
    with capsys.disabled():
        print(f"\n[verify] {benchmark} shifted references: {len(accepted)}/{len(items)} accepted "
              f"(all equal answers): {accepted[:10]}")
    assert all(answers_equivalent(own, other) for _, own, other in accepted), accepted
    assert len(accepted) < 0.05 * len(items)


def _formats(answer: int) -> list[str]:
    return [
        str(answer), f"The answer is {answer}.", f"\\boxed{{{answer}}}", f"$\\boxed{{{answer}.0}}$",
        f"Final answer: ${answer}$", f"#### {answer:,}", f"so we get {answer:,} in total",
        f"\\boxed{{\\dfrac{{{2 * answer}}}{{2}}}}", f"The answer is $x = {answer}$.",
        f"**Final Answer**\n\n{answer}",
        f"\\boxed{{{answer}\\text{{ minutes}}}}",
    ]


@pytest.mark.parametrize("file", ["aime24.jsonl", "amc23.jsonl"])
def test_competition_answers_in_other_formats(shared_data, file):
    rows = _jsonl(shared_data / "benchmarks" / file)
    failures = []
    for row in rows:
        reference = row["answer"]  # aime24: "204" (str); amc23: 27.0 (float)
        value = int(float(reference))
        for response in _formats(value):
            if not verify_answer(response, reference).correct:
                failures.append((reference, response, "rejected"))
        for response in (f"\\boxed{{{value + 1}}}", f"The answer is {value - 1}.", "I cannot solve this."):
            if verify_answer(response, reference).correct:
                failures.append((reference, response, "accepted"))
    assert failures == []


def _humaneval(shared_data: Path) -> list[dict]:
    return _jsonl(shared_data / "benchmarks/humaneval.jsonl.gz")


def test_humaneval_canonical_solutions_pass_the_sandbox(shared_data, capsys):
    tasks = _humaneval(shared_data)
    assert len(tasks) == 164

    def run(task: dict):
        return task["task_id"], run_code_tests(task["prompt"] + task["canonical_solution"], task["test"],
                                               task["entry_point"], timeout_s=20)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, tasks))
    failed = [(task_id, verdict.reason) for task_id, verdict in results if not verdict.correct]
    with capsys.disabled():
        print(f"\n[verify] HumanEval canonical solutions: {len(tasks) - len(failed)}/{len(tasks)} pass "
              f"{failed}")
    assert failed == []


def test_humaneval_wrong_looping_and_networking_solutions_fail(shared_data):
    task = _humaneval(shared_data)[0]
    prompt, test, entry = task["prompt"], task["test"], task["entry_point"]
    assert run_code_tests(prompt + task["canonical_solution"], test, entry).correct
    wrong = run_code_tests(prompt + "    return False\n", test, entry)
    assert wrong.reason == "failed: AssertionError"
    loop = run_code_tests(prompt + "    while True:\n        pass\n", test, entry, timeout_s=2)
    assert loop.reason == "timeout"
    networking = prompt + (
        "    import socket\n"
        "    socket.create_connection(('1.1.1.1', 80), timeout=3)\n"
        "    return False\n"
    )
    verdict = run_code_tests(networking, test, entry)
    assert not verdict.correct and "network access is disabled" in verdict.reason


def _changed_return(body: str) -> str | None:
    """The solution with its last return value changed (None when it returns nothing)."""
    import re

    lines = body.split("\n")
    for index in range(len(lines) - 1, -1, -1):
        match = re.match(r"(\s*)return\b(.*)", lines[index])
        if match:
            value = match.group(2).strip() or "None"
            lines[index] = f"{match.group(1)}return _Changed({value})"
            return "\n".join(lines)
    return None


_CHANGED = "\nclass _Changed:\n    def __init__(self, value):\n        self.value = value\n"


@pytest.mark.slow
def test_humaneval_as_code_seeds_right_passes_and_changed_return_fails(shared_data, capsys):
    """Through ingest's test parsing and the stages' verifier: canonical solutions pass, and the
    same solutions with one changed return value (an object equal to nothing) fail, >= 99% each."""
    from tasks.ingest.mapping import RecordMapper
    from tasks.verify import spec_of, verify_prompt_response

    tasks = _humaneval(shared_data)
    mapper = RecordMapper("humaneval", "humaneval.jsonl.gz")

    def run(task: dict):
        row = mapper.map(task, task["task_id"])
        domain, spec = row[5], spec_of(row[7])
        def fenced(body: str) -> str:
            return f"Here it is.\n```python\n{_CHANGED}{task['prompt']}{body}\n```"

        right = verify_prompt_response(domain, fenced(task["canonical_solution"]), None, spec, timeout_s=20)
        changed = _changed_return(task["canonical_solution"])
        wrong = verify_prompt_response(domain, fenced(changed), None, spec, timeout_s=20) if changed else None
        return task["task_id"], right, wrong

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, tasks))
    passed = [t for t, right, _ in results if right.correct]
    mutated = [(t, wrong) for t, _, wrong in results if wrong is not None]
    caught = [t for t, wrong in mutated if not wrong.correct]
    with capsys.disabled():
        print(f"\n[verify] HumanEval via ingest + domain verifier: canonical {len(passed)}/{len(tasks)} pass; "
              f"changed return {len(caught)}/{len(mutated)} fail; misses "
              f"{[t for t, *_ in results if t not in passed] + [t for t, _ in mutated if t not in caught]}")
    assert len(passed) >= 0.99 * len(tasks) and len(caught) >= 0.99 * len(mutated)
    assert len(mutated) >= 160
