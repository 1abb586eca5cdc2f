"""Schemas layer: YAML for config files that may be hostile, with every failure one line.

A config is read as bytes up to `MAX_BYTES`, decoded as UTF-8 and refused if it holds a control
character. The YAML event stream is then composed into nodes here, without recursion, so the
limits hold before anything is built: nesting depth (`MAX_DEPTH`), the number of values once every
alias is expanded (`MAX_NODES`: a few hundred bytes of "billion laughs" refers to billions), no
alias to a collection that is still open (recursive), mapping keys that are plain scalars, given
once. Only then does PyYAML's SafeConstructor build the Python objects. pyyaml's own composer
recurses once per nesting level, which is why it is not used. No I/O beyond reading the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from schemas.errors import ConfigError

MAX_BYTES = 2 * 1024 * 1024  # a pipeline config is a few hundred bytes
MAX_DEPTH = 64  # nested lists/mappings
MAX_NODES = 100_000  # values in the document with every alias expanded
MAX_KEY_CHARS = 200
MAX_INT_CHARS = 100  # Python refuses to convert integers of more than 4300 digits

# The libyaml parser when PyYAML has it (about 10x faster); both give the same events and marks.
LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map",
                                            "merge", "timestamp"))
MERGE_TAG = _TAG + "merge"
# What YAML itself refuses in a file (pyyaml's Reader.NON_PRINTABLE) ...
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# ... and what a value may not hold once escapes ("\0", "\x07") are decoded; keys hold no line breaks.
_BAD_IN_VALUE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BAD_IN_KEY = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_KINDS = {MappingNode: "a mapping", SequenceNode: "a list", ScalarNode: "a single value"}


class _Refused(Exception):
    def __init__(self, line: int | str, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def read_text(path: Path) -> str:
    """The file as text; an unreadable, oversized or non-UTF-8 file is a ConfigError."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MiB: not a pipeline config")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {column}): "
                          "save the config as UTF-8") from None


