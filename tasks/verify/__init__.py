"""Tasks layer (verify): answer extraction and verification, Prefect-free.

Public API (re-exported here):
- `extract_final_answer(response)`: the final answer a response states (last \\boxed{}, then
  "final answer"/"answer is", then "#### n", then the last number), or None.
- `verify_answer(response, reference, answer_type=None, timeout_s=5.0) -> Verdict`: math via
  numbers/math-verify, option letters, normalised strings, or code tests; never raises for bad
  model output; thread-safe.
- `answers_equivalent(a, b)` and `canonical_answer(answer)`: compare/group extracted answers.
- `run_code_tests(program, tests, entry_point=None, timeout_s=10, memory_mb=1024) -> Verdict`:
  tests in a sandboxed subprocess (time, memory, process and network limits).
- `parse_code_tests(record, ...)`, `verify_code(response, spec)`: code prompts' tests (HumanEval,
  MBPP, APPS/TACO, CodeContests, LiveCodeBench shapes) and their check (codetests.py).
- `verifier_of(domain)`, `verify_prompt_response(domain, response, answer, spec)`, `checkable`,
  `spec_of`, `parse_choices`, `choice_answer`: the per-domain verifier (domains.py).
"""

from tasks.verify.code import network_isolation, run_code_tests
from tasks.verify.codetests import parse_code_tests, run_program, verify_code
from tasks.verify.domains import (
    DOMAINS,
    VERIFY_KEY,
    checkable,
    choice_answer,
    parse_choices,
    render_choices,
    spec_of,
    verifier_of,
    verify_prompt_response,
)
from tasks.verify.extract import extract_choice, extract_code, extract_final_answer
from tasks.verify.math import answers_equivalent, canonical_answer, verify_answer
from tasks.verify.verdict import ANSWER_TYPES, METHODS, Verdict

__all__ = [
    "ANSWER_TYPES",
    "DOMAINS",
    "METHODS",
    "VERIFY_KEY",
    "Verdict",
    "answers_equivalent",
    "canonical_answer",
    "checkable",
    "choice_answer",
    "extract_choice",
    "extract_code",
    "extract_final_answer",
    "network_isolation",
    "parse_choices",
    "parse_code_tests",
    "render_choices",
    "run_code_tests",
    "run_program",
    "spec_of",
    "verifier_of",
    "verify_answer",
    "verify_code",
    "verify_prompt_response",
]
