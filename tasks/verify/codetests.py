"""Tasks layer (verify): the tests of a code prompt, parsed once at ingest and run in the sandbox.

Contract:
- `parse_code_tests(record, tests_field=None, entry_point_field=None) -> dict | str`: the test
  spec of a source record, or one line saying why there is none. Shapes understood (defaults in
  this order when no field is named): HumanEval/MBPP (`test` + `entry_point`, `test_list`),
  APPS/TACO (`input_output`: {"inputs", "outputs", "fn_name"?}), CodeContests
  (`public_tests`/`private_tests`/`generated_tests`: {"input": [...], "output": [...]}),
  LiveCodeBench (`public_test_cases`/`private_test_cases`: [{"input", "output", "testtype"}]) and
  a generic `tests` list of {"input", "output"}. A spec is JSON-able:
  {"kind": "check", "tests": code, "entry_point": name|None} | {"kind": "stdio", "cases": [[in, out]]}
  | {"kind": "call", "fn_name": name, "cases": [[args, expected]]}.
- `verify_code(response, spec, timeout_s, memory_mb) -> Verdict`: extracts the program from the
  response's fenced blocks (`extract_code`) and runs the spec's tests in the sandbox (code.py).
"""

from __future__ import annotations

import ast
import json

from tasks.verify.code import run_code_tests, run_script
from tasks.verify.extract import extract_code
from tasks.verify.verdict import Verdict

TESTS_FIELDS = ("test", "test_list", "input_output", "public_tests", "public_test_cases", "tests")
_EXTRA_CASE_FIELDS = {"public_tests": ("private_tests", "generated_tests"),
                      "public_test_cases": ("private_test_cases",)}
ENTRY_POINT_FIELDS = ("entry_point", "fn_name", "func_name")
MAX_CASES = 200  # generated CodeContests tests run to hundreds; a sample needs no more


def _loaded(value: object) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _entry_point(record: dict, field: str | None) -> str | None:
    for name in (field,) if field else ENTRY_POINT_FIELDS:
        value = record.get(name) if name else None
        if isinstance(value, str) and value.isidentifier():
            return value
    metadata = _loaded(record.get("metadata"))
    if isinstance(metadata, dict) and isinstance(metadata.get("func_name"), str):
        return metadata["func_name"]
    return None


def _check_spec(code: str, entry_point: str | None) -> dict | str:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError) as error:
        return f"test code does not parse: {error.__class__.__name__}"
    return {"kind": "check", "tests": code, "entry_point": entry_point}


def _io_cases(value: object) -> list | str:
    """[[input, output]] from {"input": [..], "output": [..]} or [{"input", "output"}]."""
    if isinstance(value, dict) and isinstance(value.get("input"), list) and isinstance(value.get("output"), list):
        return [list(pair) for pair in zip(value["input"], value["output"])]
    if isinstance(value, list) and all(isinstance(c, dict) and "input" in c and "output" in c for c in value):
        return [[c["input"], c["output"]] for c in value]
    return "unrecognised test cases"


def _spec_of(value: object, entry_point: str | None) -> dict | str:
    value = _loaded(value)
    if isinstance(value, str):
        return _check_spec(value, entry_point) if value.strip() else "tests are empty"
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return _check_spec("\n".join(value), entry_point)  # MBPP test_list: assert lines
    if isinstance(value, dict) and "fname" in value:
        return "tests name an external file that is not included"
    if isinstance(value, dict) and "inputs" in value and "outputs" in value:  # APPS / TACO
        fn_name = value.get("fn_name") or None
        cases = [list(pair) for pair in zip(value["inputs"], value["outputs"])]
        if fn_name:
            return {"kind": "call", "fn_name": fn_name, "cases": cases}
        return {"kind": "stdio", "cases": cases}
    cases = _io_cases(value)
    if isinstance(cases, str):
        return cases
    if isinstance(value, list) and any(isinstance(c, dict) and c.get("testtype") == "functional" for c in value):
        if not entry_point:
            return "functional tests without an entry point"
        try:
            calls = [[[json.loads(line) for line in str(i).splitlines()], json.loads(o)] for i, o in cases]
        except ValueError:
            return "functional test arguments are not JSON"
        return {"kind": "call", "fn_name": entry_point, "cases": calls}
    return {"kind": "stdio", "cases": cases}


def _valid(spec: dict | str) -> dict | str:
    if isinstance(spec, str):
        return spec
    if spec["kind"] == "stdio" and not all(isinstance(i, str) and isinstance(o, str) for i, o in spec["cases"]):
        return "stdin/stdout cases must be strings"
    if spec["kind"] in ("stdio", "call"):
        if not spec["cases"]:
            return "no test cases"
        spec["cases"] = spec["cases"][:MAX_CASES]
    return spec


