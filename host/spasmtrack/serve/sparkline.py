"""A small inline SVG line of weekly spasm rates (episodes per hour of good signal)."""
from __future__ import annotations

from html import escape

from ..analysis.tzutil import fmt_local

WIDTH, HEIGHT, PAD = 140, 34, 3


def sparkline(week_start_ms: list[int], rates: list[float | None], tz: str) -> str:
    """SVG markup, or "" when no week has a rate (the page then says "no data").

    Weeks without a rate (too little good signal) are gaps, not zeros. The y axis starts
    at 0 episodes/h; each point carries a tooltip with its week and value.
    """
    pts = [(i, r) for i, r in enumerate(rates) if r is not None]
    if not pts:
        return ""
    top = 1.15 * max(r for _, r in pts) or 1.0     # headroom above the highest week
    n = max(len(rates) - 1, 1)

    def xy(i: int, r: float) -> tuple[float, float]:
        return (PAD + i * (WIDTH - 2 * PAD) / n,
                HEIGHT - PAD - r / top * (HEIGHT - 2 * PAD))

    runs: list[list[tuple[float, float]]] = []
    prev = None
    for i, r in pts:
        if prev is None or i != prev + 1:
            runs.append([])
        runs[-1].append(xy(i, r))
        prev = i
    lines = "".join(
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in run) + '"/>' for run in runs if len(run) > 1)
    dots = "".join(
        f'<circle cx="{xy(i, r)[0]:.1f}" cy="{xy(i, r)[1]:.1f}" r="1.8"><title>week from '
        f'{escape(fmt_local(week_start_ms[i], tz, "%Y-%m-%d"))}: {r:.1f} episodes/h of good signal'
        "</title></circle>" for i, r in pts)
    label = (f"weekly spasm rate, last {len(rates)} weeks; latest "
             f"{pts[-1][1]:.1f} episodes per hour of good signal")
    return (f'<svg class="spark" role="img" aria-label="{escape(label)}" width="{WIDTH}" '
            f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">'
            f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
            f'stroke="#bbb" stroke-width="0.5"/>{lines}{dots}</svg>')
