"""Reads the numbers back out of a release report (the file, or Chromium's dumped DOM).

`ReportDom(html).tables["funnel"]` is a list of rows, each a dict of the row's attributes
(`data-key`, `data-stage`, ...) plus `cells`: the text of its <th>/<td> elements, in order.
Scripts and styles are skipped, so the 5 MB plotly.js bundle costs nothing to walk past.
"""

from __future__ import annotations

from html.parser import HTMLParser


class ReportDom(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[dict]] = {}
        self.chart_sections: list[str] = []
        self._table: str | None = None
        self._row: dict | None = None
        self._cell: list[str] | None = None
        self._skip = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "table":
            self._table = attr.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {k: v for k, v in attr.items() if k.startswith("data-")} | {"cells": []}
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "section" and attr.get("data-chart"):
            self.chart_sections.append(attr["data-chart"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row["cells"].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._skip:
            self._cell.append(data)

    def keyed(self, table: str) -> dict[str, str]:
        """A two-column `data-key` table as {key: value text}."""
        return {row["data-key"]: row["cells"][-1] for row in self.tables[table] if "data-key" in row}

    def by(self, table: str, attribute: str) -> dict[str, dict[str, str]]:
        """A `rows_table` as {row's data-<attribute>: {column: text}}, columns named by the header row."""
        rows = self.tables[table]
        columns = rows[0]["cells"]
        return {row[f"data-{attribute}"]: dict(zip(columns, row["cells"])) for row in rows[1:]}


def _flat(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items()
                for k, v in _flat(item, f"{prefix}.{key}" if prefix else key).items()}
    return {prefix: "none" if isinstance(value, dict) else value}


def assert_shows_manifest(dom: ReportDom, manifest: dict) -> None:
    """Every number the report's tables show equals the manifest's (the file or the browser's DOM)."""
    overview = dom.keyed("overview")
    assert overview["rows"] == str(manifest["rows"]) and overview["version"] == str(manifest["version"])
    assert overview["sha256"] == manifest["sha256"] == dom.keyed("aggregate")["aggregate sha256"]
    assert overview["name"] == manifest["name"] and overview["snapshot"] == str(manifest["snapshot_id"])
    assert overview["prompts"] == str(manifest["release"]["prompts"])
    assert dom.keyed("stage-counts") == {k: str(v) for k, v in _flat(manifest["stages"]).items()}
    funnel = dom.by("funnel", "stage")
    stages, release = manifest["stages"], manifest["release"]
    assert funnel["ingest"]["kept"] == str(stages["prompts"]["total"])
    assert funnel["traces"]["kept"] == str(stages["traces"]["by_status"]["kept"])
    assert funnel["traces"]["in"] == str(sum(stages["traces"]["by_status"].values()))
    assert (funnel["publish"]["in"], funnel["publish"]["kept"], funnel["publish"]["dropped"]) == \
        (str(release["candidates"]), str(manifest["rows"]), str(sum(release["dropped"].values())))
    for row in funnel.values():
        assert int(row["in"]) == int(row["kept"]) + int(row["dropped"]), row
    for dimension in ("source", "domain", "band", "teacher"):
        assert dom.keyed(f"by-{dimension}") == {k: str(v) for k, v in release[f"by_{dimension}"].items()}
    files = dom.by("files", "path")
    assert {p: (r["sha256"], r["bytes"]) for p, r in files.items()} == \
        {f["path"]: (f["sha256"], str(f["bytes"])) for f in manifest["files"]}
