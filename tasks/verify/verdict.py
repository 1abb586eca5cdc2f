"""Tasks layer (verify): the result type every checker returns.

A `Verdict` is a plain frozen value, safe to share between threads and to store as columns
(`correct`, `extracted_answer`, ...). Checkers never raise for bad model output; they return a
Verdict whose `reason` says why it is not correct.
"""

from __future__ import annotations

from dataclasses import dataclass

ANSWER_TYPES = ("number", "expression", "set", "interval", "choice", "string", "code")
METHODS = ("math_verify", "numeric", "choice", "string", "code", "none")


@dataclass(frozen=True)
class Verdict:
    """Outcome of checking one response against one reference.

    `method` is the check that decided: "numeric" (both sides plain numbers, compared with a
    tolerance), "math_verify" (math-verify's symbolic comparison), "choice" (option letters),
    "string" (normalised strings were identical, or math-verify could parse neither side),
    "code" (reference tests in the sandbox), "none" (nothing to compare).
    `reason` is None when correct; otherwise "no_answer", "no_reference", "mismatch",
    "timeout", "memory_limit", "output_limit", "failed: ...", "killed: ..." or "error: ...".
    """

    correct: bool
    extracted: str | None
    method: str
    reason: str | None = None
