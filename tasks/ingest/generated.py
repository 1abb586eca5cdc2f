"""Tasks layer (ingest): sources that are not local files.

Hugging Face datasets go through `datasets.load_dataset(..., streaming=True)`: a hub id when
online, or a local folder/file through the very same call (how the tests exercise it). The
procedural generator yields leakage-free problems with exact answers for the demo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from schemas.errors import UserError
from tasks.ingest.procedural import ProceduralSpec, generate
from tasks.ingest.readers import Bad, Item


def _counting(rows: Iterator[dict], failure: type[BaseException] | tuple) -> tuple[Iterator[Item], Callable[[], int]]:
    state = {"n": 0}

    def items() -> Iterator[Item]:
        try:
            for row in rows:
                state["n"] += 1
                yield str(state["n"]), row
        except failure as exc:  # a dataset that breaks mid-stream: keep what was read
            yield f"row {state['n'] + 1}", Bad("unreadable_source", f"stream failed: {exc}")

    return items(), lambda: state["n"]


def read_procedural(spec_text: str) -> tuple[Iterator[Item], Callable[[], int]]:
    try:
        spec = ProceduralSpec.parse(spec_text)
    except ValueError as exc:
        raise UserError(f"bad generator spec {spec_text!r}: {exc}") from None
    return _counting(generate(spec), ())


def load_hf_dataset(dataset: str, split: str, config: str | None):
    """`datasets.load_dataset` in streaming mode; errors become one user-facing line."""
    import datasets

    try:
        return datasets.load_dataset(dataset, name=config, split=split, streaming=True)
    except Exception as exc:  # datasets raises many unrelated types for a bad id/split
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load Hugging Face dataset {dataset!r} (split {split!r}): {first}") from None


def read_hf(dataset: str, split: str, config: str | None) -> tuple[Iterator[Item], Callable[[], int]]:
    return _counting(iter(load_hf_dataset(dataset, split, config)), (Exception,))
