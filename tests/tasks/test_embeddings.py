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
