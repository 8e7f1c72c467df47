"""A small server-rendered SVG bar chart: records exported vs failed per run.

No JavaScript, no CDN: the admin page embeds the markup as is. Runs go newest to
oldest, left to right, in the order of the runs table below it (newest first); every
bar has a <title> (the browser's tooltip) with the run id and its count; both series
share one scale (the largest count).
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
MIN_WIDTH = 260  # room for the legend
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
        '<title id="runs-chart-title">Records exported and failed in the last {n} runs, '
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
    return format_html(
        '<g class="run" data-run-id="{id}">'
        '<rect class="exported" x="{x1}" y="{y1}" width="{bw}" height="{h1}" fill="{c1}">'
        "<title>run #{id}: {exported} exported</title></rect>"
        '<rect class="failed" x="{x2}" y="{y2}" width="{bw}" height="{h2}" fill="{c2}">'
        "<title>run #{id}: {failed} failed</title></rect>"
        '<text x="{xl}" y="{yl}" font-size="9" text-anchor="middle" fill="currentColor">{id}</text>'
        "</g>",
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
        '<text x="{t2}" y="15">failed</text>'
        '<text x="{t3}" y="15" class="order">newest first</text></g>',
        l=LEFT,
        t3=LEFT + 130,
        c1=EXPORTED_COLOUR,
        t1=LEFT + 14,
        l2=LEFT + 74,
        c2=FAILED_COLOUR,
        t2=LEFT + 88,
    )
