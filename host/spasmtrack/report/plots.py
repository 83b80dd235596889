"""Report figures (matplotlib, Agg, inline SVG). Every axis states its unit; times are the
patient's local time (zone named in the axis label).

A figure with nothing to show is not drawn as empty axes: its function raises
:class:`NoFigure` with the reason and what would make it appear, and the report prints that
sentence in the figure's place."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..analysis.core import KIND_GROUPS, Analysis, Curve  # noqa: E402
from ..analysis.tzutil import local_ms  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                     "axes.spines.right": False, "figure.dpi": 100, "svg.hashsalt": "spasmtrack"})
C_RATE, C_DOSE, C_BAND, C_NIGHT = "#1f5f8b", "#c0392b", "#9ecae1", "#eeeeee"
#: The y label of every rate: all event kinds are counted (see KIND_GROUPS in analysis.core).
RATE_LABEL = "events per hour of signal\n(spasm, clonus, both)"


class NoFigure(Exception):
    """Nothing to draw; the message says why and what would make the figure appear."""


def _time_axis(ax, span_h: float) -> None:
    """Readable local-time ticks at any period length: hours within a day, dates beyond."""
    loc: mdates.DateLocator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    if span_h <= 36:
        loc = mdates.HourLocator(byhour=range(0, 24, 3 if span_h > 12 else 1))
    ax.xaxis.set_major_locator(loc)
    fmt = mdates.ConciseDateFormatter(loc, formats=["%Y", "%b", "%d %b", "%H:%M", "%H:%M", "%S.%f"],
                                      zero_formats=["", "%Y", "%d %b", "%d %b", "%H:%M", "%H:%M"],
                                      offset_formats=["", "%Y", "%b %Y", "%d %b %Y", "%d %b %Y", "%d %b %Y %H:%M"])
    ax.xaxis.set_major_formatter(fmt)


def _legend(ax, **kw) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    s = buf.getvalue()
    return s[s.index("<svg"):]


def _dt(utc_ms: np.ndarray, tz: str) -> np.ndarray:
    """Local wall-clock times as naive datetime64 for plotting."""
    return local_ms(np.asarray(utc_ms, dtype=np.int64), tz).astype("datetime64[ms]")


def timeline(a: Analysis) -> str:
    d = a.data
    if not np.any(a.timeline_cov_h > 0):
        raise NoFigure("no good signal in this period (nothing synced from a device assigned to "
                       "this patient); it appears once a device's records are synced")
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 3.8), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    edges_ms = np.append(a.timeline_t, a.timeline_t[-1] + 3_600_000)
    x = _dt(edges_ms, d.tz)
    xn = mdates.date2num(x)
    ax.stairs(a.timeline_rate, xn, color=C_RATE, lw=0.9, label="events per hour of good signal")
    top = np.nanmax(a.timeline_rate) if np.isfinite(a.timeline_rate).any() else 1.0
    for route, color, lab in (("oral", C_DOSE, "oral dose (logged)"),
                              ("intrathecal_bolus", "#8e44ad", "intrathecal bolus (logged)")):
        sel = (d.dose_route == route) & (d.dose_t >= d.from_ms) & (d.dose_t < d.to_ms)
        if sel.any():
            ax.vlines(mdates.date2num(_dt(d.dose_t[sel], d.tz)), top * 1.02, top * 1.12, color=color, lw=0.8, label=lab)
    if d.mark_t.size:
        ax.plot(mdates.date2num(_dt(d.mark_t, d.tz)), np.full(d.mark_t.size, top * 1.17), "v", ms=3, color="#555",
                label="'dose taken' button")
    ax.set_ylabel("events / h of signal\n(all kinds)")
    ax.set_ylim(0, top * 1.22)
    _legend(ax, loc="upper left", fontsize=7, ncol=4, frameon=False, bbox_to_anchor=(0, 1.18))
    ax2.stairs(a.timeline_cov_h, xn, fill=True, color="#7fbf7f", lw=0)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("signal h/h")
    ax2.set_xlabel(f"local time ({d.tz})")
    ax2.xaxis_date()
    ax2.set_xlim(xn[0], xn[-1])
    _time_axis(ax2, (d.to_ms - d.from_ms) / 3_600_000)
    return _svg(fig)


def peridose(a: Analysis) -> str:
    c = a.peridose
    p = a.params
    if c is None:
        what = f"fewer than 3 logged {a.conc_route} doses" if a.data.dose_t.size else "no baclofen doses logged"
        raise NoFigure(f"{what} with device signal after them in this period; it appears with at "
                       "least 3 logged doses and signal in the hours after them")
    if not np.isfinite(c.y).any():
        raise NoFigure(f"every {p.bin_min}-min bin after a dose has less than {p.min_bin_exposure_h:g} h "
                       f"of good signal (at most {float(np.max(c.exposure_h)):.1f} h); each bin needs "
                       f"signal after several doses, so about {_days_needed(a, c):.0f} days of "
                       "recording with logged doses would fill them")
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    _band(ax, c, "dosing interval")
    ax.plot(c.x, c.y, "o-", color=C_RATE, ms=3, lw=1.2, label="event rate")
    pre = a.pre_dose_rate
    if np.isfinite(pre[0]):
        ax.axhline(pre[0], color="#777", ls="--", lw=0.8,
                   label=f"last {a.params.pre_dose_min} min before next dose")
    if np.isfinite(a.return_h[0]):
        ax.axvline(a.return_h[0], color=C_DOSE, lw=0.9, label="spasms return (estimate)")
        if np.isfinite(a.return_h[1]):
            ax.axvspan(a.return_h[1], a.return_h[2], color=C_DOSE, alpha=0.12, lw=0)
    if np.isfinite(a.median_interval_h):
        ax.axvline(a.median_interval_h, color="#333", ls=":", lw=0.9, label="median logged interval")
    ax.set_xlabel(f"time since last {a.conc_route} dose (h)")
    ax.set_ylabel(RATE_LABEL)
    ax.set_ylim(bottom=0)
    _legend(ax, fontsize=7, frameon=False)
    return _svg(fig)


def _band(ax, c, cluster: str) -> None:
    """The bootstrap band, or (when no bin has a band of any width: every bin comes from a
    single cluster) a note in the plot saying so; never a legend entry for nothing."""
    ok = np.isfinite(c.lo) & np.isfinite(c.hi) & (c.hi > c.lo)
    if ok.any():
        ax.fill_between(c.x, c.lo, c.hi, color=C_BAND, lw=0, label="95% bootstrap interval")
    else:
        ax.text(0.99, 0.97, f"no interval: each point comes from one {cluster}", transform=ax.transAxes,
                ha="right", va="top", fontsize=7, color="#555")


def _days_needed(a: Analysis, c: Curve) -> float:
    """Days of recording (like this period's) after which the fullest bin of ``c`` (the
    peri-dose curve) reaches the exposure threshold: exposure per bin grows in proportion
    to the days recorded."""
    p = a.params
    days = (a.data.to_ms - a.data.from_ms) / 86_400_000
    best = max(float(np.max(c.exposure_h)), 1e-3)
    return float(min(90.0, max(days + 1, np.ceil(days * p.min_bin_exposure_h / best))))


def time_of_day(a: Analysis) -> str:
    c = a.tod
    if c is None or not np.isfinite(c.y).any():
        raise NoFigure("no good signal in this period; it appears once a device's records are synced")
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    p = a.params
    ax.axvspan(p.night_start_h, 24, color=C_NIGHT, lw=0)
    ax.axvspan(0, p.night_end_h, color=C_NIGHT, lw=0, label="night")
    _band(ax, c, "local day")
    ax.plot(c.x, c.y, "o-", color=C_RATE, ms=3, label="event rate")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel(f"local hour of day ({a.data.tz})")
    ax.set_ylabel(RATE_LABEL)
    ax.set_ylim(bottom=0)
    _legend(ax, fontsize=7, frameon=False)
    return _svg(fig)


def concentration_response(a: Analysis) -> str:
    r = a.cr
    if not r.get("ok"):
        why = r.get("error")
        raise NoFigure((f"the Emax fit did not converge ({why}); " if why else
                        "too little signal or no logged doses for a concentration-response fit; ")
                       + "it needs at least about 4 h of signal with logged doses")
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    if r.get("ok"):
        ax.errorbar(r["bin_c"], r["bin_rate"], yerr=[r["bin_rate"] - r["bin_lo"], r["bin_hi"] - r["bin_rate"]],
                    fmt="o", ms=3, color=C_RATE, lw=0.8, label="observed (time-of-day adjusted)")
        ax.fill_between(r["grid"], r["fit_lo"], r["fit_hi"], color=C_BAND, lw=0, label="95% band of the fit")
        ax.plot(r["grid"], r["fit"], color=C_DOSE, lw=1.3, label="Emax fit")
    ax.set_xlabel(f"model {a.conc_route} baclofen concentration ({r.get('conc_unit', 'µg/L')})")
    ax.set_ylabel(RATE_LABEL)
    ax.set_ylim(bottom=0)
    _legend(ax, fontsize=7, frameon=False)
    return _svg(fig)


def _day_edges(day_ids: np.ndarray) -> np.ndarray:
    """Matplotlib date numbers of the day boundaries (len(days) + 1)."""
    e = np.append(day_ids, day_ids[-1] + 1).astype("datetime64[D]")
    return mdates.date2num(e)


def daily_scores(a: Analysis) -> str:
    d, cov, ds = a.data, a.coverage, a.daily
    if not np.any(cov["covered_h"] > 0):
        raise NoFigure("no good signal on any day of this period; it appears once a device's "
                       "records are synced")
    edges = _day_edges(cov["day_ids"])
    x = (edges[:-1] + edges[1:]) / 2
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 3.6), sharex=True)
    ax.stairs(np.nan_to_num(ds["spasms_per_24h"]), edges, fill=True, color=C_RATE)
    for xi, v in zip(x, ds["spasms_per_24h"]):
        if not np.isfinite(v):
            ax.text(xi, 0.04, f"< {a.params.snow_min_cov_h:g} h signal", ha="center", va="bottom",
                    rotation=90, fontsize=7, color="#777", transform=ax.get_xaxis_transform())
    ax.set_ylabel("spasms* / 24 h\n(scaled to signal)")
    ax2.plot(x, ds["psfs"], "s", ms=4, color=C_DOSE, label="PSFS-equivalent (0-4)")
    ax2.plot(x, ds["snow"], "o", ms=3, color="#2c7", label="Snow scale (1-5)")
    ax2.set_ylim(-0.3, 5.5)
    ax2.set_yticks(range(0, 6))
    ax2.set_ylabel("score")
    _legend(ax2, fontsize=7, frameon=False, ncol=2, loc="lower left")
    ax2.set_xlabel(f"local day ({d.tz}); days without enough signal have no score; "
                   "*spasm and spasm-with-clonus events")
    ax2.xaxis_date()
    _day_axis(ax2, cov["day_ids"])
    return _svg(fig)


def _day_axis(ax, day_ids: np.ndarray) -> None:
    """One tick per local day (centred) up to 16 days, then the automatic date ticks."""
    if len(day_ids) <= 16:
        mids = (_day_edges(day_ids)[:-1] + _day_edges(day_ids)[1:]) / 2
        ax.set_xticks(mids, [np.datetime64(int(d), "D").astype(object).strftime("%a\n%d %b")
                             for d in day_ids], fontsize=7 if len(day_ids) > 8 else 8)
        ax.tick_params(axis="x", length=0)
    else:
        _time_axis(ax, len(day_ids) * 24.0)


def durations(a: Analysis) -> str:
    s = a.scats
    if sum(s[name]["n"] for name, _ in KIND_GROUPS) == 0:
        raise NoFigure("no events were recorded in this period")
    c1, c2 = a.params.scats_cuts_s
    labels = [f"< {c1:g} s", f"{c1:g}-{c2:g} s", f"> {c2:g} s"]
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    xs = np.arange(3)
    cols = (C_RATE, C_DOSE, "#8e44ad")
    for k, ((name, _), col) in enumerate(zip(KIND_GROUPS, cols)):
        v = [s[name]["lt"], s[name]["mid"], s[name]["gt"]]
        ax.bar(xs + (k - 1) * 0.27, v, width=0.27, color=col,
               label=f"{name} (n={s[name]['n']})")
    ax.set_xticks(xs, labels)
    ax.set_xlabel("event duration (SCATS clonus cut-points)")
    ax.set_ylabel("events (episodes)")
    _legend(ax, fontsize=7, frameon=False)
    return _svg(fig)


def coverage(a: Analysis) -> str:
    cov = a.coverage
    edges = _day_edges(cov["day_ids"])
    fig, ax = plt.subplots(figsize=(10, 2.6))
    b = np.zeros(len(cov["day_ids"]))
    for key, col, lab in (("covered_h", "#7fbf7f", "good signal"), ("lost_h", "#f0ad4e", "lead-off / flat / railed"),
                          ("not_worn_h", "#bbb", "not worn"), ("no_data_h", "#e6e6e6", "no data (device off / not synced)")):
        ax.stairs(b + cov[key], edges, baseline=b, fill=True, color=col, label=lab)
        b = b + cov[key]
    ax.set_ylabel("hours")
    ax.set_ylim(0, 26)
    _legend(ax, fontsize=7, frameon=False, ncol=4, loc="upper left", bbox_to_anchor=(0, 1.2))
    ax.set_xlabel(f"local day ({a.data.tz})")
    ax.xaxis_date()
    _day_axis(ax, cov["day_ids"])
    return _svg(fig)


def tolerance(a: Analysis) -> str:
    rows = a.tolerance.get("weeks", [])
    wk = (a.cr or {}).get("weekly_ic50", [])
    if not rows and not wk:
        days = (a.data.to_ms - a.data.from_ms) / 86_400_000
        raise NoFigure(f"no week of this {days:.0f}-day period has enough doses with signal before "
                       "and after them (at least 5 doses, and 24 h of signal for the weekly IC50); "
                       "it appears with a week or more of recording and logged doses")
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 2.9))
    if rows:
        w = np.array([r[0] for r in rows]) + 1
        e = np.array([r[2] for r in rows]) * 100
        lo = np.array([r[3] for r in rows]) * 100
        hi = np.array([r[4] for r in rows]) * 100
        ax.errorbar(w, e, yerr=[e - lo, hi - e], fmt="o-", ms=4, color=C_RATE, lw=1)
    ax.axhline(0, color="#999", lw=0.6)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("week of the report period")
    p = a.params
    ax.set_ylabel(f"rate reduction {p.effect_post_h[0]:g}-{p.effect_post_h[1]:g} h after\n"
                  f"vs {p.pre_dose_min} min before a dose (%)")
    if wk:
        w2 = np.array([r[0] for r in wk]) + 1
        v = np.array([r[1] for r in wk])
        ax2.errorbar(w2, v, yerr=[v - np.array([r[2] for r in wk]), np.array([r[3] for r in wk]) - v],
                     fmt="s-", ms=4, color=C_DOSE, lw=1)
    ax2.set_ylim(bottom=0)
    ax2.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax2.set_xlabel("week of the report period")
    ax2.set_ylabel(f"IC50 refitted per week\n({(a.cr or {}).get('conc_unit', 'µg/L')}, model)")
    fig.tight_layout()
    return _svg(fig)


FIGURES = (("timeline", "Events per hour aligned with doses", timeline),
           ("peridose", "Event rate against time since the last dose", peridose),
           ("timeofday", "Event rate by local time of day", time_of_day),
           ("cr", "Concentration-response (model concentration)", concentration_response),
           ("tolerance", "Effect per dose and concentration needed, by week", tolerance),
           ("daily", "Daily spasm counts and scale equivalents", daily_scores),
           ("durations", "Event durations at the SCATS cut-points", durations),
           ("coverage", "Signal coverage per day", coverage))


def render_all(a: Analysis) -> dict[str, tuple[str | None, str | None]]:
    """{key: (svg, None)} for drawn figures, {key: (None, reason)} for those not drawn."""
    out: dict[str, tuple[str | None, str | None]] = {}
    for key, _, fn in FIGURES:
        try:
            out[key] = (fn(a), None)
        except NoFigure as exc:
            plt.close("all")
            out[key] = (None, str(exc))
    return out
