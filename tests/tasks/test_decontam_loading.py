"""Benchmark registry and loading: DIR by file names, NAME=PATH, hf:// folders, user mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.errors import UserError
from tasks.decontam.loading import load_benchmarks, resolve_sources
from tasks.decontam.registry import REGISTRY, spec_for_file
from tasks.decontam.wrappers import strip_wrappers


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    jsonl(folder / "math500.jsonl", [
        {"problem": "What is $1+1$?", "answer": "2", "unique_id": "test/algebra/1.json"},
        {"problem": "Compute $\\dbinom{8}{4}$.", "answer": "70", "unique_id": "test/counting/2.json"},
    ])
    jsonl(folder / "gsm8k_test.jsonl", [{"question": "Tom has 3 apples and buys 4 more.", "answer": "3+4=7\n#### 7"}])
    jsonl(folder / "math_test.jsonl", [{"problem": "Find $x$ if $2x=6$.", "solution": "So $x=\\boxed{3}$."}])
    (folder / "notes.txt").write_text("not a benchmark")
    return folder


def test_directory_loads_every_known_file_by_name(bench_dir):
    loaded = load_benchmarks([str(bench_dir)])
    assert loaded.counts() == {"gsm8k": 1, "math": 1, "math500": 2}
    by_key = {(i.benchmark, i.item_id): i for i in loaded.items}
    assert by_key[("math500", "test/counting/2.json")].answer == "70"  # id field of the registry
    assert by_key[("gsm8k", "1")].answer == "7"  # '#### n' extracted; id = line number
    assert by_key[("math", "1")].answer == "3"  # last \boxed{} of the solution


def test_named_files_use_the_registry_or_guess_the_fields(bench_dir, tmp_path):
    custom = jsonl(tmp_path / "exam.jsonl", [{"id": "q7", "question": "How many sides has a hexagon?",
                                               "final_answer": ["6"]}])
    loaded = load_benchmarks([f"myexam={custom}", f"aime24={bench_dir / 'math500.jsonl'}"])
    items = {(i.benchmark, i.item_id): i for i in loaded.items}
    assert items[("myexam", "q7")].answer == "6"
    assert ("aime24", "1") in items  # aime24's id field 'id' is absent: line numbers


def test_hf_path_reads_a_local_dataset_folder_through_load_hf_dataset(tmp_path):
    folder = tmp_path / "hf_math500"
    folder.mkdir()
    jsonl(folder / "test.jsonl", [{"problem": f"What is {i} + {i}?", "answer": str(2 * i), "unique_id": f"u{i}"}
                                  for i in range(3)])
    loaded = load_benchmarks([f"math500=hf://{folder}"])
    assert [(i.benchmark, i.item_id, i.answer) for i in loaded.items] == [
        ("math500", "u0", "0"), ("math500", "u1", "2"), ("math500", "u2", "4")]


def test_registry_knows_the_public_benchmarks():
    for name in ("aime24", "aime25", "amc23", "math500", "math", "gsm8k", "minerva_math", "olympiadbench",
                 "humaneval", "livecodebench", "gpqa"):
        assert REGISTRY[name].hf_id
    assert spec_for_file("HumanEval.jsonl.gz").name == "humaneval"
    assert spec_for_file("livecodebench_v5.jsonl").wrapper == "livecodebench"


@pytest.mark.parametrize(("spec", "message"), [
    ("/no/such/dir", "no such benchmark file or directory"),
    ("weird.jsonl", "unknown benchmark file weird.jsonl"),
    ("bad name=x.jsonl", "bad benchmark name"),
    ("mine=/no/file.jsonl", "benchmark file not found"),
    ("empty_dir", "no known benchmark files"),
])
def test_bad_benchmark_specs_are_one_line_user_errors(tmp_path, monkeypatch, spec, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weird.jsonl").write_text('{"problem": "x"}\n')
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(UserError, match=message) as err:
        resolve_sources([spec])
    assert "\n" not in str(err.value)


def test_same_benchmark_twice_and_no_benchmarks_are_errors(bench_dir):
    with pytest.raises(UserError, match="given more than once"):
        resolve_sources([str(bench_dir), f"math500={bench_dir / 'math500.jsonl'}"])
    with pytest.raises(UserError, match="no benchmarks given"):
        resolve_sources([])


def test_livecodebench_template_is_stripped_before_matching():
    wrapped = ("You will be given a question (problem specification) and will generate a correct Python "
               "program that matches the specification and passes all tests.\n\nQuestion: Given N, print N+1."
               "\n\nRead the inputs from stdin solve the problem and write the answer to stdout (do not "
               "directly test on the sample inputs).\n```python\n# YOUR CODE HERE\n```\n")
    assert strip_wrappers(wrapped) == "Given N, print N+1."
    starter = ("You will be given a question (problem specification) and will generate a correct Python "
               "program that matches the specification and passes all tests.\n\nQuestion: Add two numbers.\n\n"
               "You will use the following starter code to write the solution to the problem and enclose "
               "your code within delimiters.\n```python\nclass Solution:\n    def add(self, a, b):\n```")
    assert strip_wrappers(starter).startswith("Add two numbers.") and "class Solution:" in strip_wrappers(starter)
    assert strip_wrappers("Problem: What is 2+2? Please reason step by step, and put your final answer "
                          "within \\boxed{}.") == "What is 2+2?"


def test_shared_benchmark_folder_loads_all_eleven_files(shared_data):
    loaded = load_benchmarks([str(shared_data / "benchmarks")])
    assert loaded.counts() == {"aime24": 30, "aime25": 30, "amc22_23": 83, "amc23": 40, "gsm8k": 1319,
                               "humaneval": 164, "livecodebench": 279, "math500": 500, "math": 5000,
                               "minerva_math": 272, "olympiadbench": 675}
    lcb = next(i for i in loaded.items if i.benchmark == "livecodebench")
    assert not lcb.text.startswith("You will be given")


def test_what_was_loaded_is_stated_with_each_files_sha256(shared_data):
    """A release lists every benchmark file checked with the sha256 of the bytes loaded: the
    decontaminate run stores them (`benchmark_files` in its stats) for publish to copy."""
    import hashlib

    from tasks.decontam.loading import load_benchmarks

    folder = shared_data / "benchmarks"
    files = load_benchmarks([str(folder)]).files()
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}
    assert len(files) == 11 and all(f["items"] > 0 for f in files)
    assert {Path(f["source"]).name: f["sha256"] for f in files}.items() <= on_disk.items()
