"""Tasks layer (readers): Hugging Face datasets, streamed.

`datasets.load_dataset(..., streaming=True)`: a hub id when online, or a local folder/file
through the very same call (how the tests exercise it). `datasets` is imported on first use
(it is slow to import and most runs read local files).
"""

from __future__ import annotations

from schemas.errors import UserError

HF_PREFIX = "hf://"  # how a user names a dataset where a path could stand: hf://ID or hf://FOLDER


def load_hf_dataset(dataset: str, split: str, config: str | None):
    """`datasets.load_dataset` in streaming mode; errors become one user-facing line."""
    import datasets

    try:
        return datasets.load_dataset(dataset, name=config, split=split, streaming=True)
    except Exception as exc:  # datasets raises many unrelated types for a bad id/split
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load Hugging Face dataset {dataset!r} (split {split!r}): {first}") from None
