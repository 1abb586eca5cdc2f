"""Tasks layer (readers): streaming file readers, one per format (ingest sources, benchmarks).

Every reader yields `(location, record)` where record is a dict, or a `Bad` that says why the
unit could not be read; a reader never raises on data (a file it cannot parse at all becomes
one `Bad` at location 'file'). Memory stays bounded by one batch whatever the file size.
`position()` reports how far the reader got, for progress bars.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

RAW_LIMIT = 10_000


@dataclass(slots=True)
class Bad:
    reason: str
    detail: str
    raw: str | None = None


Item = tuple[str, "dict | Bad"]


def dumps(value: object) -> str:
    """JSON text of any parsed record; never fails (surrogates and odd types are escaped)."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, default=str, ensure_ascii=True)


def clip(raw: str | bytes | None) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "backslashreplace")
    return raw if len(raw) <= RAW_LIMIT else raw[:RAW_LIMIT] + "…[truncated]"


class FileReader:
    """Opens a local file (gzip by suffix) and tracks the compressed bytes consumed."""

    def __init__(self, path: Path):
        self.path = path
        self._raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.stream: io.BufferedIOBase = (
            gzip.GzipFile(fileobj=self._raw) if path.suffix == ".gz" else self._raw
        )
        self._final = 0

    def position(self) -> int:
        return self._final if self._raw.closed else self._raw.tell()

    def close(self) -> None:
        if not self._raw.closed:
            self._final = self._raw.tell()
        self.stream.close()
        self._raw.close()


def _decode_line(line: bytes, number: int) -> Item:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"line {number}", Bad("invalid_utf8", f"not UTF-8 at byte {bad.start}", clip(line))
        return f"line {number}", Bad("malformed_json", f"JSON error: {exc}", clip(line))
    if not isinstance(value, dict):
        kind = type(value).__name__
        return f"line {number}", Bad("not_an_object", f"expected an object, got {kind}", clip(line))
    return str(number), value


def read_jsonl(reader: FileReader) -> Iterator[Item]:
    """JSON lines; a BOM, CRLF endings and blank lines are tolerated."""
    try:
        for number, line in enumerate(reader.stream, 1):
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            line = line.strip()
            if line:
                yield _decode_line(line, number)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield "file", Bad("unreadable_file", f"read failed: {exc}")


def read_json_array(reader: FileReader) -> Iterator[Item]:
    """A JSON array of objects, parsed incrementally (ijson) so memory stays bounded."""
    import ijson

    index = 0
    try:
        for index, value in enumerate(ijson.items(reader.stream, "item", use_float=True), 1):
            if isinstance(value, dict):
                yield str(index), value
            else:
                raw = dumps(value)
                kind = type(value).__name__
                yield f"item {index}", Bad("not_an_object", f"expected an object, got {kind}", clip(raw))
    except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as exc:
        yield f"item {index + 1}", Bad("malformed_json", f"JSON array unreadable from here on: {exc}")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield "file", Bad("unreadable_file", f"read failed: {exc}")


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
