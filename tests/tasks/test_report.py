"""The release report without a browser: manifest stats, the funnel, the page's tables and
charts, the fallback for releases published before `stats`, and rewriting a sealed release."""

import json
import re

import pyarrow as pa
import pytest

from schemas.errors import UserError
from schemas.publish import PublishSettings
from tasks.publish.stage import run_publish
from tasks.publish.stats import pass_rate_bin, release_stats, token_bucket
from tasks.publish.report.build import render_report, report_stats, write_report
from tasks.publish.report.funnel import funnel
from tests.support.report_dom import ReportDom, assert_shows_manifest
from tests.tasks.test_publish import build_warehouse
from warehouse import releases
from warehouse.home import Home
from warehouse.lake import Lake
from warehouse.releases import REPORT, get_version, read_manifest, verify_release

CHARTS = ["funnel", "pass-rate", "mix", "tokens", "student-lengths", "contamination"]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """One published release for the module (tests that touch it leave it as they found it)."""
    with Lake(Home.resolve(tmp_path_factory.mktemp("report") / "home")) as lake:
        build_warehouse(lake)
        report = run_publish(lake, "mix", PublishSettings(), run_id="publish-test", flow_run_id="flow-123")
        yield lake, releases.version_dir(lake.home, "mix", report.version)


def test_pass_rate_bins_and_token_buckets():
    assert [pass_rate_bin(k / 8) for k in range(9)] == [0, 1, 2, 3, 5, 6, 7, 8, 9]  # each k/8 its own bin
    assert [pass_rate_bin(x) for x in (0.3, 0.7, 0.6, 0.0999)] == [3, 7, 6, 0]  # no float drift at the edges
    assert [token_bucket(t) for t in (0, 15, 16, 31, 32, 100, 4096)] == [0, 0, 16, 16, 32, 64, 4096]


def test_release_stats_count_prompts_for_pass_rate_and_rows_for_tokens():
    table = pa.table({
        "prompt_id": ["a", "a", "b", "c", "d"],
        "difficulty": [{"pass_rate": 0.5, "band": "teachable"}] * 2
        + [{"pass_rate": 1.0, "band": "too_easy"}, None, None],
        "tokens": [10, 20, 40, 300, None],
    })
    stats = release_stats(table)
    assert [b["prompts"] for b in stats["pass_rate"]["bins"]] == [0, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert (stats["pass_rate"]["unscored"], stats["pass_rate"]["mean"]) == (2, 0.75)
    tokens = stats["tokens"]
    assert [(b["from"], b["to"], b["rows"]) for b in tokens["buckets"]] == \
        [(0, 16, 1), (16, 32, 1), (32, 64, 1), (64, 128, 0), (128, 256, 0), (256, 512, 1)]
    assert {k: tokens[k] for k in ("min", "median", "p90", "max", "mean", "unknown")} == \
        {"min": 10, "median": 20, "p90": 300, "max": 300, "mean": 92.5, "unknown": 1}


def test_publish_puts_stats_in_the_manifest(release):
    lake, path = release
    stats = read_manifest(path)["stats"]
    assert sum(b["prompts"] for b in stats["pass_rate"]["bins"]) + stats["pass_rate"]["unscored"] == 10
    assert stats["pass_rate"]["unscored"] == 1  # p11 was never scored
    assert stats["tokens"]["buckets"] == [{"from": 64, "to": 128, "rows": 20}]
    assert stats["contamination"] == {"prompts_by_benchmark": {"gsm8k": 1}, "siblings_by_benchmark": {}}
    lengths = stats["student_tokens"]
    assert sum(b["rows"] for b in lengths["buckets"]) == 20 and lengths["limit"] is None


def test_funnel_in_equals_kept_plus_dropped_by_reason(release):
    _, path = release
    rows = {s.stage: s.as_row() for s in funnel(read_manifest(path))}
    assert [(r["in"], r["kept"], r["reasons"]) for r in rows.values()] == [
        (13, 12, "malformed_json 1"), (12, 11, "minhash 1"), (11, 10, "contaminated 1"), (11, 6, "too_hard 5"),
        (2, 1, "answer_changed 1"), (36, 24, "wrong_answer 12"), (24, 20, "contaminated 2, duplicate 2"),
    ]


def test_the_report_is_self_contained_and_shows_the_manifest(release):
    _, path = release
    html = (path / REPORT).read_text()
    assert html.count("* plotly.js v") == 1  # the bundle, embedded once
    assert not re.search(r"<script[^>]*\bsrc=", html) and not re.search(r"<link[^>]*\bhref=\"?https?:", html)
    dom = ReportDom(html)
    assert dom.chart_sections == CHARTS
    assert all(f'id="chart-{key}"' in html for key in CHARTS)
    assert_shows_manifest(dom, read_manifest(path))
    assert dom.keyed("tokens") == {"min": "100", "median": "100", "p90": "101", "max": "101", "mean": "100.5",
                                   "unknown": "0"}
    assert dom.keyed("contaminated-prompts") == {"gsm8k": "1"}


def test_a_release_without_stats_gets_them_from_its_shards(release):
    _, path = release
    manifest = read_manifest(path)
    older = {k: v for k, v in manifest.items() if k != "stats"}
    stats = report_stats(older, path)
    assert stats == {k: v for k, v in manifest["stats"].items() if k not in ("contamination", "student_tokens")}
    dom = ReportDom(render_report(older, stats))
    assert_shows_manifest(dom, manifest)
    assert "contaminated-prompts" not in dom.tables  # only the detections, which older manifests have


def test_write_report_replaces_it_in_the_sealed_release(release):
    lake, path = release
    releases.make_writable(path)
    (path / REPORT).unlink()
    releases._set_tree_mode(path, 0o444, 0o555)
    written = write_report(lake.home, "mix@v1")
    assert written == path / REPORT and written.stat().st_mode & 0o777 == 0o444
    assert path.stat().st_mode & 0o777 == 0o555 and sorted(p.name for p in path.iterdir()) == \
        ["README.md", "data", "manifest.json", REPORT]  # no temp file left
    assert verify_release(lake.home, get_version(lake, "mix", 1)) == []


@pytest.mark.parametrize(("ref", "message"), [
    ("mix@v2", r"no release mix@v2 in .* \(mix has v1\)"),
    ("other@v1", r"nothing published as 'other'"),
    ("mix", "names no version"),
    ("mix@", "bad dataset reference"),
])
def test_unknown_releases_and_bad_references_are_user_errors(release, ref, message):
    lake, _ = release
    with pytest.raises(UserError, match=message):
        write_report(lake.home, ref)


def test_manifest_stats_are_json_and_the_report_ignores_unknown_sections(release):
    _, path = release
    manifest = read_manifest(path)
    assert json.loads(json.dumps(manifest["stats"])) == manifest["stats"]
    assert "chart-funnel" in render_report({**manifest, "future_section": {"x": 1}})
