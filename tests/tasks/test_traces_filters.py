"""Trace filters and rewrite validation on hand-made responses (no model, no Prefect)."""

import pytest

from tasks.llm.cache import Sample
from tasks.rewrite.stage import answer_leaked, rewrite_reason, validate
from tasks.traces.filters import check_response, repetition_ratio, split_reasoning
from tasks.traces.stage import apply_keep_policy

LIMITS = {"allow_answer_only": False, "min_tokens": 1, "max_tokens": 1000, "max_repetition": 0.3}


def check(text, label="12", reasoning=None, finish="stop", tokens=50, **overrides):
    return check_response(Sample(text, reasoning, finish, 10, tokens), label, **{**LIMITS, **overrides})


def test_inline_think_block_kept_when_answer_is_right():
    c = check("<think>\n3 * 4 = 12, so twelve.\n</think>\nThe product is \\boxed{12}.")
    assert (c.status, c.reason, c.correct) == ("kept", None, True)
    assert c.reasoning == "3 * 4 = 12, so twelve." and c.solution.endswith("\\boxed{12}.")


def test_reasoning_content_field_is_wrapped_not_required_inline():
    c = check("So the answer is \\boxed{12}.", reasoning="Multiply three by four.")
    assert c.status == "kept" and c.reasoning == "Multiply three by four."


@pytest.mark.parametrize(
    ("text", "reasoning", "reason"),
    [
        ("<think>a</think><think>b</think> \\boxed{12}", None, "malformed_think"),    # two blocks
        ("<think>never closed \\boxed{12}", None, "malformed_think"),                 # unbalanced
        ("</think> backwards <think> \\boxed{12}", None, "malformed_think"),          # wrong order
        ("preamble <think>x</think> \\boxed{12}", None, "malformed_think"),           # text before
        ("<think>   </think> \\boxed{12}", None, "malformed_think"),                  # empty reasoning
        ("<think>x</think> \\boxed{12}", "also separate", "malformed_think"),         # both forms
        ("Just \\boxed{12}.", None, "no_reasoning"),
        ("<think>I am not sure.</think> No idea.", None, "no_answer"),
        ("<think>3 * 4 = 13</think> \\boxed{13}", None, "wrong_answer"),
        ("", None, "empty"),
    ],
)
def test_each_failure_has_its_reason(text, reasoning, reason):
    c = check(text, reasoning=reasoning)
    assert (c.status, c.reason) == ("dropped", reason)


def test_truncation_length_and_repetition():
    assert check("<think>x</think> \\boxed{12}", finish="length").reason == "truncated"
    assert check("<think>x</think> \\boxed{12}", tokens=5000).reason == "too_long"
    assert check("<think>x</think> \\boxed{12}", tokens=0, min_tokens=3).reason == "too_short"
    loop = "<think>" + "we add the numbers again and again " * 30 + "</think> \\boxed{12}"
    assert repetition_ratio(loop) > 0.3
    assert check(loop).reason == "repetitive"
    assert repetition_ratio("every word here is different from the others in this sentence") == 0.0


def test_answer_only_when_allowed():
    c = check("The answer is \\boxed{12}.", allow_answer_only=True)
    assert c.status == "kept" and c.reasoning == ""
    assert split_reasoning("plain", None, False) == "no_reasoning"


def test_no_label_is_dropped_with_reason():
    assert check("<think>x</think> \\boxed{12}", label=None).reason == "no_reference"


def test_best_of_k_keeps_the_shortest_correct():
    kept = check("<think>x</think> \\boxed{12}")
    wrong = check("<think>x</think> \\boxed{1}")
    result = apply_keep_policy([kept, wrong, kept], [90, 10, 40], "best_of_k")
    assert [(c.status, c.reason) for c in result] == [("dropped", "not_best"), ("dropped", "wrong_answer"), ("kept", None)]
    assert apply_keep_policy([kept, kept], [1, 2], "all_correct") == [kept, kept]


@pytest.mark.parametrize(
    ("problem", "answer", "why"),
    [
        ("Prove that the sum of two odd integers is even.", None, "proof"),
        ("Show that 7 divides 8^n - 1 for every n.", "true", "proof"),
        ("(a) Find x. (b) Find y. given x + y = 3", "1", "multi_part"),
        ("Which is prime? (A) 4 (B) 6 (C) 7 (D) 8 (E) 9", "C", "multiple_choice"),
        ("Find the area of the square of side 3.", None, "no_answer"),
        ("Describe the set.", "all the integers that are not divisible by three", "unparseable_answer"),
        ("Compute 2 + 3.", "5", None),
    ],
)
def test_which_prompts_need_a_rewrite(problem, answer, why):
    assert rewrite_reason(problem, answer) == why


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"problem": "A square has side 3. What is its area?", "answer": "9", "answer_type": "number"}', None),
        ("Sure! Here it is: not json", "invalid_json"),
        ('{"problem": "What is its area?", "answer_type": "number"}', "missing_field"),
        ('{"problem": "A square has side 3. Area?", "answer": "9", "answer_type": "essay"}', "bad_answer_type"),
        ('{"problem": "A square has side 3. Area?", "answer": "nine square units of area", "answer_type": "number"}', "unparseable_answer"),
        ('{"problem": "A square has side 3, so area 9. Area?", "answer": "9", "answer_type": "number"}', "answer_leaked"),
        ('{"problem": "A square has side 5. Area?", "answer": "25", "answer_type": "number"}', "lost_mathematics"),
    ],
)
def test_rewrite_validation_reasons(text, reason):
    _, got = validate("Prove a square of side 3 has area 9 square units.", text, 0.5)
    assert got == reason


def test_answer_leak_is_token_bounded():
    assert answer_leaked("the value is 12 here", "12")
    assert not answer_leaked("the value 120 is large", "12")
