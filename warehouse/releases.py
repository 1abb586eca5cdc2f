"""Warehouse layer: the on-disk layout of releases and the `dataset_versions` rows that own them.

A release is `HOME/releases/<name>/v<N>/` holding `data/train-XXXXX-of-YYYYY.parquet`,
`README.md` and `manifest.json`, plus `report.html`: a derived view, neither listed nor hashed
(it can be regenerated, so `verify_release` ignores it). It is written into a hidden temp dir
beside its final place, sealed read-only and renamed into place in the same transaction that inserts its
`dataset_versions` row, so a crash leaves either the whole release or nothing. The row is the
authority: `verify_release` checks the files against it. Knows nothing of what a record holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.errors import UserError
from schemas.publish import NAME_PATTERN
from schemas.records import DatasetVersion
from warehouse.home import Home
from warehouse.lake import Lake

DATA_DIR = "data"
MANIFEST = "manifest.json"
CARD = "README.md"
REPORT = "report.html"  # derived from the manifest: not listed, not hashed, ignored by verify
TMP_PREFIX = ".tmp-"
# Fixed writer options: the same rows give byte-identical shards (no timestamps are written;
# `created_by` names the pyarrow version, so identity holds per pyarrow version).
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
}
ROW_GROUP_ROWS = 10_000


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise UserError(
            f"bad release name {name!r}: use letters, digits, '.', '_' or '-' (starting with a letter or digit)"
        )
    return name


def release_root(home: Home, name: str) -> Path:
    return home.releases / check_name(name)


def version_dir(home: Home, name: str, version: int) -> Path:
    return release_root(home, name) / f"v{version}"


def shard_path(index: int, count: int) -> str:
    return f"{DATA_DIR}/train-{index:05d}-of-{count:05d}.parquet"


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def aggregate_sha256(files: list[dict]) -> str:
    """sha256 over the sorted `path  sha256` lines: one hash names the whole file set."""
    lines = sorted(f"{f['path']}  {f['sha256']}\n" for f in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _set_tree_mode(root: Path, file_mode: int, dir_mode: int) -> None:
    # chmod needs only ownership (not write access to the parent), so the order does not matter.
    for dirpath, _, filenames in list(os.walk(root)):
        os.chmod(dirpath, dir_mode)
        for filename in filenames:
            os.chmod(os.path.join(dirpath, filename), file_mode)


def make_writable(root: Path) -> None:
    _set_tree_mode(root, 0o644, 0o755)


def remove_tree(root: Path) -> None:
    if root.exists():
        make_writable(root)
        shutil.rmtree(root)


class StagedRelease:
    """Files of one would-be release in a hidden temp dir; `commit` moves it into place."""

    def __init__(self, home: Home, name: str, version: int):
        self.root = release_root(home, name)
        self.root.mkdir(parents=True, exist_ok=True)
        self.final = version_dir(home, name, version)
        if self.final.exists():
            raise RuntimeError(f"{self.final} exists: releases are never overwritten")
        self.path = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}v{version}-", dir=self.root))
        self.files: list[dict] = []
        self.committed = False

    def _add(self, relative: str, rows: int | None = None) -> dict:
        path = self.path / relative
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())  # durable before the rename makes it visible
        entry = {"path": relative, "sha256": file_sha256(path), "bytes": path.stat().st_size}
        if rows is not None:
            entry["rows"] = rows
        self.files.append(entry)
        return entry

    def write_shards(self, table: pa.Table, shard_rows: int, sort_keys: tuple[str, ...]) -> list[dict]:
        """Sort by `sort_keys` (deterministic order) and cut into shards of `shard_rows`."""
        table = table.sort_by([(k, "ascending") for k in sort_keys]).combine_chunks()
        count = max(1, -(-table.num_rows // shard_rows))
        (self.path / DATA_DIR).mkdir()
        entries = []
        for index in range(count):
            part = table.slice(index * shard_rows, shard_rows)
            relative = shard_path(index, count)
            write_shard(part, self.path / relative)
            entries.append(self._add(relative, part.num_rows))
        return entries

    def write_text(self, relative: str, text: str, listed: bool = True) -> dict | None:
        path = self.path / relative
        path.write_bytes(text.encode("utf-8"))
        if listed:
            return self._add(relative)
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
        return None

    def aggregate(self) -> str:
        return aggregate_sha256(self.files)

    def seal(self) -> None:
        """Read-only for everyone: a release is immutable once published."""
        _set_tree_mode(self.path, 0o444, 0o555)

    def commit(self) -> None:
        os.rename(self.path, self.final)  # atomic on one filesystem; the final name never half-exists
        self.committed = True
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)  # make the rename itself durable
        finally:
            os.close(fd)

    def discard(self) -> None:
        remove_tree(self.final if self.committed else self.path)
        self.committed = False


def write_shard(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS, **PARQUET_OPTIONS)


@contextmanager
def staged_release(home: Home, name: str, version: int) -> Iterator[StagedRelease]:
    """Stage a release; any exception (or a no-op) leaves no trace of it on disk."""
    staged = StagedRelease(home, name, version)
    try:
        yield staged
    except BaseException:
        staged.discard()
        raise
    if not staged.committed:
        staged.discard()


def publish_atomically(lake: Lake, staged: StagedRelease, row: DatasetVersion) -> None:
    """Insert the row and rename the release in one transaction: both happen or neither.

    Only a kill -9 between the rename and COMMIT can leave a `v<N>` directory without a row;
    `next_version` never reuses its number and every reader goes through the rows, so it is inert.
    Homes sharing one PostgreSQL catalog can both pick the same number; the second to commit finds
    the row taken (write transactions are serialised there) and writes nothing.
    """
    staged.seal()
    try:
        with lake.transaction():
            if lake.insert_records([row]) == 0:
                raise UserError(f"{row.name}@v{row.version} was recorded by another writer on this catalog "
                                "while this publish ran; nothing was written: publish again")
            staged.commit()
    except BaseException:
        staged.discard()
        raise


def remove_stale_temps(home: Home, name: str) -> list[str]:
    """Temp dirs of publishes that died; safe because the caller holds the warehouse write lock."""
    root = release_root(home, name)
    stale = sorted(p for p in root.glob(f"{TMP_PREFIX}*") if p.is_dir()) if root.exists() else []
    for path in stale:
        remove_tree(path)
    return [p.name for p in stale]


def read_manifest(path: Path) -> dict:
    """manifest.json of the release directory `path` (no dataset_versions row needed)."""
    return json.loads((path / MANIFEST).read_text(encoding="utf-8"))


def read_release_columns(path: Path, columns: list[str]) -> pa.Table:
    """Some columns of every shard of the release directory `path`, in shard order."""
    shards = sorted((path / DATA_DIR).glob("*.parquet"))
    if not shards:
        raise UserError(f"{path / DATA_DIR}: no Parquet shards")
    return pa.concat_tables([pq.read_table(s, columns=columns) for s in shards])


def replace_derived_file(path: Path, relative: str, text: str) -> Path:
    """(Re)write an unhashed file such as the report inside a sealed release, read-only again after.

    Written beside and renamed over, so a reader never sees half a file; the directory is made
    writable only for the rename (a sealed release is 0555)."""
    target = path / relative
    temp = path / f"{TMP_PREFIX}{relative}"
    mode = path.stat().st_mode & 0o777
    os.chmod(path, mode | 0o200)
    try:
        temp.write_bytes(text.encode("utf-8"))
        os.chmod(temp, 0o444)
        os.replace(temp, target)
    finally:
        if temp.exists():
            temp.unlink()
        os.chmod(path, mode)
    return target


# --- dataset_versions --------------------------------------------------------------------------
def list_versions(lake: Lake, name: str | None = None) -> list[dict]:
    where, params = ("WHERE name = ?", [name]) if name else ("", [])
    return lake.query(
        f"SELECT name, version, rows, created_at, sha256, snapshot_id FROM dataset_versions {where} "
        "ORDER BY name, version", params,
    ).to_pylist()


def get_version(lake: Lake, name: str, version: int | None = None) -> dict:
    """The row of NAME@V (latest when V is None), manifest included; unknown ones are UserErrors."""
    known = list_versions(lake, name)
    if not known:
        names = sorted({r["name"] for r in list_versions(lake)})
        hint = f"; known: {', '.join(names)}" if names else "; nothing published yet"
        raise UserError(f"unknown dataset {name!r}{hint}")
    chosen = version if version is not None else known[-1]["version"]
    rows = lake.query(
        "SELECT name, version, snapshot_id, created_at, rows, sha256, manifest FROM dataset_versions "
        "WHERE name = ? AND version = ?", [name, chosen],
    ).to_pylist()
    if not rows:
        versions = ", ".join(f"v{r['version']}" for r in known)
        raise UserError(f"unknown version {name}@v{chosen}; {name} has {versions}")
    return rows[0]


def latest_version(lake: Lake, name: str) -> dict | None:
    known = list_versions(lake, name)
    return get_version(lake, name, known[-1]["version"]) if known else None


def next_version(lake: Lake, home: Home, name: str) -> int:
    """One above every recorded version and every v<N> directory (never reuse a number)."""
    recorded = [r["version"] for r in list_versions(lake, name)]
    return max(recorded + versions_on_disk(home, name), default=0) + 1


def versions_on_disk(home: Home, name: str) -> list[int]:
    """Every v<N> directory of a release name, rows or not (e.g. an orphan of a kill -9)."""
    root = release_root(home, name)
    return sorted(int(p.name[1:]) for p in root.glob("v*") if p.name[1:].isdigit()) if root.exists() else []


# --- checking a stored release ----------------------------------------------------------------
def verify_release(home: Home, row: dict) -> list[str]:
    """One line per problem with the files of NAME@V; [] when every byte matches the record.

    `report.html` is not checked (a derived view, regenerated by `teachable report`)."""
    path = version_dir(home, row["name"], row["version"])
    if not path.is_dir():
        return [f"{path}: release directory is missing"]
    manifest = json.loads(row["manifest"])
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(path).as_posix() for p in path.rglob("*") if not p.is_dir()}
    problems: list[str] = []
    if MANIFEST not in on_disk:
        problems.append(f"{MANIFEST}: missing")
    elif (path / MANIFEST).read_bytes() != row["manifest"].encode("utf-8"):
        problems.append(f"{MANIFEST}: changed (differs from the dataset_versions record)")
    recomputed = []
    for relative, entry in sorted(listed.items()):
        if relative not in on_disk:
            problems.append(f"{relative}: missing")
            continue
        file = path / relative
        digest, size = file_sha256(file), file.stat().st_size
        recomputed.append({"path": relative, "sha256": digest})
        if digest != entry["sha256"]:
            problems.append(
                f"{relative}: changed (sha256 {digest[:12]}, expected {entry['sha256'][:12]}; "
                f"{size} bytes, expected {entry['bytes']})"
            )
    for relative in sorted(on_disk - set(listed) - {MANIFEST, REPORT}):  # the report is derived: not checked
        problems.append(f"{relative}: extra file, not in the manifest")
    aggregate = aggregate_sha256(recomputed)
    if aggregate != row["sha256"]:
        problems.append(f"aggregate sha256 {aggregate[:12]} differs from the recorded {row['sha256'][:12]}")
    return problems
