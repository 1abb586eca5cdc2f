"""Tasks layer (readers): streaming file readers, one per format (ingest sources, benchmarks).

Every reader yields `(location, record)` where record is a dict, or a `Bad` that says why the
unit could not be read; a reader never raises on data (a file it cannot parse at all becomes
one `Bad` at location 'file'). Memory stays bounded by one batch whatever the file size.
`position()` reports how far the reader got, for progress bars; `sha256()` is the digest of the
bytes read, and `changed()` says whether the file was modified while it was read.

Data never reaches a recursion limit or loses digits: a value nested deeper than `MAX_DEPTH`
is `too_deep`, integers of any size are kept exactly (orjson would turn those beyond 64 bits
into floats, yajl stops the array there), and one bad item never hides the items after it
where the format allows reading on (JSON lines, JSON array items, CSV rows).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

RAW_LIMIT = 10_000
MAX_DEPTH = 254  # what orjson can write back (`extra`, quarantine raw); deeper is `too_deep`
MAX_INT_DIGITS = 4000  # Python refuses int <-> str beyond 4300 digits
BLOCK = 8 << 20  # JSON lines are read in blocks of this many bytes
# A run of 19+ digits may be an integer beyond 64 bits, which orjson turns into a float. A
# block is checked with two C passes (digits -> '0', then a substring search), not a regex.
_LONG_DIGITS = re.compile(rb"\d{19}")
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_ZEROS = b"0" * 19


def _has_long_digits(data: bytes) -> bool:
    return _ZEROS in data.translate(_DIGITS_TO_ZERO)


@dataclass(slots=True)
class Bad:
    reason: str
    detail: str
    raw: str | None = None


Item = tuple[str, "dict | Bad"]


class TooDeep(ValueError):
    """A value nested deeper than MAX_DEPTH (or beyond what the parser can recurse into)."""


class NumberTooLong(ValueError):
    """An integer with more digits than Python converts (4300): it cannot be kept exactly."""


def exact_dumps(value: object) -> str:
    """JSON text of a parsed value with integers of any size kept; TooDeep past MAX_DEPTH."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError as exc:
        if "Recursion" in str(exc):
            raise TooDeep(f"nested deeper than {MAX_DEPTH} levels") from None
    try:  # big integers, surrogates, odd key types
        return json.dumps(value, default=str, ensure_ascii=True)
    except (RecursionError, ValueError) as exc:
        raise TooDeep(f"cannot be written back as JSON: {exc}") from None


def dumps(value: object) -> str:
    """JSON text of any parsed record; never fails (a value too deep to print says so)."""
    try:
        return exact_dumps(value)
    except TooDeep as exc:
        return json.dumps(f"<not printable: {exc}>")


def clip(raw: str | bytes | None) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "backslashreplace")
    return raw if len(raw) <= RAW_LIMIT else raw[:RAW_LIMIT] + "…[truncated]"


class _Hashing(io.RawIOBase):
    """The file's bytes, hashed as they go by: the digest is of exactly what was read."""

    def __init__(self, raw: io.FileIO):
        self.raw, self.digest, self.skipped = raw, hashlib.sha256(), False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        at = self.raw.seek(offset, whence)
        self.skipped = self.skipped or at != self.raw.tell() or whence != 1 or offset != 0
        return at

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        if n:
            self.digest.update(memoryview(buffer)[:n])
        return n or 0

    def tell(self) -> int:
        return self.raw.tell()


def _signature(stat: os.stat_result) -> tuple:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


