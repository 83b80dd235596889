"""The clinician report as one self-contained HTML file (inline CSS, inline SVG plots).

It states what was measured, with uncertainty, units and the time zone; it gives no dosing
advice, and labels figures a reader could take as advice.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import select

from .. import __version__, firmware
from .. import records as rec
from ..analysis.core import KIND_GROUPS, POOR_IMAX_SPAN, POOR_RATIO, Analysis
from ..analysis.tzutil import fmt_local
from ..store import Store
from ..store import schema as s
from . import plots

DISCLAIMER = ("This report describes what the sensor measured and what a pharmacokinetic model "
              "estimates. It contains no dosing advice: timing figures describe the logged doses "
              "as taken, and model concentrations are estimates, not measured drug levels. Any "
              "change of therapy is a clinical decision.")


def _e(x) -> str:
    return html.escape(str(x))


def _ci(t, fmt="{:.1f}", unit="") -> str:
    v, lo, hi = t
    if not np.isfinite(v):
        return "not estimable"
    u = f" {unit}" if unit else ""
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{fmt.format(v)}{u} (95% CI {fmt.format(lo)} to {fmt.format(hi)})"
    return f"{fmt.format(v)}{u} (interval not estimable)"


def _detconfig():
    return firmware.core("detconfig")


def config_rows(store: Store, patient: str, versions: list[int]) -> list[tuple]:
    """(config_version, key, name, value, unit, origin) of the detector thresholds used:
    from CONFIG records the devices sent, else the release defaults of that version."""
    dc = _detconfig()
    docs = firmware.detconfig_docs()
    meta = {p[0]: (p[1], docs.get(p[0], ""), p[2]) for p in getattr(dc, "PARAMS", ())}
    with store.engine.connect() as c:
        dids = sorted({w[0] for w in store.device_windows(patient)})
        frames = [r[0] for r in c.execute(select(s.records.c.frame).where(
            s.records.c.device_id.in_(dids), s.records.c.rtype == rec.TYPE_CONFIG))]
    got: dict[tuple[int, int], int] = {}
    for fr in frames:
        f = rec.decode_frame(bytes(fr)).fields
        got[(f["config_version"], f["key"])] = f["value"]
    rows = []
    for v in versions:
        keys = sorted(k for (cv, k) in got if cv == v)
        if keys:
            for k in keys:
                n, unit, _ = meta.get(k, (f"key {k}", "", None))
                rows.append((v, k, n, got[(v, k)], unit, "sent by device"))
        elif dc is not None and getattr(dc, "CONFIG_VERSION", None) == v:
            for k, (n, unit, default) in sorted(meta.items()):
                rows.append((v, k, n, default, unit, "release default"))
        else:
            rows.append((v, "", "(values not received from the device)", "", "", ""))
    return rows


def _nadir_text(a: Analysis, shown: bool) -> str:
    if not shown:
        return "not shown (the peri-dose figure is not drawn; Dose timing says why)"
    if not np.isfinite(a.nadir[1]):
        return "not estimable"
    if not a.dip_outside_band:
        return (f"no dip beyond the uncertainty (lowest {a.nadir[1]:.2f} at {a.nadir[0]:.1f} h lies "
                "within the bootstrap band of the pre-dose rate)")
    return f"{a.nadir[1]:.2f} at {a.nadir[0]:.1f} h"


def _return_text(a: Analysis, shown: bool) -> str:
    if not shown:
        return "not shown (the peri-dose figure is not drawn; Dose timing says why)"
    if np.isfinite(a.nadir[1]) and not a.dip_outside_band:
        return "not reported: the post-dose dip lies within the bootstrap band"
    return _ci(a.return_h, "{:.1f}", "h after the dose")


def _amount_text(ug: float, route: str) -> str:
    if not np.isfinite(ug):
        return "unknown (button press only)"
    return f"{ug / 1000:g} mg" if route == "oral" and ug >= 1000 else f"{ug:g} µg"


def dose_list_table(a: Analysis) -> str:
    """Every dose of the period in local time with its amount, and whether the baclofen
    model used it (and why not)."""
    d = a.data
    rows = []
    for t, ug, route, src in zip(d.dose_t, d.dose_ug, d.dose_route, d.dose_source):
        if not d.from_ms <= t < d.to_ms:
            continue
        used = (route == "oral") == (a.conc_route == "oral")
        rows.append((int(t), fmt_local(int(t), d.tz), "baclofen", _amount_text(float(ug), str(route)),
                     str(route).replace("_", " "), str(src),
                     "yes" if used else f"no: the model uses the {a.conc_route} doses of this period"))
    for o in d.other_doses:
        rows.append((int(o["taken_utc_ms"]), fmt_local(int(o["taken_utc_ms"]), d.tz), o["drug"],
                     f"{o['amount']:g} {'µg' if o['unit'] == 'ug' else o['unit']}",
                     str(o["route"]).replace("_", " "), str(o["source"]),
                     "no: the model describes baclofen only; other drugs are listed as logged"))
    if not rows:
        return '<p class="meta">No doses logged in this period.</p>'
    rows.sort()
    limit = 400
    body = [r[1:] for r in rows[:limit]]
    more = (f'<p class="meta">... and {len(rows) - limit} more (all are in the CSV and FHIR exports).</p>'
            if len(rows) > limit else "")
    return _table(("taken (local time)", "drug", "amount", "route", "entered via", "in the baclofen model"),
                  body) + more


def _win_text(d) -> str:
    w = sorted({int(x) for x in d.sm_win_s})
    if not w:
        return "(none received)"
    return "/".join(f"{x / 60:g}-minute" for x in w)


def methods_paragraph(a: Analysis) -> str:
    p, d = a.params, a.data
    pk = p.oral_pk.describe() if a.conc_route == "oral" else p.itb_pk.describe()
    return (
        f"Spasm and clonus events were detected on the device (detector configuration version(s) "
        f"{', '.join(map(str, d.config_versions)) or 'unknown'}; thresholds in the appendix) and placed in "
        f"UTC through the device's time anchors (device clock = sample count; anchors that disagreed "
        f"with the device clock by more than 2 s plus 200 ppm drift were rejected). Rates are events "
        f"per hour of good signal, the denominator being the good-signal time of the device's "
        f"{_win_text(d)} summary windows, so time not worn, with lead-off or with the device off lowers "
        f"the exposure, not the rate (good-signal hours are device time: a window counts once "
        f"however many channels it covers, and never more than the period). The device detects "
        f"events on each EMG channel separately; EVENT records of one device on different "
        f"channels whose intervals overlap or lie at most {d.episode_gap_ms / 1000:g} s apart are "
        f"one episode (onset the earliest, end the latest, peak the largest, spasm with clonus if "
        f"it has a tonic and a clonic part), and every count, rate, scale equivalent, duration and "
        f"fit below counts episodes. Spasm rate against time since the last "
        f"{'oral dose' if a.conc_route == 'oral' else 'intrathecal bolus'} uses {p.bin_min}-minute bins up to "
        f"{p.max_h:g} h (bins with less than {p.min_bin_exposure_h:g} h of signal are not shown); 95% "
        f"intervals are percentile bootstraps ({p.n_boot} resamples) over dosing intervals. The "
        f"pre-dose reference is the last {p.pre_dose_min} minutes before the next dose; spasms are said "
        f"to return when the rate has climbed {p.return_fraction:.0%} of the way from its post-dose "
        f"minimum back to that reference (both read from the curve smoothed over three bins); no "
        f"minimum or return time is reported unless the pre-dose rate exceeds the minimum in at least "
        f"97.5% of the bootstrap replicates. Event rates count every kind (spasm, clonus, spasm with "
        f"clonus); the spasm scales count spasm and spasm-with-clonus events. Time-of-day rates use local hours in {d.tz} (daylight-saving "
        f"aware) with bootstraps over days; nights are {p.night_start_h:02d}:00-{p.night_end_h:02d}:00 local. "
        f"Concentrations come from a {pk}; they are model estimates, not measurements. The "
        f"concentration-response fit is an inhibitory Emax model (rate = E0 x (1 - Imax x C/(IC50 + C))) "
        f"with a 24-hour harmonic for the time-of-day pattern, fitted by weighted least squares "
        f"with Poisson variances on cells of concentration x local hour, on the scale log E0, logit Imax, "
        f"log IC50 so that every interval stays in its parameter's range (E0 and IC50 above 0, Imax "
        f"within 0-100 %); 95% intervals come from the covariance on that scale, inflated for "
        f"over-dispersion, and are labelled poorly determined when the upper end exceeds "
        f"{POOR_RATIO:g} times the lower (E0, IC50), Imax's spans more than {POOR_IMAX_SPAN:.0%} or "
        f"an interval reaches the fit's search range. The per-dose effect compares the rate "
        f"{p.effect_post_h[0]:g}-{p.effect_post_h[1]:g} h after each dose with the {p.pre_dose_min} minutes "
        f"before it, pooled per week; its trend is a weighted regression of the log rate ratio on "
        f"week. IC50 is also refitted per week (at least 24 h of signal) with E0, Imax and the "
        f"time-of-day factor held at the whole-period fit; its trend is a weighted regression of "
        f"log IC50 on week, reported as % per week. Scale equivalents: the PSFS-equivalent uses each local calendar day (window "
        f"00:00-24:00) and the rate of spasm events per hour of signal (0 none, 2 fewer than 1/h, 3 "
        f"1-10/h, 4 more than 10/h; level 1, spasms only on stimulation, cannot be measured by the "
        f"sensor), only on days with at least {p.psfs_min_cov_h:g} h of signal; the Snow scale uses the "
        f"day's count scaled to 24 h of signal, only with at least {p.snow_min_cov_h:g} h. Durations are "
        f"binned at the SCATS clonus cut-points ({p.scats_cuts_s[0]:g} s and {p.scats_cuts_s[1]:g} s); "
        f"SCATS scores flexor and extensor spasms by joint angle, which this sensor does not "
        f"measure, so spasm durations are shown in the same bins for information only.")


def _channel_text(d) -> str:
    """'channel 0: 40, channel 1: 44' from the per-record detail (records, not episodes)."""
    if d.rec_channel.size == 0:
        return "-"
    ch, n = np.unique(d.rec_channel, return_counts=True)
    return ", ".join(f"channel {int(c)}: {int(k)}" for c, k in zip(ch, n)) + f" ({d.ev_t.size} episodes)"


def _table(headers, rows) -> str:
    h = "".join(f"<th>{_e(x)}</th>" for x in headers)
    b = "".join("<tr>" + "".join(f"<td>{_e(x)}</td>" for x in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1060px;margin:1.5em auto;
color:#222;line-height:1.4;font-size:14px;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}
.meta{color:#555}.disclaimer{background:#fff6e0;border:1px solid #e8c77a;padding:.6em .9em;border-radius:4px}
table{border-collapse:collapse;margin:.5em 0;font-size:12.5px}td,th{border:1px solid #ddd;padding:3px 7px;text-align:left}
th{background:#f4f4f4}figure{margin:.8em 0;page-break-inside:avoid}figcaption{font-size:12.5px;color:#444}
figure svg{max-width:100%;height:auto}.label{font-size:12px;color:#8a4b00}
.notes li{margin:.2em 0}@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}}
.nofig{border:1px dashed #bbb;background:#fafafa;color:#444;padding:1em 1.2em;font-size:13px;border-radius:4px}
.nodata{background:#fdecea;border:1px solid #e6a39b;padding:.6em .9em;border-radius:4px}
.poor{color:#8a4b00;font-weight:600}.appendix{page-break-before:always}
.appendix table{font-size:10px}.appendix td,.appendix th{padding:1px 4px}
"""


