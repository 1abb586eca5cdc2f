"""Tasks layer (decontam): the registry of known public benchmarks.

One entry per benchmark: the file names it usually ships under (what `--benchmarks DIR`
recognises), the fields of its records, the wrapper its prompts carry, and where it lives on
the Hugging Face hub. Pure data plus lookups; reading happens in `tasks.decontam.loading`.
"""

from __future__ import annotations

from dataclasses import dataclass

PROBLEM_FIELDS = ("problem", "question", "prompt", "input", "instruction", "text", "Question")
ID_FIELDS = ("id", "unique_id", "task_id", "question_id", "idx", "uid")


@dataclass(frozen=True)
class BenchmarkSpec:
    """How to read one benchmark; `files` are matched case-insensitively, with or without .gz."""

    name: str
    title: str
    files: tuple[str, ...] = ()
    problem_fields: tuple[str, ...] = PROBLEM_FIELDS
    answer_field: str | None = "answer"  # '#### n' and \boxed{} are extracted (extract_answer)
    id_field: str | None = None  # None: the 1-based record number
    wrapper: str | None = None  # a wrapper name of tasks.decontam.wrappers
    hf_id: str | None = None
    hf_split: str = "test"
    hf_configs: tuple[str | None, ...] = (None,)
    domain: str = "math"


_MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra",
                  "number_theory", "prealgebra", "precalculus")

REGISTRY: dict[str, BenchmarkSpec] = {spec.name: spec for spec in (
    BenchmarkSpec("aime24", "AIME 2024", ("aime24.jsonl", "aime_2024.jsonl", "aime2024.jsonl"),
                  id_field="id", hf_id="HuggingFaceH4/aime_2024", hf_split="train"),
    BenchmarkSpec("aime25", "AIME 2025", ("aime25.jsonl", "aime_2025.jsonl", "aime2025.jsonl"),
                  id_field="id", hf_id="math-ai/aime25"),
    BenchmarkSpec("amc23", "AMC 2023", ("amc23.jsonl", "amc_2023.jsonl", "amc2023.jsonl"),
                  id_field="id", hf_id="math-ai/amc23"),
    BenchmarkSpec("amc22_23", "AMC 12 2022-2023 (DeepScaleR eval)", ("amc22_23.json", "amc22_23.jsonl")),
    BenchmarkSpec("math500", "MATH-500", ("math500.jsonl", "math-500.jsonl", "math_500.jsonl"),
                  id_field="unique_id", hf_id="HuggingFaceH4/MATH-500"),
    BenchmarkSpec("math", "MATH (test, 5000)", ("math_test.jsonl", "math.jsonl", "hendrycks_math_test.jsonl"),
                  answer_field="solution", hf_id="EleutherAI/hendrycks_math", hf_configs=_MATH_SUBJECTS),
    BenchmarkSpec("gsm8k", "GSM8K (test)", ("gsm8k_test.jsonl", "gsm8k.jsonl"),
                  problem_fields=("question",), hf_id="openai/gsm8k", hf_configs=("main",)),
    BenchmarkSpec("minerva_math", "Minerva math (OCW)", ("minerva_math.jsonl", "minerva.jsonl"),
                  answer_field="solution", id_field="idx", hf_id="math-ai/minervamath"),
    BenchmarkSpec("olympiadbench", "OlympiadBench (OE, maths, English)", ("olympiadbench.jsonl",),
                  problem_fields=("question", "problem"), answer_field="final_answer", id_field="id",
                  hf_id="Hothan/OlympiadBench", hf_split="train", hf_configs=("OE_TO_maths_en_COMP",)),
    BenchmarkSpec("humaneval", "HumanEval", ("humaneval.jsonl", "HumanEval.jsonl"),
                  problem_fields=("prompt",), answer_field="canonical_solution", id_field="task_id",
                  hf_id="openai/openai_humaneval", domain="code"),
    BenchmarkSpec("livecodebench", "LiveCodeBench (code generation)",
                  ("livecodebench_v5.jsonl", "livecodebench.jsonl", "livecodebench_v6.jsonl"),
                  problem_fields=("question_content", "prompt"), answer_field=None,
                  id_field="question_id", wrapper="livecodebench",
                  hf_id="livecodebench/code_generation_lite", domain="code"),
    BenchmarkSpec("mbpp", "MBPP", ("mbpp.jsonl", "mbpp_test.jsonl"), problem_fields=("text", "prompt"),
                  answer_field="code", id_field="task_id", hf_id="google-research-datasets/mbpp",
                  hf_configs=("full",), domain="code"),
    BenchmarkSpec("gpqa", "GPQA (diamond)", ("gpqa_diamond.jsonl", "gpqa.jsonl", "gpqa_diamond.csv"),
                  problem_fields=("Question", "question", "problem"), answer_field="Correct Answer",
                  id_field="Record ID", hf_id="Idavidrein/gpqa", hf_split="train",
                  hf_configs=("gpqa_diamond",), domain="science"),
)}

_BY_FILE = {name.lower(): spec for spec in REGISTRY.values() for name in spec.files}
_BY_HF_ID = {spec.hf_id.lower(): spec for spec in REGISTRY.values() if spec.hf_id}


def spec_for_file(file_name: str) -> BenchmarkSpec | None:
    """The known benchmark a file name belongs to (`aime24.jsonl`, `humaneval.jsonl.gz`)."""
    lowered = file_name.lower()
    return _BY_FILE.get(lowered.removesuffix(".gz"))


def spec_for_hf_id(dataset: str) -> BenchmarkSpec | None:
    return _BY_HF_ID.get(dataset.lower())


def generic_spec(name: str) -> BenchmarkSpec:
    """A benchmark the registry does not know: fields found by the usual names."""
    return BenchmarkSpec(name, name)


def known_file_names() -> list[str]:
    return sorted(name for spec in REGISTRY.values() for name in spec.files[:1])