class FileReader:
    """Opens a local file (gzip by suffix), tracks the compressed bytes consumed, hashes them,
    and notices a file that changed while it was read (size, mtime or inode differ)."""

    def __init__(self, path: Path):
        self.path = path
        self._raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        self._before = _signature(os.fstat(self._raw.fileno()))
        self._hashing = _Hashing(self._raw)
        buffered = io.BufferedReader(self._hashing, buffer_size=1 << 20)
        self.stream: io.BufferedIOBase = gzip.GzipFile(fileobj=buffered) if path.suffix == ".gz" else buffered
        self._final = 0

    def position(self) -> int:
        return self._final if self._raw.closed else self._raw.tell()

    def sha256(self) -> str:
        """Digest of the bytes read so far (the whole file once a reader has finished)."""
        return self._hashing.digest.hexdigest()

    def finish_hash(self) -> str:
        """The digest of the whole file: when a reader seeked (Parquet) or stopped early, the
        file is hashed again from its start."""
        if self._hashing.skipped or self.position() != self._before[1]:
            with open(self.path, "rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest()
        return self.sha256()

    def changed(self) -> bool:
        """True when the file on disk is no longer the one that was opened and read."""
        try:
            now = os.stat(self.path)
        except OSError:
            return True
        return _signature(now) != self._before

    def close(self) -> None:
        if not self._raw.closed:
            self._final = self._raw.tell()
        self.stream.close()
        self._raw.close()


def _exact(line: bytes) -> object:
    """Parse with Python's json, which keeps integers of any size (orjson has parsed it already,
    so the line is valid JSON no deeper than orjson's limit)."""
    try:
        return json.loads(line)
    except RecursionError:
        raise TooDeep("nested too deeply to parse") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise
    except ValueError as exc:  # Python's int <-> str digit limit
        raise NumberTooLong(f"a number too long to keep exactly: {str(exc)[:120]}") from None


def _decode_line(line: bytes, number: int, long_digits: bool = True) -> Item:
    try:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if "number is infinity" not in str(exc):  # a 309+ digit integer is valid JSON
                raise
            value = None
        if value is None or (long_digits and _has_long_digits(line)):
            value = _exact(line)
    except orjson.JSONDecodeError as exc:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"line {number}", Bad("invalid_utf8", f"not UTF-8 at byte {bad.start}", clip(line))
        if "depth" in str(exc) or "recursion" in str(exc).lower():
            return f"line {number}", Bad("too_deep", f"nested deeper than the parser allows: {exc}", clip(line))
        return f"line {number}", Bad("malformed_json", f"JSON error: {exc}", clip(line))
    except TooDeep as exc:
        return f"line {number}", Bad("too_deep", str(exc), clip(line))
    except NumberTooLong as exc:
        return f"line {number}", Bad("number_too_long", str(exc), clip(line))
    except ValueError as exc:  # Python's json refused what orjson could not read either
        return f"line {number}", Bad("malformed_json", f"JSON error: {exc}", clip(line))
    if not isinstance(value, dict):
        kind = type(value).__name__
        return f"line {number}", Bad("not_an_object", f"expected an object, got {kind}", clip(line))
    return str(number), value


@dataclass(frozen=True, slots=True)
class Chunk:
    """A run of whole JSON lines of a file: `data` ends with a newline, or is the file's last line
    without one (`last`); `before` is how many lines precede it, so its items number themselves
    and any process can parse it: a line's item depends only on the line and its number.
    `offset` is where `data` starts in the file (in its decompressed bytes, for gzip)."""

    data: bytes
    before: int
    last: bool = False
    offset: int = 0


def jsonl_chunks(reader: FileReader, size: int | None = None) -> Iterator[Chunk | Item]:
    """The file as line-aligned chunks of about `size` bytes (default `BLOCK`; a BOM dropped),
    then, if reading failed, one `unreadable_file` item."""
    number, tail, size, read = 0, b"", size or BLOCK, 0
    try:
        for block in iter(lambda: reader.stream.read(size), b""):
            at = read - len(tail)  # where `data` starts
            read += len(block)
            if number == 0 and not tail and block.startswith(b"\xef\xbb\xbf"):
                block, at = block[3:], at + 3
            data = tail + block if tail else block
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            if cut:
                whole = data[:cut] if tail else data
                yield Chunk(whole, number, offset=at)
                number += whole.count(b"\n")
        if tail.strip():
            yield Chunk(tail, number, last=True, offset=read - len(tail))
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        yield "file", Bad("unreadable_file", f"read failed: {exc}")


def chunk_items(chunk: Chunk) -> Iterator[Item]:
    """The items of one chunk; CRLF endings and blank lines are tolerated."""
    if chunk.last:
        yield _decode_line(chunk.data.strip(), chunk.before + 1)
        return
    loads, decode, number = orjson.loads, _decode_line, chunk.before
    lines = chunk.data.split(b"\n")
    lines.pop()  # the empty text after the final newline
    long_digits = _has_long_digits(chunk.data)
    for line in lines:
        number += 1
        if not long_digits:  # the common case: one C call per line
            try:
                value = loads(line)
            except orjson.JSONDecodeError:
                value = None
            if type(value) is dict:
                yield str(number), value
                continue
        if line.strip():
            yield decode(line.strip(), number, long_digits)


def read_jsonl(reader: FileReader) -> Iterator[Item]:
    """JSON lines, read in blocks; a BOM, CRLF endings and blank lines are tolerated."""
    for chunk in jsonl_chunks(reader):
        if type(chunk) is Chunk:
            yield from chunk_items(chunk)
        else:
            yield chunk


def _json_items(stream: io.BufferedIOBase, exact: bool) -> Iterator[object]:
    import ijson

    if exact:  # the pure-Python backend keeps integers of any size; yajl stops at 64 bits
        from ijson.backends import python as backend
        return backend.items(stream, "item", use_float=True)
    return ijson.items(stream, "item", use_float=True)


def read_json_array(reader: FileReader) -> Iterator[Item]:
    """A JSON array of objects, parsed incrementally (ijson) so memory stays bounded. An integer
    beyond 64 bits makes yajl stop: the file is then read again from its start with ijson's
    Python backend (items already yielded are skipped), which keeps such integers exactly."""
    import ijson

    index, exact, stream = 0, False, reader.stream
    while True:
        try:
            for position, value in enumerate(_json_items(stream, exact), 1):
                if position <= index:
                    continue
                index = position
                if isinstance(value, dict):
                    yield str(index), value
                else:
                    kind = type(value).__name__
                    yield f"item {index}", Bad("not_an_object", f"expected an object, got {kind}", clip(dumps(value)))
            return
        except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError, ValueError) as exc:
            if not exact and "integer overflow" in str(exc):
                exact = True
                stream.seek(0)  # the digest is then taken again over the whole file
                continue
            yield f"item {index + 1}", Bad("malformed_json", f"JSON array unreadable from here on: {exc}")
            return
        except RecursionError:
            yield f"item {index + 1}", Bad("too_deep", "JSON array nested too deeply to read on")
            return
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            yield "file", Bad("unreadable_file", f"read failed: {exc}")
            return


