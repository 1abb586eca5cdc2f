"""Per-domain verifiers: code test shapes (HumanEval, MBPP, APPS/TACO, CodeContests, LiveCodeBench),
multiple-choice options and answers, and the dispatcher the stages use."""

from __future__ import annotations

import json

import pytest

from tasks.ingest.mapping import RecordMapper
from tasks.readers.files import Bad
from tasks.verify import (
    checkable,
    choice_answer,
    parse_choices,
    parse_code_tests,
    spec_of,
    verifier_of,
    verify_code,
    verify_prompt_response,
)

ADD = "```python\ndef add(a, b):\n    return a + b\n```"
SUM_STDIN = "```python\nimport sys\na, b = map(int, sys.stdin.buffer.read().split())\nprint(a + b)\n```"


def test_humaneval_and_mbpp_shapes():
    he = parse_code_tests({"test": "def check(candidate):\n    assert candidate(1, 2) == 3\n", "entry_point": "add"})
    assert he["kind"] == "check" and he["entry_point"] == "add"
    assert verify_code(ADD, he).correct
    assert not verify_code(ADD.replace("a + b", "a * b"), he).correct
    mbpp = parse_code_tests({"test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]})
    assert verify_code(ADD, mbpp).correct
    assert "does not parse" in parse_code_tests({"test": "def check(:\n"})


def test_apps_taco_stdio_and_call_shapes():
    stdio = parse_code_tests({"input_output": json.dumps({"inputs": ["1 2\n", "5 5\n"], "outputs": ["3\n", "10"]})})
    assert stdio["kind"] == "stdio" and verify_code(SUM_STDIN, stdio).correct
    wrong = "```python\nprint(3)\n```"
    verdict = verify_code(wrong, stdio)
    assert not verdict.correct and "wrong answer on test 2 of 2" in verdict.reason
    call = parse_code_tests({"input_output": {"fn_name": "add", "inputs": [[1, 2], [3, 4]], "outputs": [[3], [7]]}})
    assert call["kind"] == "call" and verify_code(ADD, call).correct
    leetcode = "```python\nclass Solution:\n    def add(self, a, b):\n        return a + b\n```"
    assert verify_code(leetcode, call).correct


def test_codecontests_and_livecodebench_shapes():
    cc = parse_code_tests({"public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
                           "private_tests": {"input": ["2 2\n"], "output": ["4\n"]}})
    assert cc["kind"] == "stdio" and len(cc["cases"]) == 2 and verify_code(SUM_STDIN, cc).correct
    lcb = parse_code_tests({"public_test_cases": json.dumps([{"input": "1\n2", "output": "3", "testtype": "functional"}]),
                            "metadata": json.dumps({"func_name": "add"})})
    assert lcb == {"kind": "call", "fn_name": "add", "cases": [[[1, 2], 3]]}
    assert verify_code(ADD, lcb).correct
    assert "external file" in parse_code_tests({"tests": {"fname": "559.json", "md5": "x"}})
    assert parse_code_tests({"problem": "x"}).startswith("no tests field")
    assert parse_code_tests({"input_output": {"inputs": [], "outputs": []}}) == "no test cases"


def test_code_records_with_unparseable_tests_are_quarantined():
    mapper = RecordMapper("s", "f")
    bad = mapper.map({"prompt": "Solve.", "tests": {"fname": "1.json"}, "domain": "code"}, "1")
    assert isinstance(bad, Bad) and bad.reason == "bad_tests"
    row = mapper.map({"prompt": "Add.", "test": "def check(c):\n    assert c(1, 1) == 2\n", "entry_point": "add"}, "2")
    assert row[5] == "code" and row[3] is None and spec_of(row[7])["kind"] == "check"
    custom = RecordMapper("s", "f", tests_field="cases", domain="code").map(
        {"problem": "Echo.", "cases": [{"input": "x\n", "output": "x\n"}]}, "3")
    assert spec_of(custom[7]) == {"kind": "stdio", "cases": [["x\n", "x\n"]]}
    kept = RecordMapper("s", "f", keep_extra=False, domain="code").map({"prompt": "Add.", "test": "assert add(1, 1) == 2"}, "4")
    assert spec_of(kept[7])["kind"] == "check"  # the tests survive keep_extra=False


@pytest.mark.parametrize("choices, answer, letter", [
    (["Rome", "Paris"], "Paris", "B"),
    (["Rome", "Paris"], 0, "A"),
    ({"label": ["A", "B", "C"], "text": ["x", "y", "z"]}, "C", "C"),
    ({"A": "one", "B": "two"}, "(B)", "B"),
    (json.dumps(["1", "2", "3"]), "2", "B"),  # option text wins over an index reading
])
def test_choice_answers(choices, answer, letter):
    assert choice_answer(answer, parse_choices(choices)) == letter


def test_choice_records_and_verdicts():
    row = RecordMapper("s", "f").map({"question": "Capital of France?", "options": ["Rome", "Paris"],
                                      "answer": "B"}, "1")
    assert row[5] == "choice" and row[3] == "B" and row[2].endswith("A. Rome\nB. Paris")
    spec = spec_of(row[7])
    assert verify_prompt_response("choice", "So the answer is (B).", "B", spec).correct
    assert verify_prompt_response("choice", "The answer is \\boxed{Paris}", "B", spec).correct
    assert not verify_prompt_response("choice", "Answer: A", "B", spec).correct
    assert isinstance(RecordMapper("s", "f").map({"question": "?", "choices": ["a", "b"], "answer": "Z"}, "2"), Bad)


def test_dispatch_by_domain():
    assert [verifier_of(d) for d in ("math", "code", "choice", "open", "science", None)] == \
        ["answer", "code", "choice", "judge", "answer", "answer"]
    assert checkable("math", "7", {}) and not checkable("math", None, {})
    assert checkable("code", None, {"kind": "check"}) and not checkable("open", "x", {})
    assert verify_prompt_response("math", "so \\boxed{7}", "7", {}).correct
    assert verify_prompt_response("code", ADD, None, {}).reason == "error: prompt has no tests"
