"""The release report in a real headless Chromium: plotly.js (embedded, no network) draws every
chart, and the numbers on the page are the manifest's. No LLM: a small hand-built warehouse."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from schemas.publish import PublishSettings
from tasks.publish.stage import run_publish
from tests.support.report_dom import ReportDom, assert_shows_manifest
from tests.tasks.test_publish import build_warehouse
from warehouse.home import Home
from warehouse.lake import Lake
from warehouse.releases import REPORT, read_manifest, version_dir

# What each chart draws once plotly.js has run: bars, or pie slices for the mix.
CHARTS = {"funnel": "trace bars", "pass-rate": "trace bars", "mix": "slice", "tokens": "trace bars",
          "student-lengths": "trace bars", "contamination": "trace bars"}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.fail("chromium not found: scripts/system-deps.sh installs it (Debian package chromium)")
    return found


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after the page's scripts ran (virtual time lets plotly finish drawing)."""
    proc = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("chromium")
    with Lake(Home.resolve(root / "home")) as lake:
        build_warehouse(lake)
        run_publish(lake, "mix", PublishSettings(shard_rows=7), run_id="publish-test", flow_run_id="flow-123")
        path = version_dir(lake.home, "mix", 1)
    return path, dump_dom(path / REPORT, root / "profile")


def chart_html(dom: str) -> dict[str, str]:
    """Each chart's section of the DOM, by its key."""
    parts = re.split(r'<section class="chart" data-chart="([a-z-]+)">', dom)
    return {key: body.split("</section>")[0] for key, body in zip(parts[1::2], parts[2::2])}


def test_plotly_draws_every_chart(rendered):
    _, dom = rendered
    assert dom.count('class="plot-container') == len(CHARTS)
    charts = chart_html(dom)
    assert list(charts) == list(CHARTS)
    for key, mark in CHARTS.items():
        assert 'class="main-svg"' in charts[key], f"{key}: not drawn"
        assert f'class="{mark}' in charts[key], f"{key}: no {mark}"
    assert "publish (in 24 kept traces)" in charts["funnel"]  # axis labels are drawn text, not data


def test_the_page_shows_the_manifest_numbers(rendered):
    path, dom = rendered
    manifest = read_manifest(path)
    assert len(manifest["files"]) == 4  # three shards and the card: the report is not listed
    assert_shows_manifest(ReportDom(dom), manifest)


def test_nothing_is_loaded_from_the_network(rendered):
    _, dom = rendered
    assert not re.search(r"<(script|img|iframe)[^>]*\bsrc=\"?https?:", dom)
    assert not re.search(r"<link[^>]*\bhref=\"?https?:", dom)
