"""Test utility: a deterministic "model" for whole-pipeline tests that need no real LLM.

It knows the right answer of every procedural problem it was built from and answers a
request as a pure function of (problem, sample index): right for two samples in three, so
pass rates spread over the bands and some traces survive verification. Being a pure function
(the fake server's re-send offset is dropped), an interrupted and resumed run gets exactly the
answers an uninterrupted run gets, which is what crash-resume tests compare.
"""

from __future__ import annotations

import hashlib

import yaml

from tasks.ingest.procedural import ProceduralSpec, generate


def procedural_answers(spec: str) -> dict[str, str]:
    return {r["problem"]: r["answer"] for r in generate(ProceduralSpec.parse(spec))}


def oracle(answers: dict[str, str]):
    def answer(messages: list[dict], index: int) -> str:
        problem = next((m["content"] for m in messages if m["role"] == "user"), "")
        sample = index % 100  # the fake adds 100 per earlier identical request: a re-send is the same sample
        salt = int(hashlib.sha256(problem.encode()).hexdigest()[:8], 16)
        right = answers.get(problem)
        if right is None or (salt + sample) % 3 == 0:
            return f"<think>Guessing.</think> The answer is \\boxed{{{salt % 97 + 1000}}}."
        return f"<think>Work through it step by step, then check it.</think> The answer is \\boxed{{{right}}}."

    return answer


def pipeline_config(path, base_url: str, spec: str, *, name: str = "oracle", n: int = 4, k: int = 2,
                    extra: dict | None = None):
    """A full pipeline config (ingest → publish) whose every engine is the oracle server."""
    engine = {"kind": "openai", "base_url": base_url, "model": "oracle", "max_concurrency": 4}
    data = {
        "name": name,
        "sources": [{"name": "procedural", "paths": [spec]}],
        "difficulty": {"base": engine, "n": n, "max_tokens": 64},
        "rewrite": {"rewriter": engine, "attempts": 1, "max_tokens": 64},
        "traces": {"teacher": engine, "k": k, "max_tokens": 64, "bands": ["teachable", "too_easy", "too_hard"]},
        "publish": {"license": "mit", "allow_undecontaminated": True},
        **(extra or {}),
    }
    path.write_text(yaml.safe_dump(data))
    return path
