"""Tasks layer (publish, report): the plotly figures of a release report, one function per chart.

Each takes plain manifest sections and returns a `go.Figure`; an empty section gives a figure
that says so (every report has the same charts, so a reader always finds them in one place).
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tasks.publish.report.funnel import Step

KEPT_COLOR = "#2e7d32"
UNSCORED_COLOR = "#9e9e9e"
BAR_COLOR = "#1565c0"
LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "height": 380}


def _figure(title: str, empty: str | None = None, **layout) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **{**LAYOUT, **layout})
    if empty:
        fig.add_annotation(text=empty, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                           font={"size": 16, "color": UNSCORED_COLOR})
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    return fig


def _whole_counts(fig: go.Figure, largest: int) -> go.Figure:
    """Small counts get integer ticks (plotly would show 0.2, 0.4, ... prompts)."""
    if largest <= 10:
        fig.update_yaxes(dtick=1, rangemode="tozero")
    return fig


def _shares(steps: list[Step], count) -> tuple[list, list]:
    """Share of each stage's `in` (bars of different units compare as proportions) and the counts."""
    counts = [count(s) for s in steps]
    return [c / s.seen if s.seen and c else None for s, c in zip(steps, counts)], counts


def funnel_figure(steps: list[Step]) -> go.Figure:
    """100%-stacked horizontal bars: kept and each drop reason as a share of the stage's `in`."""
    labels = [f"{s.stage} (in {s.seen} {s.unit})" for s in steps]
    fig = _figure("Stage funnel: kept and dropped by reason, share of each stage's input",
                  barmode="stack", height=120 + 48 * len(steps), legend={"traceorder": "normal"})
    reasons = sorted({reason for s in steps for reason in s.dropped})
    for name, count in [("kept", lambda s: s.kept)] + [(r, lambda s, r=r: s.dropped.get(r, 0)) for r in reasons]:
        shares, counts = _shares(steps, count)
        fig.add_bar(y=labels, x=shares, name=name, orientation="h", customdata=counts, text=counts,
                    textposition="inside", insidetextanchor="middle",
                    marker_color=KEPT_COLOR if name == "kept" else None,
                    hovertemplate=f"{name}: %{{customdata}} (%{{x:.1%}})<extra>%{{y}}</extra>")
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(uniformtext={"minsize": 9, "mode": "hide"}, margin={**LAYOUT["margin"], "l": 230})
    return fig


def pass_rate_figure(pass_rate: dict) -> go.Figure:
    bins, unscored = pass_rate.get("bins", []), pass_rate.get("unscored", 0)
    if not bins and not unscored:
        return _figure("Base-model pass rate of the released prompts", "no pass-rate data in this release")
    labels = [f"{b['from']:.1f}–{b['to']:.1f}" for b in bins] + ["unscored"]
    counts = [b["prompts"] for b in bins] + [unscored]
    colors = [BAR_COLOR] * len(bins) + [UNSCORED_COLOR]
    mean = pass_rate.get("mean")
    title = "Base-model pass rate of the released prompts" + (f" (mean {mean:.2f})" if mean is not None else "")
    fig = _figure(title, xaxis_title="pass rate", yaxis_title="prompts")
    fig.add_bar(x=labels, y=counts, marker_color=colors, text=counts, textposition="outside",
                hovertemplate="%{x}: %{y} prompts<extra></extra>")
    return _whole_counts(fig, max(counts))


def mix_figure(by_source: dict[str, int], by_domain: dict[str, int]) -> go.Figure:
    """Two donuts: the release's records by source and by domain."""
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "domain"}, {"type": "domain"}]],
                        subplot_titles=("by source", "by domain"))
    for col, counts in ((1, by_source), (2, by_domain)):
        fig.add_pie(labels=list(counts), values=list(counts.values()), hole=0.45, textinfo="label+percent",
                    hovertemplate="%{label}: %{value} records<extra></extra>", row=1, col=col)
    # A taller top margin: the subplot titles sit between the figure title and the donuts.
    fig.update_layout(title="Source and domain mix (records)", **{**LAYOUT, "margin": {**LAYOUT["margin"], "t": 90}})
    return fig


def tokens_figure(tokens: dict) -> go.Figure:
    buckets = tokens.get("buckets", [])
    if not buckets:
        return _figure("Teacher tokens per released row", "no token counts in this release")
    title = f"Teacher tokens per released row (median {tokens['median']}, p90 {tokens['p90']}, max {tokens['max']})"
    fig = _figure(title, xaxis_title="tokens (doubling buckets)", yaxis_title="rows")
    labels = [f"{b['from']}–{b['to'] - 1}" for b in buckets]
    rows = [b["rows"] for b in buckets]
    fig.add_bar(x=labels, y=rows, marker_color=BAR_COLOR, text=rows, textposition="outside",
                hovertemplate="%{x} tokens: %{y} rows<extra></extra>")
    return _whole_counts(fig, max(rows))


def student_lengths_figure(lengths: dict) -> go.Figure:
    """Student tokens per released row against the limit (max_seq_len) as a vertical line."""
    buckets = lengths.get("buckets", [])
    title = "Student tokens per released row (chat template)"
    if not buckets:
        return _figure(title, "no student lengths in this release")
    limit = lengths.get("limit")
    title += f", limit {limit}" if limit else ", no limit set"
    fig = _figure(title, xaxis_title="student tokens (doubling buckets)", yaxis_title="rows")
    labels = [f"{b['from']}–{b['to'] - 1}" for b in buckets]
    rows = [b["rows"] for b in buckets]
    colors = [("#d62728" if limit and b["to"] - 1 > limit else BAR_COLOR) for b in buckets]
    fig.add_bar(x=labels, y=rows, marker_color=colors, text=rows, textposition="outside",
                hovertemplate="%{x} tokens: %{y} rows<extra></extra>")
    return _whole_counts(fig, max(rows))


def contamination_figure(by_benchmark_method: dict[str, int]) -> go.Figure:
    """Detections per benchmark, stacked by method (warehouse-wide when the release was cut)."""
    title = "Contamination hits by benchmark (detections, by method)"
    if not by_benchmark_method:
        return _figure(title, "no contamination detected")
    hits: dict[str, dict[str, int]] = {}
    for key, count in by_benchmark_method.items():
        benchmark, _, method = key.rpartition("/")
        hits.setdefault(method, {})[benchmark] = count
    benchmarks = sorted({b for per in hits.values() for b in per})
    # showlegend: plotly hides a one-trace legend, but the method is the point of the colours.
    fig = _figure(title, barmode="stack", xaxis_title="benchmark", yaxis_title="detections",
                  showlegend=True, legend_title_text="method")
    for method, per in sorted(hits.items()):
        fig.add_bar(x=benchmarks, y=[per.get(b, 0) for b in benchmarks], name=method,
                    hovertemplate=f"{method}: %{{y}}<extra>%{{x}}</extra>")
    totals = [sum(per.get(b, 0) for per in hits.values()) for b in benchmarks]
    return _whole_counts(fig, max(totals))
