"""`teachable report NAME@V` end to end: the real CLI in subprocesses on a release published
the way releases were before reports existed (no report.html, no `stats` in the manifest)."""

from pathlib import Path

import pytest

from schemas.publish import PublishSettings
from tasks.publish import stage
from tests.support.cli import run_cli
from tests.support.report_dom import ReportDom, assert_shows_manifest
from tests.tasks.test_publish import build_warehouse
from warehouse import releases
from warehouse.lake import Lake
from warehouse.releases import REPORT, get_version, read_manifest, verify_release, version_dir


def teachable(*args: str, expect: int = 0, env: dict | None = None):
    proc = run_cli(None, *args, cwd=Path.cwd(), timeout=120, **(env or {}))
    assert proc.returncode == expect, f"teachable {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture
def older(home, monkeypatch):
    """mix@v1 as an older teachable published it: no `stats` in the manifest, no report.html."""
    real = stage.build_manifest
    monkeypatch.setattr(stage, "build_manifest", lambda **kw: {k: v for k, v in real(**kw).items() if k != "stats"})
    with Lake(home) as lake:
        build_warehouse(lake)
        stage.run_publish(lake, "mix", PublishSettings(), run_id="publish-test")
    path = version_dir(home, "mix", 1)
    releases.make_writable(path)
    (path / REPORT).unlink()
    releases._set_tree_mode(path, 0o444, 0o555)
    return path


def test_report_gives_an_older_release_its_report(home, older):
    proc = teachable("--home", str(home.root), "report", "mix@v1")
    assert proc.stdout.strip() == str(older / REPORT)
    assert (older / REPORT).stat().st_mode & 0o777 == 0o444 and older.stat().st_mode & 0o777 == 0o555
    manifest = read_manifest(older)
    assert "stats" not in manifest
    dom = ReportDom((older / REPORT).read_text())
    assert_shows_manifest(dom, manifest)
    prompts = sum(int(row["cells"][1]) for row in dom.tables["pass-rate"][1:])
    assert prompts == manifest["release"]["prompts"]  # the distribution came from the shards
    with Lake(home, read_only=True) as lake:
        assert verify_release(home, get_version(lake, "mix", 1)) == []
    again = teachable("report", "mix@v1", "--home", str(home.root))  # --home after the command works too
    assert again.stdout.strip() == str(older / REPORT)


def test_out_writes_elsewhere_and_open_hands_it_to_the_browser(home, older, tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    target = tmp_path / "out" / "mix.html"
    proc = teachable("report", "mix@v1", "--home", str(home.root), "--out", str(target), "--open",
                     env={"BROWSER": str(browser)})
    assert proc.stdout.strip() == str(target) and target.stat().st_size > 1_000_000  # plotly.js inline
    assert opened.read_text().strip() == target.as_uri()
    assert not (older / REPORT).exists()  # the release itself is untouched


@pytest.mark.parametrize(("ref", "message"), [
    ("mix@v3", "no release mix@v3 in"),
    ("nope@v1", "nothing published as 'nope'"),
    ("mix", "names no version"),
    ("../x@v1", "bad dataset reference"),
])
def test_bad_references_and_missing_releases_are_one_line_and_exit_2(home, older, ref, message):
    proc = teachable("--home", str(home.root), "report", ref, expect=2)
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
