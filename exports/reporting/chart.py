"""A small server-rendered SVG bar chart: records exported vs rejected per run.

No JavaScript, no CDN: the admin page embeds the markup as is. Runs go newest to
oldest, left to right, in the order of the runs table below it (newest first); every
bar has a <title> (the browser's tooltip) with the run id and its count; both series
share one scale (the largest count). A run that failed (a login refused, the org
unreachable: usually nothing written, nothing rejected) is drawn as a marker in the
failed colour, its slot shaded up to the top, its tooltip the run's reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from exports.models import ExportRun

BAR_WIDTH = 10
SLOT_WIDTH = 2 * BAR_WIDTH + 8
PLOT_HEIGHT = 120
LEFT, TOP, BOTTOM = 48, 24, 22
MIN_WIDTH = 350  # room for the legend
EXPORTED_COLOUR = "#417505"
FAILED_COLOUR = "#ba2121"


def runs_chart(runs: Sequence[ExportRun]) -> SafeString:
    """SVG of `runs` (any order; drawn newest first, by id descending); an empty string when
    there are none."""
    if not runs:
        return SafeString("")
    ordered = sorted(runs, key=lambda run: run.id, reverse=True)
    top_value = max(max(run.exported, run.failed) for run in ordered) or 1
    width = max(LEFT + SLOT_WIDTH * len(ordered) + 8, MIN_WIDTH)
    height = TOP + PLOT_HEIGHT + BOTTOM
    bars = format_html_join(
        "", "{}", ((_run_bars(i, run, top_value),) for i, run in enumerate(ordered))
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="runs-chart" width="{w}" height="{h}" '
        'viewBox="0 0 {w} {h}" role="img" aria-labelledby="runs-chart-title">'
        '<title id="runs-chart-title">Records exported and rejected in the last {n} runs, '
        "newest first</title>"
        "{axes}{bars}{legend}</svg>",
        w=width,
        h=height,
        n=len(ordered),
        axes=_axes(width, top_value),
        bars=bars,
        legend=_legend(),
    )


def _bar_height(value: int, top_value: int) -> int:
    return round(PLOT_HEIGHT * value / top_value)


def _run_bars(index: int, run: ExportRun, top_value: int) -> SafeString:
    x = LEFT + index * SLOT_WIDTH + 4
    base = TOP + PLOT_HEIGHT
    exported_h = _bar_height(run.exported, top_value)
    failed_h = _bar_height(run.failed, top_value)
    failed_run = run.outcome == ExportRun.Outcome.FAILED
    return format_html(
        '<g class="run{cls}" data-run-id="{id}">{marker}'
        '<rect class="exported" x="{x1}" y="{y1}" width="{bw}" height="{h1}" fill="{c1}">'
        "<title>run #{id}: {exported} exported</title></rect>"
        '<rect class="failed" x="{x2}" y="{y2}" width="{bw}" height="{h2}" fill="{c2}">'
        "<title>run #{id}: {failed} rejected</title></rect>"
        '<text x="{xl}" y="{yl}" font-size="9" text-anchor="middle" fill="{cl}">{id}</text>'
        "</g>",
        cls=" run-failed" if failed_run else "",
        marker=_failed_marker(x, run) if failed_run else "",
        cl=FAILED_COLOUR if failed_run else "currentColor",
        id=run.id,
        x1=x,
        y1=base - exported_h,
        h1=exported_h,
        c1=EXPORTED_COLOUR,
        exported=run.exported,
        x2=x + BAR_WIDTH,
        y2=base - failed_h,
        h2=failed_h,
        c2=FAILED_COLOUR,
        failed=run.failed,
        bw=BAR_WIDTH,
        xl=x + BAR_WIDTH,
        yl=base + 14,
    )


def _failed_marker(x: int, run: ExportRun) -> SafeString:
    """A failed run: its slot shaded in the failed colour up to the top, and a cross
    on the base line; the tooltip says why it failed."""
    base = TOP + PLOT_HEIGHT
    middle = x + BAR_WIDTH
    return format_html(
        '<g class="failed-run"><title>run #{id} failed: {why}</title>'
        '<rect x="{x}" y="{t}" width="{w}" height="{h}" fill="{c}" fill-opacity="0.15"/>'
        '<path d="M{a} {b} L{c2} {d} M{a} {d} L{c2} {b}" stroke="{c}" stroke-width="2.5"/>'
        "</g>",
        id=run.id,
        why=run.message or "no reason recorded",
        x=x,
        t=TOP,
        w=2 * BAR_WIDTH,
        h=PLOT_HEIGHT,
        c=FAILED_COLOUR,
        a=middle - 5,
        b=base - 12,
        c2=middle + 5,
        d=base - 2,
    )


def _axes(width: int, top_value: int) -> SafeString:
    base = TOP + PLOT_HEIGHT
    return format_html(
        '<g class="axes" fill="currentColor" font-size="10">'
        '<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="currentColor" stroke-width="1"/>'
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="currentColor" stroke-width="1"/>'
        '<text x="{lx}" y="{ty}" text-anchor="end">{top}</text>'
        '<text x="{lx}" y="{b}" text-anchor="end">0</text>'
        "</g>",
        l=LEFT,
        t=TOP,
        b=base,
        r=width - 4,
        lx=LEFT - 4,
        ty=TOP + 4,
        top=top_value,
    )


def _legend() -> SafeString:
    return format_html(
        '<g class="legend" font-size="10" fill="currentColor">'
        '<rect x="{l}" y="6" width="10" height="10" fill="{c1}"/>'
        '<text x="{t1}" y="15">exported</text>'
        '<rect x="{l2}" y="6" width="10" height="10" fill="{c2}"/>'
        '<text x="{t2}" y="15">rejected</text>'
        '<path d="M{l3} 6 L{l3e} 16 M{l3} 16 L{l3e} 6" stroke="{c2}" stroke-width="2.5"/>'
        '<text x="{t4}" y="15">run failed</text>'
        '<text x="{t3}" y="15" class="order">newest first</text></g>',
        l=LEFT,
        l3=LEFT + 140,
        l3e=LEFT + 150,
        t4=LEFT + 154,
        t3=LEFT + 220,
        c1=EXPORTED_COLOUR,
        t1=LEFT + 14,
        l2=LEFT + 74,
        c2=FAILED_COLOUR,
        t2=LEFT + 88,
    )
