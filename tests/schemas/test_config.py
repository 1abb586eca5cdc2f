import pytest

from schemas.config import PipelineConfig, load_config
from schemas.errors import ConfigError

GOOD = """\
name: nightly
sources:
  - name: gsm8k
    paths: [data/gsm8k.jsonl]
    problem_field: question
ingest:
  max_problem_chars: 5000
"""


def write(tmp_path, text):
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


def test_good_config_validates(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert isinstance(config, PipelineConfig)
    assert config.sources[0].problem_field == "question"
    assert config.ingest.max_problem_chars == 5000
    assert config.ingest.batch_size == 50_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("problem_field", "problem_feild"), ":5: sources.0.problem_feild: Extra inputs are not permitted"),
        (GOOD.replace("5000", "-1"), ":7: ingest.max_problem_chars: Input should be greater than 0"),
        (GOOD.replace("paths: [data/gsm8k.jsonl]", "paths: []"), ":4: sources.0.paths:"),
        (GOOD + "dedupe: {}\n", ":8: dedupe: Extra inputs are not permitted"),
        ("name: x\n", ":1: sources: Field required"),
        (GOOD.replace("name: gsm8k", "name: [gsm8k"), "invalid YAML"),
        ("", "the config is empty"),
    ],
)
def test_errors_name_the_key_and_line(tmp_path, text, expected):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_demo_config_in_repo_is_valid():
    from pathlib import Path

    config = load_config(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")
    assert config.sources[0].paths[0].startswith("procedural://")
