"""Tasks layer (ingest): sources that are not local files, as counted `(location, record)` items.

Hugging Face datasets are opened by `tasks.readers.hf.load_hf_dataset` (streaming: a hub id
when online, or a local folder/file through the very same call). The procedural generator
yields leakage-free problems with exact answers for the demo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from schemas.errors import UserError
from tasks.ingest.procedural import ProceduralSpec, generate
from tasks.readers.files import Bad, Item
from tasks.readers.hf import load_hf_dataset


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


def read_hf(dataset: str, split: str, config: str | None) -> tuple[Iterator[Item], Callable[[], int]]:
    return _counting(iter(load_hf_dataset(dataset, split, config)), (Exception,))
