"""Tasks layer (publish, report): HTML of the report page: plain tables, chart slots, one embedded plotly.js.

Tables carry `id`s and `data-key` / `data-stage` / `data-col` attributes so a script (or a
test) reads the numbers back without parsing prose. Every value is escaped. Pure strings.
"""

from __future__ import annotations

from html import escape

import plotly.graph_objects as go

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 0; background: #fafafa; }
main { max-width: 1120px; margin: 0 auto; padding: 24px; }
h1 { margin: 0 0 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #666; margin: 0 0 16px; }
section.chart { background: #fff; border: 1px solid #e5e5e5; border-radius: 6px; padding: 8px; margin: 12px 0; }
table { border-collapse: collapse; margin: 8px 0 16px; background: #fff; }
caption { text-align: left; font-weight: 600; padding: 4px 0; white-space: nowrap; }
th, td { border: 1px solid #e0e0e0; padding: 3px 10px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; font-weight: 600; }
code, .hash { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; word-break: break-all; }
.tables { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
"""
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


class Charts:
    """Turns figures into HTML; plotly.js goes inline with the first one only (no CDN, offline)."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, key: str, fig: go.Figure) -> str:
        self.count += 1
        inline = self.count == 1
        div = fig.to_html(full_html=False, include_plotlyjs=inline, div_id=f"chart-{key}",
                          config=PLOTLY_CONFIG, default_height=f"{fig.layout.height or 380}px")
        return f'<section class="chart" data-chart="{escape(key)}">{div}</section>'


def _cell(value: object, attrs: str = "") -> str:
    num = isinstance(value, int | float) and not isinstance(value, bool)
    text = "-" if value is None else str(value)
    css = ' class="num"' if num else ""
    return f"<td{attrs}{css}>{escape(text)}</td>"


def key_table(table_id: str, pairs: dict[str, object], title: str | None = None) -> str:
    """Two columns, one `data-key` row per entry: field and value."""
    rows = "".join(f'<tr data-key="{escape(str(k))}"><th>{escape(str(k))}</th>{_cell(v)}</tr>'
                   for k, v in pairs.items())
    caption = f"<caption>{escape(title)}</caption>" if title else ""
    return f'<table id="{escape(table_id)}">{caption}{rows}</table>'


def rows_table(table_id: str, rows: list[dict], row_key: str | None = None, title: str | None = None) -> str:
    """A header of the dicts' keys; cells carry `data-col`, rows `data-<row_key>` when given."""
    if not rows:
        return f'<table id="{escape(table_id)}"><tr><td>none</td></tr></table>'
    head = "".join(f"<th>{escape(str(c))}</th>" for c in rows[0])
    body = []
    for row in rows:
        attr = f' data-{row_key}="{escape(str(row[row_key]))}"' if row_key else ""
        cells = "".join(_cell(v, f' data-col="{escape(str(c))}"') for c, v in row.items())
        body.append(f"<tr{attr}>{cells}</tr>")
    caption = f"<caption>{escape(title)}</caption>" if title else ""
    return f'<table id="{escape(table_id)}">{caption}<tr>{head}</tr>{"".join(body)}</table>'


def page(title: str, subtitle: str, sections: list[tuple[str, str]]) -> str:
    """The whole document: `sections` are (heading, inner HTML) pairs, in order."""
    parts = "".join(f"<h2>{escape(h)}</h2>{inner}" for h, inner in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body><main><h1>{escape(title)}</h1>"
        f'<p class="sub">{escape(subtitle)}</p>{parts}</main></body></html>\n'
    )