def load(text: str, origin: str) -> tuple[Any, dict[tuple, int]]:
    """(the document's mapping, {key path: 1-based line}) or a one-line ConfigError."""
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise ConfigError(f"{origin}:{line}: control character {_codepoint(bad.group())} at column "
                          f"{column}: a config is plain text")
    loader = LOADER(text)
    line: int | str = "?"
    try:
        root = _compose(loader)
        if root is None or (isinstance(root, ScalarNode) and root.tag == _TAG + "null"):
            raise _Refused(1, "the config is empty")
        line = root.start_mark.line + 1
        if not isinstance(root, MappingNode):
            raise _Refused(line, f"the config must be a mapping of settings (name:, sources:, ...), "
                                 f"not {_KINDS[type(root)]}")
        lines = _key_lines(loader, root)
        return loader.construct_document(root), lines
    except _Refused as exc:
        raise ConfigError(f"{origin}:{exc.line}: {exc.message}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = mark.line + 1 if mark else "?"
        problem = _one_line(exc.problem or exc.context or exc)
        raise ConfigError(f"{origin}:{where}: invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:  # refused above already; kept for other readers' rules
        where = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else "?"
        raise ConfigError(f"{origin}:{where}: invalid YAML: {_one_line(exc.reason)}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: invalid YAML: {_one_line(exc)}") from None
    except _BUILD_ERRORS as exc:  # scalars were built while composing: not expected here
        raise ConfigError(f"{origin}:{line}: cannot read a value: {_one_line(exc)[:200]}") from None
    finally:
        loader.dispose()


class _Open:
    """A list or mapping whose end event has not come yet."""

    __slots__ = ("node", "anchor", "start_total", "key", "seen")

    def __init__(self, node: Node, anchor: str | None, start_total: int):
        self.node = node
        self.anchor = anchor
        self.start_total = start_total
        self.key: Node | None = None  # a mapping's key waiting for its value
        self.seen: dict[Any, int] = {}  # a mapping's keys -> their lines


def _compose(loader: Any) -> Node | None:
    """The single document's node graph, composed from the event stream with an explicit stack.

    Every limit is checked as the events arrive, so a hostile document is refused after reading
    only as much of it as it takes to find out."""
    loader.get_event()  # StreamStart
    if loader.check_event(StreamEndEvent):
        return None
    loader.get_event()  # DocumentStart
    stack: list[_Open] = []
    # anchor -> (node, its size with aliases expanded; None while the node is still open)
    anchors: dict[str, tuple[Node, int | None]] = {}
    total = 0  # values so far, every alias counted as the values it stands for
    while True:
        event = loader.get_event()
        line = event.start_mark.line + 1
        if isinstance(event, AliasEvent):
            if event.anchor not in anchors:
                raise _Refused(line, f"alias *{event.anchor} refers to no anchor defined before it")
            node, size = anchors[event.anchor]
            if size is None:
                raise _Refused(line, f"alias *{event.anchor} refers to the collection that contains it "
                                     "(a recursive alias)")
            total += size
        elif isinstance(event, ScalarEvent):
            node = ScalarNode(_tag(loader, event, ScalarNode), event.value, event.start_mark,
                              event.end_mark, style=event.style)
            _check_scalar(node, line)
            _build(loader, node, line)
            total += 1
            _anchor(anchors, event.anchor, node, 1, line)
        elif isinstance(event, CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise _Refused(line, f"nested more than {MAX_DEPTH} levels deep")
            kind = MappingNode if isinstance(event, MappingStartEvent) else SequenceNode
            node = kind(_tag(loader, event, kind), [], event.start_mark, None, flow_style=event.flow_style)
            _anchor(anchors, event.anchor, node, None, line)
            stack.append(_Open(node, event.anchor, total))
            total += 1
            continue
        elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            done = stack.pop()
            node = done.node
            node.end_mark = event.end_mark
            if done.key is not None:  # cannot happen: the parser pairs keys and values
                raise _Refused(line, "a mapping key without a value")
            if isinstance(node, MappingNode):
                # `<<: *defaults` merges: the merged mappings ended earlier and are flat already,
                # so pyyaml's recursive flatten goes one level down at most.
                loader.flatten_mapping(node)
            if done.anchor is not None:
                anchors[done.anchor] = (node, total - done.start_total)
        else:  # the parser emits nothing else inside a document
            raise _Refused(line, f"unexpected {type(event).__name__}")
        if total > MAX_NODES:
            raise _Refused(line, f"the config expands to more than {MAX_NODES} values "
                                 "(every alias counted as the values it repeats)")
        if not stack:
            break
        _add(loader, stack[-1], node)
    end = loader.get_event()
    if not isinstance(end, DocumentEndEvent) or not loader.check_event(StreamEndEvent):
        following = loader.peek_event() if loader.check_event() else end
        raise _Refused(following.start_mark.line + 1, "a config is one YAML document; found another")
    return node


def _tag(loader: Any, event: Any, kind: type) -> str:
    if event.tag is None or event.tag == "!":
        return loader.resolve(kind, event.value if kind is ScalarNode else None, event.implicit)
    if event.tag not in ALLOWED_TAGS:
        shown = "!!" + event.tag.removeprefix(_TAG) if event.tag.startswith(_TAG) else event.tag
        raise _Refused(event.start_mark.line + 1, f"tag {_short(shown)[1:-1]} is not allowed in a config")
    return event.tag


def _check_scalar(node: ScalarNode, line: int) -> None:
    bad = _BAD_IN_VALUE.search(node.value)
    if bad:
        raise _Refused(line, f"control character {_codepoint(bad.group())} in a value")
    if node.tag == _TAG + "int" and len(node.value) > MAX_INT_CHARS:
        raise _Refused(line, f"an integer of more than {MAX_INT_CHARS} characters")


# What SafeConstructor raises for a value its tag cannot hold (`!!int abc`, `!!bool maybe`,
# 2024-02-30) instead of a ConstructorError.
_BUILD_ERRORS = (ValueError, TypeError, OverflowError, KeyError, AttributeError, IndexError)


def _build(loader: Any, node: ScalarNode, line: int) -> None:
    """Construct a scalar now, so a bad value names its line; the constructor keeps the result
    for `construct_document`. The merge key `<<` is no value of its own."""
    if node.tag == MERGE_TAG:
        return
    try:
        loader.construct_object(node)
    except _BUILD_ERRORS as exc:
        detail = f": {_one_line(exc)[:120]}" if isinstance(exc, (ValueError, OverflowError)) else ""
        kind = node.tag.removeprefix(_TAG)
        raise _Refused(line, f"cannot read {_short(node.value)} as {kind}{detail}") from None


def _anchor(anchors: dict, name: str | None, node: Node, size: int | None, line: int) -> None:
    if name is None:
        return
    if name in anchors:
        raise _Refused(line, f"anchor &{name} is defined twice")
    anchors[name] = (node, size)


def _add(loader: Any, parent: _Open, node: Node) -> None:
    """Attach a finished node to the open collection above it, checking mapping keys."""
    if isinstance(parent.node, SequenceNode):
        parent.node.value.append(node)
        return
    if parent.key is None:
        line = node.start_mark.line + 1
        if not isinstance(node, ScalarNode):
            raise _Refused(line, f"a mapping key must be a single value, not {_KINDS[type(node)]}")
        if node.tag != MERGE_TAG:  # several `<<:` merges are allowed; later explicit keys win
            key = loader.construct_object(node)
            if isinstance(key, str):
                if len(key) > MAX_KEY_CHARS:
                    raise _Refused(line, f"a key of more than {MAX_KEY_CHARS} characters")
                bad = _BAD_IN_KEY.search(key)
                if bad:
                    raise _Refused(line, f"control character {_codepoint(bad.group())} in a key")
            try:
                first = parent.seen.get(key)
            except TypeError:
                raise _Refused(line, f"a key of type {type(key).__name__} cannot be a mapping key") from None
            if first is not None:
                raise _Refused(line, f"duplicate key {_short(key)} (first at line {first})")
            parent.seen[key] = line
        parent.key = node
    else:
        parent.node.value.append((parent.key, node))
        parent.key = None


def _key_lines(loader: Any, root: Node) -> dict[tuple, int]:
    """The 1-based line of every key path, walked without recursion; aliases are walked as
    often as they occur, which `MAX_NODES` bounds."""
    lines: dict[tuple, int] = {(): root.start_mark.line + 1}
    pending: list[tuple[tuple, Node]] = [((), root)]
    while pending:
        path, node = pending.pop()
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                key = path + (loader.construct_object(key_node),)
                lines[key] = key_node.start_mark.line + 1
                pending.append((key, value_node))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                lines[path + (index,)] = item.start_mark.line + 1
                pending.append((path + (index,), item))
    return lines


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(message: object) -> str:
    return " ".join(str(message).split())
