"""The shared sentence-transformers loader: one model object per (model, device), the bundled
offline default, one shape for nothing to encode, one line for a model that cannot load."""

from pathlib import Path

import numpy as np
import pytest

from schemas.errors import UserError
from tasks.embeddings import DEFAULT_MODEL, default_model, encode, load_model, resolve_model


def test_the_default_name_and_no_name_resolve_to_the_bundled_folder():
    folder = default_model()
    assert Path(folder).is_dir()
    assert resolve_model(None) == resolve_model(DEFAULT_MODEL) == folder
    assert resolve_model(f"sentence-transformers/{DEFAULT_MODEL}") == folder
    assert resolve_model("some-org/other-model") == "some-org/other-model"


def test_a_model_is_loaded_once_and_empty_input_has_the_model_width():
    assert load_model(None) is load_model(DEFAULT_MODEL, "cpu")
    empty = encode([], DEFAULT_MODEL)
    assert empty.shape == (0, 384) and empty.dtype == np.float32
    assert encode(["What is 2 + 3?"], None).shape == (1, 384)


def test_a_model_that_cannot_load_is_one_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot load embedding model"):
        load_model(str(tmp_path / "no-such-model"))


def test_bfloat16_vectors_are_unit_rows_close_to_float32():
    texts = ["What is 2 + 3?", "A train leaves at 3 pm and travels 60 miles per hour for 2 hours."]
    full, half = encode(texts, None), encode(texts, None, dtype="bfloat16")
    assert half.dtype == np.float32 and np.allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-5)
    assert (full * half).sum(axis=1).min() > 0.99
    assert load_model(None, dtype="bfloat16") is not load_model(None)


def test_a_token_limit_is_a_model_of_its_own_and_threads_are_restored():
    import torch

    long = "Find the sum of all positive integers n such that n squared plus 12 n is a square. " * 20
    cut = load_model(None, max_tokens=32)
    assert cut.max_seq_length == 32 and load_model(None).max_seq_length > 32
    before = torch.get_num_threads()
    limited = encode([long, long[:150]], None, max_tokens=32, threads=1)
    assert torch.get_num_threads() == before
    # Both texts share their first 32 tokens, so the cut vectors are the same; the full ones are not.
    assert (limited[0] @ limited[1]) > 0.999 > (lambda v: v[0] @ v[1])(encode([long, long[:150]], None))
