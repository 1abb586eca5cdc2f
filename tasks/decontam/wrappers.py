"""Tasks layer (decontam): strip known prompt wrappers before matching.

Evaluation harnesses wrap problems in fixed instruction text (LiveCodeBench's "You will be
given a question ...", "Please reason step by step ... \\boxed{}"). Left in, that text makes
every wrapped prompt share n-grams with every wrapped item, so both sides lose it before any
layer looks at them. Pure string functions; a cheap keyword test keeps the common case fast.
"""

from __future__ import annotations

import re

_LCB_HEAD = re.compile(
    r"^\s*You will be given a question \(problem specification\) and will generate a correct "
    r"Python program that matches the specification and passes all tests\.?\s*(?:Question:\s*)?",
    re.IGNORECASE,
)
_LCB_TAIL = re.compile(
    r"\s*(?:Read the inputs from stdin solve the problem and write the answer to stdout.*"
    r"|You will use the following starter code to write the solution to the problem and enclose "
    r"your code within delimiters\.?)",
    re.IGNORECASE | re.DOTALL,
)
# Instructions that harnesses and SFT sets append or prepend to math problems.
_INSTRUCTIONS = re.compile(
    "|".join((
        r"please reason step by step,? and put your final answer within \\boxed\{\}\.?",
        r"let'?s think step by step and output the final answer within \\boxed\{\}\.?",
        r"return your final response within \\boxed\{\}\.?",
        r"put your final answer within \\boxed\{\}\.?",
        r"solve the following math problem( step by step)?\.? the last line of your response should "
        r"be of the form answer: \$?answer \(without quotes\) where \$?answer is the answer to the "
        r"problem\.?",
        r"remember to put your answer on its own line after \"answer:\",? and you do not need to "
        r"use a \\boxed command\.?",
        r"\A\s*(?:problem|question)\s*:\s*",
        r"\s*(?:answer|solution)\s*:\s*\Z",
    )),
    re.IGNORECASE,
)


def strip_livecodebench(text: str) -> str:
    """The problem statement (and starter code) inside the LiveCodeBench template."""
    text = _LCB_HEAD.sub("", text, count=1)
    match = _LCB_TAIL.search(text)
    if match and match.group(0).lower().lstrip().startswith("you will use"):
        # Starter code follows the sentence and identifies the task: keep it.
        return (text[: match.start()] + "\n" + text[match.end():]).strip()
    return (text[: match.start()] if match else text).strip()


WRAPPERS = {"livecodebench": strip_livecodebench}


def strip_wrappers(text: str) -> str:
    """Remove every known wrapper; text without one comes back unchanged (and fast)."""
    if "You will be given a question" in text:
        text = strip_livecodebench(text)
    # Substring tests (fast, unlike a case-insensitive regex scan) tell whether a pattern can apply.
    if ":" in text or "boxed" in text or "tep by step" in text:
        text = _INSTRUCTIONS.sub(" ", text).strip()
    return text
