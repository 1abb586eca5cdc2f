"""Hostile config files: each is refused with one ConfigError line, fast and in bounded memory,
by libyaml's parser and by pyyaml's pure-Python one alike."""

import inspect
import sys
import time
import tracemalloc

import pytest
import yaml

from schemas import yaml_safe
from schemas.config import load_config
from schemas.errors import ConfigError

GOOD = """\
name: nightly
sources:
  - name: gsm8k
    paths: [data/gsm8k.jsonl]
"""  # 4 lines: whatever a case appends starts at line 5

LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if getattr(yaml, "__with_libyaml__", False) else [])


@pytest.fixture(params=LOADERS, ids=lambda loader: loader.__name__, autouse=True)
def loader(request, monkeypatch):
    monkeypatch.setattr(yaml_safe, "LOADER", request.param)
    return request.param


def write(tmp_path, content: str | bytes):
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def refused(tmp_path, content: str | bytes) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, content))
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert len(message) < 400
    return message


def billion_laughs() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for previous, name in zip("abcdefgh", "bcdefghi"):
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    return text + GOOD


def test_alias_bomb_is_refused_fast_in_bounded_memory(tmp_path):
    text = billion_laughs()
    assert len(text) < 500  # 9**9 lols once expanded
    tracemalloc.start()
    started = time.monotonic()
    try:
        message = refused(tmp_path, text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 0.5
    assert peak < 5 * 1024 * 1024
    assert f"expands to more than {yaml_safe.MAX_NODES} values" in message


def test_aliases_within_the_budget_still_work(tmp_path):
    text = (GOOD.replace("[data/gsm8k.jsonl]", "&p [data/a.jsonl, data/b.jsonl]")
            + "  - name: other\n    paths: *p\n")
    config = load_config(write(tmp_path, text))
    assert config.sources[1].paths == ["data/a.jsonl", "data/b.jsonl"]


def test_merge_keys_work_and_explicit_keys_win(tmp_path):
    text = GOOD.replace("  - name: gsm8k\n", "  - &base\n    name: gsm8k\n") + (
        "  - <<: *base\n    name: again\n")
    config = load_config(write(tmp_path, text))
    assert [s.name for s in config.sources] == ["gsm8k", "again"]
    assert config.sources[1].paths == ["data/gsm8k.jsonl"]


@pytest.mark.parametrize("text", ["a: &a [1, *a]\n", "a: &a {b: {c: *a}}\n", "? &k [*k]\n: 1\n"])
def test_recursive_alias(tmp_path, text):
    assert "recursive alias" in refused(tmp_path, GOOD + text)


def test_undefined_alias_and_duplicate_anchor(tmp_path):
    assert ":5: alias *nope refers to no anchor" in refused(tmp_path, GOOD + "x: *nope\n")
    assert ":6: anchor &a is defined twice" in refused(tmp_path, GOOD + "x: &a 1\ny: &a 2\n")


@pytest.mark.parametrize("opening,closing", [("[", "]"), ("{a: ", "}")])
def test_ten_thousand_deep_nesting(tmp_path, opening, closing):
    text = GOOD + "x: " + opening * 10_000 + "1" + closing * 10_000 + "\n"
    started = time.monotonic()
    assert f":5: nested more than {yaml_safe.MAX_DEPTH} levels deep" in refused(tmp_path, text)
    assert time.monotonic() - started < 2


def test_deep_block_nesting(tmp_path):
    text = GOOD + "x:\n" + "".join("  " * (i + 1) + "- \n" for i in range(200))
    assert f"nested more than {yaml_safe.MAX_DEPTH} levels deep" in refused(tmp_path, text)


def test_nesting_at_the_limit_loads_without_recursion(tmp_path):
    depth = yaml_safe.MAX_DEPTH - 1  # the top-level mapping is the first level
    text = GOOD + "x: " + "[" * depth + "1" + "]" * depth + "\n"
    limit = sys.getrecursionlimit()
    frames = len(inspect.stack(0))
    sys.setrecursionlimit(frames + 40)  # fewer frames than levels: nothing may recurse per level
    try:
        data, lines = yaml_safe.load(text, "f")
    finally:
        sys.setrecursionlimit(limit)
    inner = data["x"]
    for _ in range(depth - 1):
        inner = inner[0]
    assert inner == [1]
    assert lines[("x",)] == 5


@pytest.mark.parametrize(
    ("key", "kind"),
    [("? {a: 1}\n: 2\n", "not a mapping"), ("? [a, b]\n: 2\n", "not a list"), ("[a]: 2\n", "not a list"),
     ("l: &l [1]\n? *l\n: 2\n", "not a list")],
)
def test_non_scalar_key(tmp_path, key, kind):
    message = refused(tmp_path, GOOD + key)
    assert "a mapping key must be a single value" in message and kind in message
    assert message.startswith(f"{tmp_path / 'pipeline.yaml'}:")


def test_duplicate_key_names_both_lines(tmp_path):
    assert refused(tmp_path, GOOD + "name: again\n").endswith(":5: duplicate key 'name' (first at line 1)")
    nested = GOOD.replace("    paths:", "    problem_field: q\n    problem_field: r\n    paths:")
    assert ":5: duplicate key 'problem_field' (first at line 4)" in refused(tmp_path, nested)
    # YAML 1.1 reads `yes` as true, so these are one key twice
    assert "duplicate key True" in refused(tmp_path, GOOD + "x: {true: 1, yes: 2}\n")


@pytest.mark.parametrize("char", ["\0", "\x07", "\x1b", "\x7f", "\ufffe"])
def test_control_characters_in_the_file(tmp_path, char):
    message = refused(tmp_path, GOOD + f"x: a{char}b\n")
    assert f":5: control character U+{ord(char):04X} at column 5" in message


@pytest.mark.parametrize("escape", ["\\0", "\\x07", "\\e"])
def test_control_characters_written_as_escapes(tmp_path, escape):
    assert ":5: control character" in refused(tmp_path, GOOD + f'x: "a{escape}b"\n')


def test_line_break_in_a_key(tmp_path):
    # pydantic would name this key in an "extra input" error: the error would span two lines
    assert ":5: control character U+000A in a key" in refused(tmp_path, GOOD + '"a\\nb": 1\n')


def test_invalid_utf8(tmp_path):
    message = refused(tmp_path, GOOD.encode() + b"x: caf\xe9\n")
    assert message.endswith(":5: not UTF-8 text (byte 0xe9 at column 7): save the config as UTF-8")


def test_huge_file_is_refused_before_parsing(tmp_path):
    text = GOOD.replace("name: nightly", "name: " + "a" * (yaml_safe.MAX_BYTES + 1))
    started = time.monotonic()
    assert "larger than 2 MiB" in refused(tmp_path, text)
    assert time.monotonic() - started < 1


def test_large_scalar_under_the_cap_is_read(tmp_path):
    name = "a" * (yaml_safe.MAX_BYTES - 1000)
    assert load_config(write(tmp_path, GOOD.replace("nightly", name))).name == name


def test_huge_integer(tmp_path):
    message = refused(tmp_path, GOOD + "ingest: {batch_size: " + "9" * 100_000 + "}\n")
    assert f":5: an integer of more than {yaml_safe.MAX_INT_CHARS} characters" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("- a\n- b\n", ":1: the config must be a mapping of settings (name:, sources:, ...), not a list"),
     ("just a string\n", "not a single value"),
     ("", ":1: the config is empty"),
     ("# only a comment\n\n", ":1: the config is empty"),
     ("---\n", ":1: the config is empty"),
     ("~\n", ":1: the config is empty")],
)
def test_top_level_must_be_a_mapping(tmp_path, text, expected):
    assert expected in refused(tmp_path, text)


def test_second_document(tmp_path):
    assert ":5: a config is one YAML document; found another" in refused(tmp_path, GOOD + "---\nname: x\n")


@pytest.mark.parametrize("tag", ["!!binary aGk=", "!!python/object:os.system {}", "!custom x", "!!set {a}"])
def test_tags_beyond_plain_data(tmp_path, tag):
    assert ":5: tag " in refused(tmp_path, GOOD + f"x: {tag}\n")


def test_unreadable_paths(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path)  # a directory


def test_validation_lines_still_point_into_the_file(tmp_path):
    message = refused(tmp_path, GOOD + "ingest:\n  batch_size: -1\n")
    assert message.endswith(":6: ingest.batch_size: Input should be greater than 0")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2024-02-30", "cannot read '2024-02-30' as timestamp: day is out of range for month"),
     ("!!int abc", "cannot read 'abc' as int"), ("!!bool maybe", "cannot read 'maybe' as bool"),
     ("!!timestamp soon", "cannot read 'soon' as timestamp")],
)
def test_values_their_tag_cannot_hold(tmp_path, value, expected):
    assert f":5: {expected}" in refused(tmp_path, GOOD + f"x: {value}\n")