def sniff_json_kind(path: Path) -> str:
    """'json' for an array, 'jsonl' otherwise: many `.json` files are really JSON lines."""
    reader = FileReader(path)
    try:
        head = reader.stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except (OSError, EOFError, gzip.BadGzipFile):
        return "jsonl"
    finally:
        reader.close()
    return "json" if head.startswith(b"[") else "jsonl"


def _csv_cell(value: str | list | None) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else ",".join(value)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _csv_row(row: dict, number: int, width: int) -> Item:
    location = f"row {number}"
    if None in row or any(v is None for v in row.values()):
        raw = ",".join(_csv_cell(v) for v in row.values())
        return location, Bad("malformed_csv_row", f"expected {width} fields", clip(raw))
    for value in (*row.keys(), *row.values()):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raw = ",".join(_csv_cell(v) for v in row.values())
            return location, Bad("invalid_utf8", "row has bytes that are not UTF-8", clip(raw))
    return str(number), row


def read_csv(reader: FileReader, delimiter: str = ",") -> Iterator[Item]:
    """CSV with a header row; BOM and CRLF tolerated; a ragged row is quarantined."""
    csv.field_size_limit(1 << 30)
    text = io.TextIOWrapper(reader.stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    rows = csv.DictReader(text, delimiter=delimiter)
    number = 0
    while True:
        number += 1
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            yield f"row {number}", Bad("malformed_csv_row", f"CSV error: {exc}")
            continue
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            yield "file", Bad("unreadable_file", f"read failed: {exc}")
            return
        yield _csv_row(row, number, len(rows.fieldnames or ()))


def read_parquet(reader: FileReader, batch_rows: int = 10_000) -> Iterator[Item]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    number = 0
    try:
        parquet = pq.ParquetFile(reader.stream)
        for batch in parquet.iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                number += 1
                yield str(number), row
    except (pa.ArrowException, OSError) as exc:
        yield f"row {number + 1}", Bad("unreadable_file", f"Parquet read failed: {exc}")


FILE_READERS: dict[str, Callable[[FileReader], Iterator[Item]]] = {
    "jsonl": read_jsonl,
    "json": read_json_array,
    "csv": read_csv,
    "tsv": lambda reader: read_csv(reader, delimiter="\t"),
    "parquet": read_parquet,
}