def page_css(patient: str, tz: str) -> str:
    """Paper size by the patient's locale (US Letter in the Americas' Letter countries, A4
    elsewhere) and, on every printed page, the patient's code and 'page n of m'."""
    size = "Letter" if paper_for_zone(tz) == "Letter" else "A4"
    pid = patient.replace("\\", "\\\\").replace('"', '\\"')
    return ("@page{size:" + size + ";margin:16mm 14mm 16mm 14mm;"
            "@bottom-left{content:\"spasmtrack report, patient " + pid + "\";" + _MARGIN_FONT + "}"
            "@bottom-right{content:\"page \" counter(page) \" of \" counter(pages);" + _MARGIN_FONT + "}}")


_MARGIN_FONT = "font-family:system-ui,sans-serif;font-size:9px;color:#555"


#: Zones whose countries print on US Letter (US, Canada, Mexico, Philippines, Chile,
#: Colombia, Venezuela and much of Central America); A4 elsewhere.
_LETTER_PREFIXES = ("America/", "US/", "Canada/", "Asia/Manila", "Pacific/Honolulu")
_A4_AMERICAS = ("America/Sao_Paulo", "America/Argentina", "America/Buenos_Aires", "America/Lima",
                "America/Montevideo", "America/Asuncion", "America/La_Paz", "America/Guayaquil",
                "America/Cayenne", "America/Paramaribo", "America/Noronha", "America/Belem",
                "America/Fortaleza", "America/Recife", "America/Bahia", "America/Manaus")