def parse_code_tests(record: dict, tests_field: str | None = None,
                     entry_point_field: str | None = None) -> dict | str:
    """The test spec of a code record, or why it has none (the record is then quarantined)."""
    entry_point = _entry_point(record, entry_point_field)
    names = (tests_field,) if tests_field else TESTS_FIELDS
    for name in names:
        if name in record and record[name] not in (None, "", [], {}):
            value = _loaded(record[name])
            extra = [_loaded(record.get(n)) for n in _EXTRA_CASE_FIELDS.get(name, ()) if record.get(n)]
            if extra:  # CodeContests / LiveCodeBench: public and hidden cases together
                cases = [_io_cases(value), *(_io_cases(e) for e in extra)]
                if all(isinstance(c, list) for c in cases):
                    value = [{"input": i, "output": o, "testtype": t.get("testtype") if isinstance(t, dict) else None}
                             for part, raw in zip(cases, [value, *extra])
                             for (i, o), t in zip(part, raw if isinstance(raw, list) else [None] * len(part))]
            try:
                return _valid(_spec_of(value, entry_point))
            except (TypeError, ValueError) as error:
                return f"tests cannot be read: {error}"[:200]
    return f"no tests field ({tests_field or ' / '.join(TESTS_FIELDS)})"


_STDIO_HARNESS = '''
import io, sys
_PROGRAM = compile({program!r}, "solution.py", "exec")
_CASES = __import__("json").loads({cases!r})

def _run(stdin):
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    out = io.BytesIO()
    sys.stdout = wrapper = io.TextIOWrapper(out, encoding="utf-8")
    try:
        exec(_PROGRAM, {{"__name__": "__main__"}})
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise
    finally:
        sys.stdout = sys.__stdout__
        wrapper.flush()
        wrapper.detach()  # else closing the wrapper (garbage collection) closes `out`
    return out.getvalue().decode("utf-8", "replace")

for _i, (_stdin, _expected) in enumerate(_CASES):
    if _run(_stdin).split() != _expected.split():
        raise SystemExit("wrong answer on test %d of %d" % (_i + 1, len(_CASES)))
'''

_CALL_HARNESS = '''
import json
_NS = {{"__name__": "solution"}}
exec(compile({program!r}, "solution.py", "exec"), _NS)
_FN = _NS.get({fn_name!r})
if _FN is None and "Solution" in _NS:  # LeetCode style: a method of class Solution
    _FN = getattr(_NS["Solution"](), {fn_name!r})
if _FN is None:
    raise SystemExit("no function named " + {fn_name!r})
_CASES = json.loads({cases!r})

def _plain(value):
    return json.loads(json.dumps(value, default=list))

for _i, (_args, _expected) in enumerate(_CASES):
    _got = _plain(_FN(*(_args if isinstance(_args, list) else [_args])))
    if _got != _expected and [_got] != _expected:  # APPS wraps expected values in a list
        raise SystemExit("wrong answer on test %d of %d" % (_i + 1, len(_CASES)))
'''


def harness(program: str, spec: dict) -> str:
    cases = json.dumps(spec["cases"])
    if spec["kind"] == "stdio":
        return _STDIO_HARNESS.format(program=program, cases=cases)
    return _CALL_HARNESS.format(program=program, cases=cases, fn_name=spec["fn_name"])


def run_program(program: str, spec: dict, *, timeout_s: float = 10.0, memory_mb: int = 1024) -> Verdict:
    """Run a program (not a response) against a parsed spec."""
    if not isinstance(program, str) or not program.strip():
        return Verdict(False, None, "code", "no_answer")
    if spec.get("kind") == "check":
        return run_code_tests(program, spec["tests"], spec.get("entry_point"), timeout_s=timeout_s,
                              memory_mb=memory_mb)
    if spec.get("kind") not in ("stdio", "call"):
        return Verdict(False, program, "code", "error: unknown test kind")
    try:
        compile(program, "solution.py", "exec")
    except (SyntaxError, ValueError) as error:
        return Verdict(False, program, "code", f"failed: SyntaxError: {error.msg if hasattr(error, 'msg') else error}")
    reason = run_script(harness(program, spec), timeout_s=timeout_s, memory_mb=memory_mb)
    return Verdict(reason is None, program, "code", reason)


def verify_code(response: str, spec: dict, *, timeout_s: float = 10.0, memory_mb: int = 1024) -> Verdict:
    """Extract the program from a model response and run the prompt's tests on it."""
    program = extract_code(response) if isinstance(response, str) else ""
    return run_program(program, spec, timeout_s=timeout_s, memory_mb=memory_mb)
