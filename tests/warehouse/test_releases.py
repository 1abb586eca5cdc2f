"""Release files on disk: deterministic shards, atomic staging, read-only seal, byte-level verify."""

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.errors import UserError
from schemas.publish import RELEASE_KEY
from schemas.records import DatasetVersion
from warehouse import releases
from warehouse.releases import (
    CARD,
    MANIFEST,
    aggregate_sha256,
    get_version,
    next_version,
    publish_atomically,
    remove_stale_temps,
    staged_release,
    verify_release,
    version_dir,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def table(n: int = 7) -> pa.Table:
    # Deliberately out of order: the writer owns the sort.
    ids = [f"p{(i * 5) % n:03d}" for i in range(n)]
    return pa.table({"prompt_id": ids, "teacher": ["t"] * n, "sample_index": [0] * n, "repeat": [0] * n, "text": [f"x{i}" for i in ids]})


def publish(lake, name: str, version: int, data: pa.Table, shard_rows: int = 3) -> DatasetVersion:
    with staged_release(lake.home, name, version) as staged:
        staged.write_shards(data, shard_rows, RELEASE_KEY)
        staged.write_text(CARD, f"# {name}\n")
        manifest = json.dumps({"files": staged.files, "sha256": staged.aggregate()}, sort_keys=True)
        staged.write_text(MANIFEST, manifest, listed=False)
        row = DatasetVersion(name=name, version=version, created_at=T0, rows=data.num_rows,
                             sha256=staged.aggregate(), manifest=manifest)
        publish_atomically(lake, staged, row)
    return row


def test_shards_are_sorted_named_and_byte_identical_across_writes(lake, tmp_path):
    publish(lake, "a", 1, table())
    publish(lake, "b", 1, table().slice(0).take([6, 5, 4, 3, 2, 1, 0]))  # same rows, other order
    a, b = version_dir(lake.home, "a", 1), version_dir(lake.home, "b", 1)
    names = sorted(p.relative_to(a).as_posix() for p in (a / "data").iterdir())
    assert names == [f"data/train-0000{i}-of-00003.parquet" for i in range(3)]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    ids = [i for name in names for i in pq.read_table(a / name).column("prompt_id").to_pylist()]
    assert ids == [f"p{i:03d}" for i in range(7)]  # sorted across shards, in shard order


def test_published_release_is_read_only_and_recorded(lake):
    row = publish(lake, "a", 1, table())
    path = version_dir(lake.home, "a", 1)
    assert path.stat().st_mode & 0o777 == 0o555
    assert all(p.stat().st_mode & 0o777 == (0o555 if p.is_dir() else 0o444) for p in path.rglob("*"))
    stored = get_version(lake, "a")
    assert stored["version"] == 1 and stored["sha256"] == row.sha256 == aggregate_sha256(json.loads(row.manifest)["files"])
    assert verify_release(lake.home, stored) == []
    assert [p.name for p in path.parent.iterdir()] == ["v1"]  # no temp dir left beside it


@pytest.mark.parametrize("target", ["data/train-00001-of-00003.parquet", CARD, MANIFEST])
def test_verify_names_a_single_flipped_byte(lake, target):
    publish(lake, "a", 1, table())
    file = version_dir(lake.home, "a", 1) / target
    file.chmod(0o644)
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data))
    problems = verify_release(lake.home, get_version(lake, "a", 1))
    assert problems and problems[0].startswith(f"{target}: changed"), problems


def test_verify_names_missing_and_extra_files(lake):
    publish(lake, "a", 1, table())
    path = version_dir(lake.home, "a", 1)
    releases.make_writable(path)
    (path / "data" / "train-00000-of-00003.parquet").unlink()
    (path / "data" / "stray.parquet").write_bytes(b"x")
    problems = verify_release(lake.home, get_version(lake, "a", 1))
    assert "data/train-00000-of-00003.parquet: missing" in problems
    assert "data/stray.parquet: extra file, not in the manifest" in problems
    assert any(p.startswith("aggregate sha256") for p in problems)


@pytest.mark.parametrize("where", ["shard", "insert", "rename"])
def test_a_crash_mid_publish_leaves_no_release_and_no_row(lake, monkeypatch, where):
    if where == "shard":
        def broken(data, path):
            path.write_bytes(b"PAR1 half a file")
            raise OSError("disk full")
        monkeypatch.setattr(releases, "write_shard", broken)
    elif where == "insert":
        monkeypatch.setattr(type(lake), "insert_records", lambda self, records: (_ for _ in ()).throw(OSError("boom")))
    else:
        real = releases.StagedRelease.commit

        def commit_then_die(self):
            real(self)
            raise KeyboardInterrupt  # killed right after the rename, before COMMIT
        monkeypatch.setattr(releases.StagedRelease, "commit", commit_then_die)
    with pytest.raises((OSError, KeyboardInterrupt)):
        publish(lake, "a", 1, table())
    monkeypatch.undo()
    assert list((lake.home.releases / "a").iterdir()) == []
    assert lake.count("dataset_versions") == 0
    assert publish(lake, "a", 1, table()).version == 1  # and the next try works


def test_a_version_taken_meanwhile_on_a_shared_catalog_is_refused_and_nothing_written(lake):
    other = DatasetVersion(name="a", version=1, created_at=T0, rows=1, sha256="0" * 64, manifest="{}")
    lake.insert_records([other])  # another home on the same catalog committed a@v1 first
    with pytest.raises(UserError, match="a@v1 was recorded by another writer"):
        publish(lake, "a", 1, table())
    assert list((lake.home.releases / "a").iterdir()) == []
    assert lake.query("SELECT sha256 FROM dataset_versions").to_pylist() == [{"sha256": "0" * 64}]


def test_versions_never_reuse_a_number_and_stale_temps_are_removed(lake):
    publish(lake, "a", 1, table())
    orphan = lake.home.releases / "a" / "v2"  # e.g. a kill -9 between rename and COMMIT
    orphan.mkdir()
    stale = lake.home.releases / "a" / ".tmp-v3-dead"
    stale.mkdir()
    (stale / "x").write_text("half")
    assert next_version(lake, lake.home, "a") == 3
    assert remove_stale_temps(lake.home, "a") == [".tmp-v3-dead"] and not stale.exists()


def test_unknown_names_versions_and_bad_names_are_user_errors(lake):
    publish(lake, "a", 1, table())
    with pytest.raises(UserError, match="unknown dataset 'b'; known: a"):
        get_version(lake, "b")
    with pytest.raises(UserError, match=r"unknown version a@v7; a has v1"):
        get_version(lake, "a", 7)
    with pytest.raises(UserError, match="bad release name"):
        version_dir(lake.home, "../etc", 1)