def paper_for_zone(tz: str) -> str:
    """'Letter' or 'A4' for the patient's IANA zone."""
    if tz.startswith(_A4_AMERICAS):
        return "A4"
    return "Letter" if tz.startswith(_LETTER_PREFIXES) else "A4"

CHECK_JS = """
window.__errors=[];window.addEventListener('error',function(e){window.__errors.push(String(e.message))});
document.addEventListener('DOMContentLoaded',function(){var figs=document.querySelectorAll('figure[data-plot]');
var ok=0,ex=0;figs.forEach(function(f){var s=f.querySelector('svg');if(s){var b=s.getBoundingClientRect();
if(b.width>50&&b.height>50&&s.querySelectorAll('path,use,text').length>5)ok++;}
else{var n=f.querySelector('.nofig');if(n&&n.textContent.length>40&&n.getBoundingClientRect().height>20)ex++;}});
document.body.setAttribute('data-plots-total',figs.length);document.body.setAttribute('data-plots-ok',ok);
document.body.setAttribute('data-plots-explained',ex);
document.body.setAttribute('data-js-errors',window.__errors.length);});
"""


def render(a: Analysis, store: Store, *, generated_utc_ms: int | None = None) -> str:
    d, p = a.data, a.params
    figs = plots.render_all(a)
    gen = generated_utc_ms or int(datetime.now(timezone.utc).timestamp() * 1000)
    f_loc = fmt_local(d.from_ms, d.tz)
    t_loc = fmt_local(d.to_ms, d.tz)
    cov = a.coverage
    cr = a.cr
    has_signal = cov["total_covered_h"] > 0
    kinds = ", ".join(f"{int(np.isin(d.ev_kind, ks).sum())} {name}" for name, ks in KIND_GROUPS)
    peri_shown = figs["peridose"][0] is not None
    summary_rows = [
        ("events recorded", f"{d.ev_t.size} ({kinds})"
         + (f"; from {d.rec_t.size} per-channel records" if d.rec_t.size != d.ev_t.size else ""),
         "episodes (channels grouped)"),
        ("good signal", f"{cov['total_covered_h']:.1f} of {cov['total_h']:.0f} h "
                        f"({100 * cov['total_covered_h'] / max(cov['total_h'], 1e-9):.0f}%)", "hours"),
        ("overall rate", f"{d.ev_t.size / cov['total_covered_h']:.2f}" if has_signal else
         "not measured (no good signal)", "events per hour of signal"),
        ("night rate", _ci((a.night.get("rate", np.nan), a.night.get("lo", np.nan), a.night.get("hi", np.nan)), "{:.2f}")
         + f"; day {_ci((a.night.get('day_rate', np.nan), a.night.get('day_lo', np.nan), a.night.get('day_hi', np.nan)), '{:.2f}')}",
         "events per hour of signal"),
        ("rate in the last hour before a dose", _ci(a.pre_dose_rate, "{:.2f}"), "events per hour of signal"),
        ("lowest rate after a dose", _nadir_text(a, peri_shown), "events per hour, h after dose"),
        ("spasms return (see note)", _return_text(a, peri_shown), "hours"),
        ("median logged dosing interval", f"{a.median_interval_h:.1f}" if np.isfinite(a.median_interval_h) else "n/a", "hours"),
    ]
    if cr.get("ok"):
        poor = set(cr.get("poorly_determined", ()))

        def em(key, t, fmt):
            txt = _ci(t, fmt)
            return txt + (" - poorly determined: the data do not pin this value down" if key in poor else "")
        summary_rows += [
            ("Emax fit: E0 (rate without drug)", em("e0_per_h", cr["e0_per_h"], "{:.1f}"), "events per hour"),
            ("Emax fit: Imax (largest reduction)", em("imax", tuple(100 * x for x in cr["imax"]), "{:.0f}"), "%"),
            ("Emax fit: IC50", em("ic50", cr["ic50"], "{:.0f}"), cr["conc_unit"] + " (model concentration)"),
        ]
    if "ic50_pct_per_week" in a.tolerance:
        t = a.tolerance
        summary_rows.append(("IC50 change per week (> 0: more drug needed for the same reduction)",
                             _ci((t["ic50_pct_per_week"], t["ic50_pct_lo"], t["ic50_pct_hi"]), "{:+.1f}"),
                             "% per week"))
    if "slope_lrr_per_week" in a.tolerance:
        t = a.tolerance
        summary_rows.append(("effect trend (log rate ratio per week; > 0 = smaller effect)",
                             _ci((t["slope_lrr_per_week"], t["slope_lo"], t["slope_hi"]), "{:+.3f}"), "per week"))

    sec = []
    sec.append("<h2>Summary of measurements</h2>" + _table(("measure", "value", "unit"), summary_rows))
    sec.append('<p class="label">Note: "spasms return" is the observed time after the logged doses '
               "at which the spasm rate climbs back halfway to its pre-dose level. It describes "
               "this period's data; it is not a recommended dosing interval.</p>")

    def fig(key, title, caption, label=None):
        svg, why = figs[key]
        if svg is None:
            return (f'<figure id="plot-{key}" data-plot="{key}" data-missing="1"><h3>{_e(title)}</h3>'
                    f'<div class="nofig"><strong>Not shown:</strong> {_e(why)}.</div></figure>')
        lab = f'<p class="label">{_e(label)}</p>' if label else ""
        return (f'<figure id="plot-{key}" data-plot="{key}"><h3>{_e(title)}</h3>{svg}'
                f"<figcaption>{_e(caption)}</figcaption>{lab}</figure>")

    titles = {k: t for k, t, _ in plots.FIGURES}
    sec.append("<h2>Timeline</h2>" + fig("timeline", titles["timeline"],
               f"Events per hour of good signal (hours with less than 15 min of signal are blank), "
               f"logged doses as ticks, button presses as triangles; lower panel: hours of good "
               f"signal per hour. Local time, {d.tz}."))
    sec.append("<h2>Dose timing</h2>" + fig("peridose", titles["peridose"],
               f"Rate in {p.bin_min}-min bins after each logged {a.conc_route} dose with 95% bootstrap "
               f"interval over dosing intervals; late bins mostly come from the longest (overnight) interval.",
               "Observed timing only; not a recommendation to change dose times."))
    night_rate = a.night.get("rate", np.nan)
    tod_caption = (f"Night ({p.night_start_h:02d}:00-{p.night_end_h:02d}:00): "
                   f"{_ci((night_rate, a.night.get('lo', np.nan), a.night.get('hi', np.nan)), '{:.2f}')} "
                   f"events/h over {a.night.get('n_nights', 0)} night(s)"
                   + (f"; per {a.night.get('span_h', 9)} h night that is {night_rate * a.night.get('span_h', 9):.0f} events."
                      if np.isfinite(night_rate) else "."))
    sec.append(fig("timeofday", titles["timeofday"], tod_caption))
    cr_cap = ("Points: observed rate per concentration bin (adjusted for the fitted time-of-day "
              "pattern) with Poisson 95% intervals; line and band: Emax fit and its 95% band.")
    if cr.get("ok"):
        cr_cap += (f" Time-of-day factor amplitude {cr['circadian_amp']:.2f}, peak near "
                   f"{cr['circadian_peak_h']:.0f}:00 local. Fit quality chi2/dof {cr['chi2_dof']:.2f}.")
        if cr.get("poorly_determined"):
            cr_cap += (" The fit is poorly determined (wide intervals, see the summary): read the "
                       "points, not the curve.")
    sec.append("<h2>Concentration and response</h2>" + fig(
        "cr", titles["cr"], cr_cap,
        "Concentrations are model estimates from the logged doses and literature parameters, not "
        "measured drug levels; the fit describes this patient's data, not a target level."))
    red = {r[0]: (r[1], f"{100 * r[2]:.0f}% ({100 * r[3]:.0f} to {100 * r[4]:.0f})")
           for r in a.tolerance.get("weeks", [])}
    ic = {r[0]: f"{r[1]:.0f} ({r[2]:.0f} to {r[3]:.0f})" for r in (cr.get("weekly_ic50") or [])}
    tol_rows = [(f"week {w + 1}", red.get(w, ("-", "-"))[0], red.get(w, ("-", "-"))[1], ic.get(w, "-"))
                for w in sorted(set(red) | set(ic))]
    sec.append("<h2>Effect over weeks</h2>" + fig("tolerance", titles["tolerance"],
                   "Left: reduction of the event rate after doses compared with just before them, pooled "
                   "per week (95% interval; model-free). Right: IC50 refitted each week with the other "
                   "Emax parameters held at the whole-period fit (95% interval); a rising IC50 can "
                   "reflect tolerance, but also changes in activity, illness or dose timing.",
                   "Descriptive trend only; not a recommendation to change the dose.") +
               (_table(("week", "doses", "rate reduction after dose (95% CI)",
                        f"IC50, {cr.get('conc_unit', 'µg/L')} (95% CI)"), tol_rows)
                if tol_rows and figs["tolerance"][0] is not None else ""))
    day_rows = []
    for i, day in enumerate(cov["day_ids"]):
        ds = a.daily
        inp = cov.get("day_in_period_h", cov["day_len_h"])[i]
        dl = f"{cov['day_len_h'][i]:g}" + (f" ({inp:.1f} in period)" if inp < cov["day_len_h"][i] - 1e-6 else "")
        day_rows.append((str(np.datetime64(int(day), "D")), dl,
                         f"{cov['covered_h'][i]:.1f}", int(ds["n_spasms"][i]),
                         "-" if not np.isfinite(ds["spasms_per_24h"][i]) else f"{ds['spasms_per_24h'][i]:.0f}",
                         "-" if not np.isfinite(ds["psfs"][i]) else int(ds["psfs"][i]),
                         "-" if not np.isfinite(ds["snow"][i]) else int(ds["snow"][i])))
    sec.append("<h2>Daily scores</h2>" + fig(
        "daily", titles["daily"],
        f"PSFS-equivalent per local calendar day (needs {p.psfs_min_cov_h:g} h of signal), Snow scale "
        f"per 24 h (count scaled to 24 h of signal, needs {p.snow_min_cov_h:g} h). Both are sensor "
        "equivalents of patient-reported scales, not the scales themselves.") +
        "<h3>Per day</h3>" + _table(
            ("local day", "day length h", "signal h", "spasms*", "spasms*/24 h", "PSFS-eq", "Snow"), day_rows)
        + "<p class=\"meta\">*spasm and spasm-with-clonus events (clonus alone is not a spasm on "
          "these scales).</p>")
    sc = a.scats
    med = "; ".join(f"{name}: median {sc[name]['median_s']:.1f} s, 90th percentile {sc[name]['p90_s']:.1f} s"
                    for name, _ in KIND_GROUPS if sc[name]["n"])
    sec.append("<h2>Durations</h2>" + fig(
        "durations", titles["durations"],
        f"Episodes by kind ({med}). SCATS scores spasms by joint angle, which is not measured here."))
    q_rows = [("days in period", len(cov["day_ids"])),
              ("device reboots (all causes)", d.reboots),
              ("reset causes (count)", ", ".join(f"{k}: {v}" for k, v in sorted(d.reset_causes.items())) or "-"),
              ("EVENT records per channel (grouped into episodes)", _channel_text(d)),
              ("episodes seen on more than one channel",
               int((d.ev_n_records > 1).sum()) if d.ev_n_records is not None else "-"),
              ("events flagged (counted in every figure)", ", ".join(
                  f"{name}: {int(((d.ev_flags & bit) != 0).sum())}" for bit, name in (
                      (rec.FLAG_CLIPPED, "clipped"), (rec.FLAG_MOTION, "motion nearby"),
                      (rec.FLAG_PARTIAL_LEADOFF, "partial lead-off"),
                      (rec.FLAG_TRUNCATED, "truncated by shutdown"),
                      (rec.FLAG_NEAR_THRESHOLD, "near threshold")))),
              ("device faults logged (cause: count)", ", ".join(f"{k}: {v}" for k, v in sorted(d.faults.items())) or "none"),
              ("events that could not be placed in time", d.unplaced_events),
              ("time anchors rejected (host clock jumps)", d.rejected_anchors),
              ("dropped samples (sampler overruns)", cov["dropped_samples"]),
              ("devices", ", ".join(d.devices) or "-"),
              ("firmware versions", ", ".join(f"{v >> 8}.{v & 0xFF}" for v in d.fw_versions) or "-")]
    sec.append("<h2>Coverage and data quality</h2>" + fig(
        "coverage", titles["coverage"], "Hours per local day with good signal, lost signal, not worn, "
        "and without data.") + _table(("item", "value"), q_rows))
    ds = a.dosing
    dose_rows = [("doses used (route)", f"{ds.get('n_in_range', 0)} ({ds.get('route', '-')})"),
                 ("entered by source", ", ".join(f"{k}: {v}" for k, v in ds.get("sources", {}).items()) or "-"),
                 ("'dose taken' button presses", f"{ds.get('button_marks', 0)} ({ds.get('unmatched_marks', 0)} without a logged dose)"),
                 ("'felt a spasm' button presses", int(d.mark_felt_t.size)),
                 ("intervals longer than usual for their time of day", ds.get("n_long_intervals", 0)),
                 ("doses entered more than 24 h after being taken", d.dose_late_entries),
                 ("dose entries corrected / retracted (kept in the audit log)",
                  f"{d.dose_corrected} / {d.dose_retracted}")]
    for pr in d.pumps:
        end = fmt_local(pr["valid_to_utc_ms"], d.tz) if pr["valid_to_utc_ms"] else "open"
        sched = ", ".join(f"{a_} {b_:g} µg/day" for a_, b_ in pr["steps"])
        dose_rows.append((f"pump program #{pr['id']}", f"{fmt_local(pr['valid_from_utc_ms'], d.tz)} to {end}: {sched}"))
    long_rows = [(fmt_local(t, d.tz), f"{h:.1f}") for t, h in ds.get("long_intervals", [])[:30]]
    sec.append("<h2>Doses as logged</h2>" + _table(("item", "value"), dose_rows) +
               "<h3>Every dose in the period</h3>" + dose_list_table(a) +
               (("<p>Longer intervals (start, hours):</p>" + _table(("interval starts", "hours"), long_rows))
                if long_rows else ""))
    sec.append("<h2>Methods</h2><p>" + _e(methods_paragraph(a)) + "</p>")
    notes = a.notes or ["none"]
    sec.append('<h2>Notes on the data</h2><ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    cfg = config_rows(store, d.patient, d.config_versions)
    sec.append('<section class="appendix"><h2>Appendix: detector thresholds and versions</h2>' + (_table(
        ("config version", "key", "parameter", "value", "unit / meaning", "origin"), cfg) if cfg else
        '<p class="meta">No detector configuration to list: no device data in this period.</p>')
        + "</section>")

    head = (f"<h1>spasmtrack report: patient {_e(d.patient)}</h1>"
            f'<p class="meta">Period from {_e(f_loc)} up to (not including) {_e(t_loc)} (time zone {_e(d.tz)}; all times local '
            f"unless marked UTC). Generated {_e(datetime.fromtimestamp(gen / 1000, timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))} "
            f"by spasmtrack {_e(__version__)}; detector config version(s) "
            f"{_e(', '.join(map(str, d.config_versions)) or 'unknown')}.</p>"
            f'<p class="disclaimer"><strong>Measurements, not advice.</strong> {_e(DISCLAIMER)}</p>')
    if not has_signal:
        head += ('<p class="nodata"><strong>No device data in this period.</strong> Nothing was measured: '
                 f"no good signal was synced from a device assigned to patient {_e(d.patient)} between "
                 f"{_e(f_loc)} and {_e(t_loc)} (device not worn, not synced, or assigned to another "
                 "patient). The figures below say what they need; doses and button presses are still listed.</p>")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>spasmtrack report {_e(d.patient)}</title>"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<style>{CSS}{page_css(d.patient, d.tz)}</style><script>{CHECK_JS}</script></head><body>"
            + head + "".join(sec) + "</body></html>")
