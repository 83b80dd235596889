"""Dose-timing analyses on :class:`~.data.PatientData` (numpy/scipy, vectorised).

Rates are always events per hour of GOOD SIGNAL (``covered_ds`` of the device's summary
windows), so gaps in wear, lead-off and a device switched off lower the exposure rather
than the rate. Confidence intervals are percentile bootstraps over clusters (dose
intervals, local days or nights), which keeps the correlation of spasms within a cluster.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import curve_fit

from .. import records
from .data import PatientData, pump_rate_fn
from .pk import ItbPK, OralPK, itb_concentration, oral_concentration
from .tzutil import DAY_MS, HOUR_MS, local_day_and_hour, local_midnight_utc_ms

SPASM_KINDS = (records.KIND_SPASM, records.KIND_SPASM_WITH_CLONUS)
CLONUS_KINDS = (records.KIND_CLONUS, records.KIND_SPASM_WITH_CLONUS)
#: The one grouping of event kinds every count, table and figure of the report uses.
KIND_GROUPS = (
    ("spasm", (records.KIND_SPASM,)),
    ("clonus", (records.KIND_CLONUS,)),
    ("spasm with clonus", (records.KIND_SPASM_WITH_CLONUS,)),
)


@dataclass(frozen=True)
class Params:
    """Every parameter the analysis uses (all reported in the methods paragraph)."""

    bin_min: int = 30                 # peri-dose bin width, minutes
    max_h: float = 12.0               # peri-dose curve up to this time after a dose, h
    min_bin_exposure_h: float = 2.0   # bins with less good signal are not shown, h
    n_boot: int = 1000
    seed: int = 0
    night_start_h: int = 22           # local
    night_end_h: int = 7              # local
    psfs_min_cov_h: float = 4.0       # PSFS-equivalent needs this much signal in the day
    snow_min_cov_h: float = 12.0      # Snow per 24 h needs this much (count scaled to 24 h)
    scats_cuts_s: tuple[float, float] = (3.0, 10.0)
    return_fraction: float = 0.5      # spasms 'return' at this fraction from nadir to pre-dose
    pre_dose_min: int = 60            # pre-dose reference window, minutes before a dose
    effect_post_h: tuple[float, float] = (1.0, 3.0)   # post-dose window for per-dose effect
    mark_match_min: int = 60          # a button press this close to a logged dose is that dose
    long_interval_factor: float = 1.5 # interval > factor x median: possible missed/late dose
    oral_pk: OralPK = OralPK()
    itb_pk: ItbPK = ItbPK()


@dataclass
class Curve:
    x: np.ndarray
    y: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    exposure_h: np.ndarray
    counts: np.ndarray


@dataclass
class Analysis:
    params: Params
    data: PatientData
    timeline_t: np.ndarray = field(default_factory=lambda: np.zeros(0))       # hour starts, UTC ms
    timeline_rate: np.ndarray = field(default_factory=lambda: np.zeros(0))    # /h of signal
    timeline_cov_h: np.ndarray = field(default_factory=lambda: np.zeros(0))
    peridose: Curve | None = None
    pre_dose_rate: tuple[float, float, float] = (np.nan, np.nan, np.nan)      # rate, lo, hi
    nadir: tuple[float, float, float] = (np.nan, np.nan, np.nan)              # time h, rate
    return_h: tuple[float, float, float] = (np.nan, np.nan, np.nan)           # est, lo, hi
    median_interval_h: float = np.nan
    return_before_next_h: tuple[float, float, float] = (np.nan, np.nan, np.nan)
    dip_outside_band: bool = False    # the post-dose nadir lies below the pre-dose level (95%)
    dip_lo: float = np.nan            # 2.5th percentile of (pre-dose rate - nadir rate), /h
    tod: Curve | None = None
    night: dict = field(default_factory=dict)
    cr: dict = field(default_factory=dict)
    tolerance: dict = field(default_factory=dict)
    daily: dict = field(default_factory=dict)
    scats: dict = field(default_factory=dict)
    coverage: dict = field(default_factory=dict)
    dosing: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    conc_route: str = "oral"


def _boot_weights(n: int, n_boot: int, rng) -> np.ndarray:
    """(n_boot, n) resampling counts: row b says how often each cluster is drawn in
    bootstrap replicate b (same law as a multinomial, faster to draw)."""
    idx = rng.integers(0, n, (n_boot, n))
    flat = (np.arange(n_boot)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(float)


def _ratio_boot(C: np.ndarray, X: np.ndarray, n_boot: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate = sum C / sum X over cluster rows, with percentile bootstrap over rows."""
    tot_c, tot_x = C.sum(0), X.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = tot_c / tot_x
        n = C.shape[0]
        if n < 2:
            return est, np.full_like(est, np.nan), np.full_like(est, np.nan)
        W = _boot_weights(n, n_boot, rng)
        bs = (W @ C) / (W @ X)
        lo, hi = np.nanpercentile(bs, [2.5, 97.5], axis=0)
    return est, lo, hi


def _mids(d: PatientData) -> tuple[np.ndarray, np.ndarray]:
    """Window mid-times (UTC ms) and good-signal hours of the windows with any signal."""
    cov_h = d.sm_cov_ds / 36_000.0
    keep = cov_h > 0
    return (d.sm_t + d.sm_win_s.astype(np.int64) * 500)[keep], cov_h[keep]


def analyse(d: PatientData, p: Params = Params()) -> Analysis:
    """Run every analysis the report shows."""
    a = Analysis(params=p, data=d)
    rng = np.random.default_rng(p.seed)
    import warnings
    warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
    mid, cov_h = _mids(d)
    _coverage(a, d, p)
    _timeline(a, d, mid, cov_h)
    doses_t, doses_ug = _dose_times(a, d, p)
    _peridose(a, d, p, mid, cov_h, doses_t, rng)
    _time_of_day(a, d, p, mid, cov_h, rng)
    _nights(a, d, p, mid, cov_h, rng)
    _concentration_response(a, d, p, mid, cov_h)
    _tolerance(a, d, p, mid, cov_h, doses_t)
    _daily_scores(a, d, p)
    _scats(a, d, p)
    return a


# ----------------------------------------------------------------------------- pieces
def _coverage(a: Analysis, d: PatientData, p: Params) -> None:
    days0 = int(local_day_and_hour(np.array([d.from_ms]), d.tz)[0][0])
    days1 = int(local_day_and_hour(np.array([d.to_ms - 1]), d.tz)[0][0])
    day_ids = np.arange(days0, days1 + 1)
    starts = np.array([local_midnight_utc_ms(int(x), d.tz) for x in day_ids] +
                      [local_midnight_utc_ms(int(day_ids[-1]) + 1, d.tz)], dtype=np.int64)
    day_len_h = np.diff(starts) / HOUR_MS                  # 23/24/25 h around DST changes
    # the part of each local day inside [from_ms, to_ms): a 24-h period starting at noon
    # touches two local days but lasts 24 h, not 48
    in_h = (np.minimum(starts[1:], d.to_ms) - np.maximum(starts[:-1], d.from_ms)).clip(0) / HOUR_MS
    if d.sm_t.size:
        di = np.searchsorted(starts, d.sm_t, side="right") - 1
        ok = (di >= 0) & (di < len(day_ids))
        win_ds = d.sm_win_s.astype(float) * 10
        def per_day(v):
            # a window never contributes more than its own length; a day never more than its
            # hours in the period (hours are device time, not summed over channels/devices)
            return np.minimum(np.bincount(di[ok], weights=np.minimum(v, win_ds)[ok],
                                          minlength=len(day_ids)) / 36_000.0, in_h)
        cov = per_day(d.sm_cov_ds.astype(float))
        lost = per_day(d.sm_lost_ds.astype(float))
        notworn = per_day(d.sm_notworn_ds.astype(float))
        rec = per_day(win_ds)
    else:
        cov = lost = notworn = rec = np.zeros(len(day_ids))
    a.coverage = dict(day_ids=day_ids, day_start_ms=starts[:-1], day_len_h=day_len_h, day_in_period_h=in_h,
                      covered_h=cov, lost_h=lost, not_worn_h=notworn, no_data_h=np.clip(in_h - rec, 0, None),
                      total_covered_h=float(cov.sum()), total_h=float((d.to_ms - d.from_ms) / HOUR_MS),
                      dropped_samples=int(d.sm_dropped.sum()))
    if d.summaries_dropped_dup:
        a.notes.append(f"{d.summaries_dropped_dup} summary window(s) were stored twice for the same "
                       "device time and counted once")
    if d.sm_t.size == 0 and d.ev_t.size == 0:
        a.notes.append("no synced device data in this period: nothing was measured (device not "
                       "worn, not synced, or assigned to another patient)")
    if d.unplaced_events:
        a.notes.append(f"{d.unplaced_events} event(s) recorded in a device boot without any time "
                       "anchor could not be placed in time and are not analysed")
    if d.rejected_anchors:
        a.notes.append(f"{d.rejected_anchors} time anchor(s) disagreed with the device clock by more "
                       "than drift explains (host clock jump) and were not used")
    if d.anchor_utc_ms.size:
        from .tzutil import utc_offset_ms
        zone_q = utc_offset_ms(d.anchor_utc_ms, d.tz) // 900_000
        # 0 is what a host that does not know its zone writes: not evidence of travel
        off = (d.anchor_tz_quarter_h != zone_q) & (d.anchor_tz_quarter_h != 0)
        if off.any():
            days_off = sorted({_day_str(int(x)) for x in (d.anchor_utc_ms[off] // DAY_MS)})
            shown = ", ".join(days_off[:5]) + (" ..." if len(days_off) > 5 else "")
            a.notes.append(f"on {len(days_off)} day(s) ({shown}) the phone that synced reported a UTC "
                           f"offset different from {d.tz} (travel?): event times are exact (UTC), "
                           f"but local-time figures use {d.tz} throughout")
        a.coverage["tz_mismatch_anchors"] = int(off.sum())
    dst = np.nonzero(np.abs(day_len_h - 24) > 0.01)[0]
    for i in dst:
        a.notes.append(f"local day {_day_str(int(day_ids[i]))} has {day_len_h[i]:g} h "
                       "(daylight-saving change); daily figures use its true length")


def _day_str(day: int) -> str:
    return str(np.datetime64(day, "D"))


def _timeline(a: Analysis, d: PatientData, mid: np.ndarray, cov_h: np.ndarray) -> None:
    h0 = d.from_ms - d.from_ms % HOUR_MS
    nh = int((d.to_ms - h0 + HOUR_MS - 1) // HOUR_MS)
    hi = ((mid - h0) // HOUR_MS).astype(np.int64)
    ok = (hi >= 0) & (hi < nh)
    cov = np.bincount(hi[ok], weights=cov_h[ok], minlength=nh)
    ei = ((d.ev_t - h0) // HOUR_MS).astype(np.int64)
    eok = (ei >= 0) & (ei < nh)
    cnt = np.bincount(ei[eok], minlength=nh).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(cov >= 0.25, cnt / cov, np.nan)
    a.timeline_t = h0 + np.arange(nh, dtype=np.int64) * HOUR_MS
    a.timeline_rate = rate
    a.timeline_cov_h = cov


def _dose_times(a: Analysis, d: PatientData, p: Params) -> tuple[np.ndarray, np.ndarray]:
    """Dose times for the peri-dose analysis: oral doses (or ITB boluses if no oral), plus
    'dose taken' button presses that match no logged dose (flagged)."""
    oral = d.dose_route == "oral"
    use = oral if oral.any() else (d.dose_route == "intrathecal_bolus")
    a.conc_route = "oral" if oral.any() else "intrathecal"
    if oral.any() and (d.pumps or (d.dose_route == "intrathecal_bolus").any()):
        a.notes.append("the patient has oral doses and intrathecal therapy in this period: dose "
                       "timing and the concentration model use the oral doses only")
    t, ug = d.dose_t[use], d.dose_ug[use]
    info: dict = {"n_logged": int(use.sum()), "route": a.conc_route,
                  "sources": {str(k): int(v) for k, v in zip(*np.unique(d.dose_source[use].astype(str), return_counts=True))} if use.any() else {}}
    unmatched = np.array([], dtype=np.int64)
    if d.mark_t.size:
        if t.size:
            j = np.clip(np.searchsorted(t, d.mark_t), 1, max(1, t.size)) if t.size > 1 else np.zeros(d.mark_t.size, int)
            near = np.minimum(np.abs(d.mark_t - t[np.clip(j - 1, 0, t.size - 1)]),
                              np.abs(d.mark_t - t[np.clip(j, 0, t.size - 1)]))
            unmatched = d.mark_t[near > p.mark_match_min * 60_000]
        else:
            unmatched = d.mark_t
    info["button_marks"] = int(d.mark_t.size)
    info["unmatched_marks"] = int(unmatched.size)
    if unmatched.size:
        a.notes.append(f"{unmatched.size} 'dose taken' button press(es) match no logged dose within "
                       f"{p.mark_match_min} min; they are used as dose times of unknown amount for "
                       "the time-since-dose analysis only")
        t = np.concatenate([t, unmatched])
        ug = np.concatenate([ug, np.full(unmatched.size, np.nan)])
        o = np.argsort(t, kind="stable")
        t, ug = t[o], ug[o]
    in_range = t[(t >= d.from_ms) & (t < d.to_ms)]
    if in_range.size > 2:
        iv = np.diff(in_range) / HOUR_MS
        med = float(np.median(iv))
        # compare each interval with the usual interval at that time of day (the overnight
        # interval of a QID schedule is long by design)
        _, sh = local_day_and_hour(in_range[:-1], d.tz)
        dh = np.abs(((sh[:, None] - sh[None, :]) + 12) % 24 - 12)
        usual = np.nanmedian(np.where(dh <= 1.5, iv[None, :], np.nan), axis=1)
        long = iv > p.long_interval_factor * usual
        info.update(median_interval_h=med, n_long_intervals=int(long.sum()),
                    long_intervals=[(int(in_range[i]), float(iv[i])) for i in np.nonzero(long)[0]])
        a.median_interval_h = med
        if long.any() and a.conc_route == "oral":
            a.notes.append(f"{int(long.sum())} dosing interval(s) longer than {p.long_interval_factor:g} x "
                           "the usual interval at that time of day: possible missed or late doses "
                           "(as logged)")
    info["n_in_range"] = int(in_range.size)
    a.dosing = info
    return t, ug


def _assign_interval(t: np.ndarray, doses: np.ndarray, max_ms: int):
    i = np.searchsorted(doses, t, side="right") - 1
    ok = i >= 0
    since = np.where(ok, t - doses[np.clip(i, 0, None)], -1)
    nxt = np.where(i + 1 < doses.size, doses[np.clip(i + 1, 0, doses.size - 1)] - t, np.iinfo(np.int64).max)
    ok &= since < max_ms
    return i, since, nxt, ok


def _peridose(a, d, p, mid, cov_h, doses, rng) -> None:
    if doses.size < 3 or mid.size == 0:
        a.notes.append("too few doses in range for the peri-dose curve")
        return
    bin_ms = p.bin_min * 60_000
    nb = int(p.max_h * 60 // p.bin_min)
    max_ms = nb * bin_ms
    nd = doses.size
    wi, wsince, wnext, wok = _assign_interval(mid, doses, max_ms)
    ei, esince, enext, eok = _assign_interval(d.ev_t, doses, max_ms)
    X = np.bincount(wi[wok] * nb + wsince[wok] // bin_ms, weights=cov_h[wok], minlength=nd * nb).reshape(nd, nb)
    C = np.bincount(ei[eok] * nb + esince[eok] // bin_ms, minlength=nd * nb).reshape(nd, nb).astype(float)
    # pre-dose reference: the last `pre_dose_min` before the NEXT dose (same clusters)
    pre_ms = p.pre_dose_min * 60_000
    wpre = wok & (wnext < pre_ms)
    epre = eok & (enext < pre_ms)
    Xp = np.bincount(wi[wpre], weights=cov_h[wpre], minlength=nd)[:, None]
    Cp = np.bincount(ei[epre], minlength=nd).astype(float)[:, None]
    keep = (X.sum(1) > 0)
    C, X, Cp, Xp = C[keep], X[keep], Cp[keep], Xp[keep]
    n = C.shape[0]
    W = _boot_weights(n, p.n_boot, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = C.sum(0) / X.sum(0)
        bs = (W @ C) / (W @ X)
        pre = Cp.sum() / Xp.sum()
        bpre = (W @ Cp)[:, 0] / (W @ Xp)[:, 0]
    expo = X.sum(0)
    bad = expo < p.min_bin_exposure_h
    est = np.where(bad, np.nan, est)
    bs[:, bad] = np.nan
    lo, hi = np.nanpercentile(bs, [2.5, 97.5], axis=0) if n > 1 else (est * np.nan, est * np.nan)
    x = (np.arange(nb) + 0.5) * p.bin_min / 60
    a.peridose = Curve(x, est, lo, hi, expo, C.sum(0))
    a.pre_dose_rate = (float(pre), *map(float, np.nanpercentile(bpre, [2.5, 97.5])))
    if not np.isfinite(est).any():
        best = float(expo.max()) if expo.size else 0.0
        a.notes.append(f"the peri-dose curve is not shown: every {p.bin_min}-min bin after a dose has "
                       f"less than {p.min_bin_exposure_h:g} h of good signal (at most {best:.1f} h); "
                       "no post-dose minimum or return time is read from it")
        return

    def ret(curve, pre_v):
        win = x <= 6.0
        if not np.isfinite(curve[win]).any():
            return np.nan, np.nan, np.nan
        k = int(np.nanargmin(np.where(win, curve, np.nan)))
        nad = curve[k]
        level = nad + p.return_fraction * (pre_v - nad)
        after = np.nonzero((np.arange(nb) > k) & (curve >= level))[0]
        if not np.isfinite(level) or pre_v <= nad or after.size == 0:
            return x[k], nad, np.nan
        j = after[0]
        # linear interpolation between bin centres j-1 and j
        y0, y1 = curve[j - 1], curve[j]
        t = x[j - 1] + (level - y0) / (y1 - y0) * (x[j] - x[j - 1]) if y1 != y0 else x[j]
        return x[k], nad, float(t)

    # nadir and return are read from the curve smoothed over 3 bins (counts and exposure
    # summed over neighbouring bins), so single noisy bins do not decide them
    def smooth(Cs, Xs):
        k = np.ones(3)
        cs = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), -1, Cs)
        xs = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), -1, Xs)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(xs >= p.min_bin_exposure_h, cs / xs, np.nan)
    nrep = min(p.n_boot, 250)
    sm_est = smooth(C.sum(0), X.sum(0))
    sm_bs = smooth(W[:nrep] @ C, W[:nrep] @ X)
    tn, rn, rt = ret(sm_est, pre)
    a.nadir = (float(tn), float(rn), np.nan)
    if np.isfinite(tn):
        # the dip counts only if the pre-dose level is above it in 97.5% of the replicates
        k = int(np.argmin(np.abs(x - tn)))
        depth = bpre[:nrep] - sm_bs[:, k]
        depth = depth[np.isfinite(depth)]
        a.dip_lo = float(np.percentile(depth, 2.5)) if depth.size > 10 else np.nan
        a.dip_outside_band = bool(depth.size > 10 and a.dip_lo > 0)
        if not a.dip_outside_band:
            a.notes.append("the rate after a dose does not fall below the pre-dose level by more "
                           "than the bootstrap uncertainty: no post-dose dip and no 'return' time "
                           "are reported")
            rt = np.nan
    reps = np.array([ret(sm_bs[b], bpre[b])[2] for b in range(nrep)]) if np.isfinite(rt) else np.zeros(0)
    reps = reps[np.isfinite(reps)]
    if np.isfinite(rt) and reps.size > 10:
        a.return_h = (rt, *map(float, np.percentile(reps, [2.5, 97.5])))
    else:
        a.return_h = (rt, np.nan, np.nan)
    if np.isfinite(rt) and np.isfinite(a.median_interval_h):
        m = a.median_interval_h
        a.return_before_next_h = (m - rt, m - a.return_h[2], m - a.return_h[1])


def _time_of_day(a, d, p, mid, cov_h, rng) -> None:
    if mid.size == 0:
        return
    wd, wh = local_day_and_hour(mid, d.tz)
    ed, eh = local_day_and_hour(d.ev_t, d.tz)
    days = np.unique(np.concatenate([wd, ed]))
    wdi = np.searchsorted(days, wd)
    edi = np.searchsorted(days, ed)
    nd = days.size
    X = np.bincount(wdi * 24 + wh.astype(int), weights=cov_h, minlength=nd * 24).reshape(nd, 24)
    C = np.bincount(edi * 24 + eh.astype(int), minlength=nd * 24).reshape(nd, 24).astype(float)
    est, lo, hi = _ratio_boot(C, X, p.n_boot, rng)
    expo = X.sum(0)
    est = np.where(expo > 0, est, np.nan)
    a.tod = Curve(np.arange(24) + 0.5, est, lo, hi, expo, C.sum(0))


def _nights(a, d, p, mid, cov_h, rng) -> None:
    """Per local night (night_start..night_end, named by the evening's date)."""
    def night_of(t):
        day, hour = local_day_and_hour(t, d.tz)
        is_n = (hour >= p.night_start_h) | (hour < p.night_end_h)
        nid = np.where(hour >= p.night_start_h, day, day - 1)
        return is_n, nid
    wn, wid = night_of(mid)
    en, eid = night_of(d.ev_t)
    span_h = (24 - p.night_start_h + p.night_end_h) % 24 or 24
    nights = np.unique(wid[wn])
    if nights.size == 0:
        return
    X = np.bincount(np.searchsorted(nights, wid[wn]), weights=cov_h[wn], minlength=nights.size)
    ok_e = en & np.isin(eid, nights)
    C = np.bincount(np.searchsorted(nights, eid[ok_e]), minlength=nights.size).astype(float)
    est, lo, hi = _ratio_boot(C[:, None], X[:, None], p.n_boot, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_night = np.where(X >= 0.5 * span_h, C / X * span_h, np.nan)
    # day-time rate for comparison
    wdn, edn = ~wn, ~en
    dest, dlo, dhi = (np.nan,) * 3
    if wdn.any():
        dd, _ = local_day_and_hour(mid[wdn], d.tz)
        ud = np.unique(dd)
        Xd = np.bincount(np.searchsorted(ud, dd), weights=cov_h[wdn], minlength=ud.size)
        de, _ = local_day_and_hour(d.ev_t[edn], d.tz)
        okd = np.isin(de, ud)
        Cd = np.bincount(np.searchsorted(ud, de[okd]), minlength=ud.size).astype(float)
        dest, dlo, dhi = (float(v[0]) for v in _ratio_boot(Cd[:, None], Xd[:, None], p.n_boot, rng))
    a.night = dict(rate=float(est[0]), lo=float(lo[0]), hi=float(hi[0]), span_h=span_h,
                   per_night_ids=nights, per_night_count_scaled=per_night, per_night_cov_h=X,
                   day_rate=dest, day_lo=dlo, day_hi=dhi, n_nights=int(nights.size),
                   n_nights_sufficient=int(np.isfinite(per_night).sum()))


def concentration(d: PatientData, p: Params, t_ms: np.ndarray, route: str) -> np.ndarray:
    """Model concentration (ug/L) at t_ms for the patient's oral doses or ITB pump+boluses."""
    if route == "oral":
        sel = (d.dose_route == "oral")
        return oral_concentration(t_ms, d.dose_t[sel], d.dose_ug[sel], p.oral_pk)
    sel = d.dose_route == "intrathecal_bolus"
    return itb_concentration(t_ms, pump_rate_fn(d.pumps), d.dose_t[sel], d.dose_ug[sel], p.itb_pk)


def emax_rate(c, e0, imax, ic50):
    """Inhibitory Emax: events/h = E0 * (1 - Imax * C / (IC50 + C))."""
    return e0 * (1 - imax * c / (ic50 + c))


def _circ(h, ac, as_):
    w = 2 * np.pi * h / 24
    return 1 + ac * np.cos(w) + as_ * np.sin(w)


def _cr_model(ch, e0, imax, ic50, ac, as_):
    c, h = ch
    return emax_rate(c, e0, imax, ic50) * _circ(h, ac, as_)


#: Fitted scale of the Emax parameters: log E0 (> 0), logit Imax (0-1), log IC50 (> 0), so
#: that intervals computed on it and mapped back respect each parameter's range.
_LOGIT_LIM = 12.0


def _to_natural(q: np.ndarray) -> np.ndarray:
    """(log E0, logit Imax, log IC50, ac, as) -> (E0, Imax, IC50, ac, as); works on rows."""
    q = np.asarray(q, float)
    out = q.copy()
    out[..., 0] = np.exp(q[..., 0])
    out[..., 1] = 1.0 / (1.0 + np.exp(-q[..., 1]))
    out[..., 2] = np.exp(q[..., 2])
    return out


def _cr_model_q(ch, le0, limax, lic50, ac, as_):
    e0, imax, ic50 = np.exp(le0), 1.0 / (1.0 + np.exp(-limax)), np.exp(lic50)
    return _cr_model(ch, e0, imax, ic50, ac, as_)


#: An interval is called poorly determined when its upper end is more than this many times
#: its lower end (E0, IC50) or it spans more than this share of Imax's 0-100 % range.
POOR_RATIO = 4.0
POOR_IMAX_SPAN = 0.5


def poorly_determined(name: str, lo: float, hi: float) -> bool:
    """True when the 95% interval of an Emax parameter is too wide to read a value from."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return True
    if name == "imax":
        return hi - lo > POOR_IMAX_SPAN
    return lo <= 0 or hi / lo > POOR_RATIO


def _concentration_response(a, d, p, mid, cov_h) -> None:
    """Emax fit on cells of (concentration bin x local hour), with a 24-h harmonic for
    the time-of-day pattern so that night-time spasms are not read as a drug effect.
    Weighted least squares with Poisson variances; CIs from the covariance inflated by
    the over-dispersion (chi2/dof), band from 400 parameter draws."""
    if mid.size < 50 or d.dose_t.size == 0:
        a.notes.append("not enough data for a concentration-response fit")
        return
    c = concentration(d, p, mid, a.conc_route)
    half = (d.sm_win_s.max() * 500) if d.sm_win_s.size else 150_000
    wi = np.searchsorted(mid - half, d.ev_t, side="right") - 1
    ok = (wi >= 0) & (wi < mid.size)
    cnt = np.bincount(wi[ok], minlength=mid.size).astype(float)
    _, hour = local_day_and_hour(mid, d.tz)
    hb = hour.astype(int)
    nbin = 16
    edges = np.unique(np.quantile(c, np.linspace(0, 1, nbin + 1)))
    bi = np.clip(np.searchsorted(edges, c, side="right") - 1, 0, len(edges) - 2)
    nb = len(edges) - 1
    cell = bi * 24 + hb
    X = np.bincount(cell, weights=cov_h, minlength=nb * 24)
    Cn = np.bincount(cell, weights=cnt, minlength=nb * 24)
    Cm = np.bincount(cell, weights=c * cov_h, minlength=nb * 24) / np.maximum(X, 1e-9)
    good = X > 0.25
    rate = Cn[good] / X[good]
    sig = np.sqrt(np.maximum(Cn[good], 1.0)) / X[good]
    cx, hx = Cm[good], (np.arange(nb * 24) % 24 + 0.5)[good]
    res = dict(conc_unit="µg/L", route=a.conc_route, ok=False)
    cmax = 50 * max(float(c.max()), 1.0)
    try:
        q0 = [np.log(max(float(rate.max()), 1e-3)), np.log(0.7 / 0.3),
              np.log(float(np.median(c)) or 1.0), 0.0, 0.0]
        lo_b = [np.log(1e-4), -_LOGIT_LIM, np.log(1e-3), -0.9, -0.9]
        hi_b = [np.log(1e4), _LOGIT_LIM, np.log(cmax), 0.9, 0.9]
        q0 = np.clip(q0, np.array(lo_b) + 1e-6, np.array(hi_b) - 1e-6)
        qopt, qcov = curve_fit(_cr_model_q, (cx, hx), rate, p0=q0, sigma=sig, absolute_sigma=True,
                               bounds=(lo_b, hi_b), maxfev=5000)
    except (RuntimeError, ValueError) as exc:
        res.update(error=str(exc))
        a.notes.append(f"concentration-response fit did not converge: {exc}")
        a.cr = res
        return
    popt = _to_natural(qopt)
    chi2 = float(np.sum(((rate - _cr_model((cx, hx), *popt)) / sig) ** 2))
    dof = max(1, len(rate) - 5)
    scale = max(1.0, chi2 / dof)
    se_q = np.sqrt(np.clip(np.diag(qcov), 0, None) * scale)
    rng = np.random.default_rng(p.seed + 1)
    draws = _to_natural(np.clip(rng.multivariate_normal(qopt, qcov * scale, size=400, check_valid="ignore"),
                                lo_b, hi_b))
    grid = np.linspace(0, float(c.max()) * 1.05, 80)
    band = np.array([emax_rate(grid, *dr[:3]) for dr in draws])
    # observed points per concentration bin, adjusted for the fitted time-of-day factor
    circ = _circ(hour + 0.0, popt[3], popt[4])
    Xa = np.bincount(bi, weights=cov_h * circ, minlength=nb)
    Ca = np.bincount(bi, weights=cnt, minlength=nb)
    Cb = np.bincount(bi, weights=c * cov_h, minlength=nb) / np.maximum(np.bincount(bi, weights=cov_h, minlength=nb), 1e-9)
    gb = Xa > 0.5
    names = ("e0_per_h", "imax", "ic50")
    # 95% intervals on the fitted (log / logit) scale, mapped back: inside each range
    at_limit = []
    for k, n in enumerate(names):
        lo_q, hi_q = qopt[k] - 1.96 * se_q[k], qopt[k] + 1.96 * se_q[k]
        if lo_q < lo_b[k] or hi_q > hi_b[k]:       # the interval reaches the fit's search range
            at_limit.append(n)
            lo_q, hi_q = max(lo_q, lo_b[k]), min(hi_q, hi_b[k])
        lo_n, hi_n = (_to_natural(np.array([[lo_q if j == k else qopt[j] for j in range(5)],
                                            [hi_q if j == k else qopt[j] for j in range(5)]]))[:, k])
        res[n] = (float(popt[k]), float(lo_n), float(hi_n))
    res["poorly_determined"] = [n for n in names if n in at_limit
                                or poorly_determined(n.replace("_per_h", ""), *res[n][1:])]
    amp = float(np.hypot(popt[3], popt[4]))
    peak_h = float((np.degrees(np.arctan2(popt[4], popt[3])) / 15) % 24)
    res.update(ok=True, grid=grid, fit=emax_rate(grid, *popt[:3]), fit_lo=np.percentile(band, 2.5, axis=0),
               fit_hi=np.percentile(band, 97.5, axis=0), chi2_dof=chi2 / dof,
               ic50_at_bound=bool(popt[2] > 0.99 * cmax), circadian_amp=amp, circadian_peak_h=peak_h,
               bin_c=Cb[gb], bin_rate=Ca[gb] / Xa[gb],
               bin_lo=(Ca[gb] - 1.96 * np.sqrt(np.maximum(Ca[gb], 1))) / Xa[gb],
               bin_hi=(Ca[gb] + 1.96 * np.sqrt(np.maximum(Ca[gb], 1))) / Xa[gb],
               c_p95=float(np.percentile(c, 95)))
    if res["ic50_at_bound"]:
        a.notes.append("IC50 ran to its upper bound: no concentration dependence could be "
                       "resolved in this range")
    if res["poorly_determined"]:
        a.notes.append("the concentration-response fit is poorly determined ("
                       + ", ".join({"e0_per_h": "E0", "imax": "Imax", "ic50": "IC50"}[n]
                                   for n in res["poorly_determined"])
                       + " with wide intervals): the data do not pin these values down")
    res["weekly_ic50"] = _weekly_ic50(d, mid, c, cnt, cov_h, hb, edges, popt, cmax)
    a.cr = res


def _weekly_ic50(d, mid, c, cnt, cov_h, hb, edges, popt, cmax) -> list[tuple]:
    """IC50 refitted per week with E0, Imax and the time-of-day factor held at the whole-
    period fit: (week, ic50, lo, hi, exposure h). A rising IC50 means more drug is needed
    for the same reduction (tolerance); the per-dose before/after ratio cannot show that,
    because a shift of IC50 lowers the effect at trough and at peak alike."""
    e0, imax, _, ac, as_ = popt
    week = ((mid - d.from_ms) // (7 * DAY_MS)).astype(int)
    bi = np.clip(np.searchsorted(edges, c, side="right") - 1, 0, len(edges) - 2)
    nb = len(edges) - 1
    rows = []
    for w in np.unique(week):
        sel = week == w
        if cov_h[sel].sum() < 24:
            continue
        cell = bi[sel] * 24 + hb[sel]
        X = np.bincount(cell, weights=cov_h[sel], minlength=nb * 24)
        Cn = np.bincount(cell, weights=cnt[sel], minlength=nb * 24)
        Cm = np.bincount(cell, weights=c[sel] * cov_h[sel], minlength=nb * 24) / np.maximum(X, 1e-9)
        g = X > 0.25
        if g.sum() < 6:
            continue
        r = Cn[g] / X[g]
        sg = np.sqrt(np.maximum(Cn[g], 1.0)) / X[g]
        hx = (np.arange(nb * 24) % 24 + 0.5)[g]
        f = lambda ch, lic50: _cr_model(ch, e0, imax, np.exp(lic50), ac, as_)  # noqa: E731
        try:
            po, pc = curve_fit(f, (Cm[g], hx), r, p0=[np.log(min(max(popt[2], 1e-3), 0.9 * cmax))],
                               sigma=sg, absolute_sigma=True, bounds=([np.log(1e-3)], [np.log(cmax)]))
        except (RuntimeError, ValueError):
            continue
        chi2 = float(np.sum(((r - f((Cm[g], hx), *po)) / sg) ** 2)) / max(1, g.sum() - 1)
        se = float(np.sqrt(max(pc[0, 0], 0) * max(1.0, chi2)))
        if np.exp(po[0]) >= 0.99 * cmax or not se < 5:     # at the bound, or no information
            continue
        # interval on the log scale: IC50 > 0 at both ends
        rows.append((int(w), float(np.exp(po[0])), float(np.exp(po[0] - 1.96 * se)),
                     float(np.exp(po[0] + 1.96 * se)), float(cov_h[sel].sum())))
    return rows


def _tolerance(a, d, p, mid, cov_h, doses) -> None:
    """Effect of each dose = 1 - rate(post window) / rate(pre window), per week."""
    if doses.size < 5:
        return
    pre = p.pre_dose_min * 60_000
    q0, q1 = (int(x * HOUR_MS) for x in p.effect_post_h)

    def per_dose(t, w):
        i = np.searchsorted(doses, t, side="left")        # next dose index
        j = np.searchsorted(doses, t, side="right") - 1   # last dose index
        in_pre = (i < doses.size) & ((doses[np.clip(i, 0, doses.size - 1)] - t) <= pre) & \
                 ((doses[np.clip(i, 0, doses.size - 1)] - t) > 0)
        since = t - doses[np.clip(j, 0, None)]
        in_post = (j >= 0) & (since >= q0) & (since < q1)
        return (np.bincount(i[in_pre], weights=w[in_pre], minlength=doses.size),
                np.bincount(j[in_post], weights=w[in_post], minlength=doses.size))
    Xpre, Xpost = per_dose(mid, cov_h)
    Cpre, Cpost = per_dose(d.ev_t, np.ones(d.ev_t.size))
    week = ((doses - d.from_ms) // (7 * DAY_MS)).astype(int)
    ok = (doses >= d.from_ms) & (doses < d.to_ms) & (Xpre > 0.25 * pre / HOUR_MS) & \
         (Xpost > 0.25 * (q1 - q0) / HOUR_MS)
    weeks = np.unique(week[ok])
    rows = []
    for w in weeks:
        s = ok & (week == w)
        a_, b_ = Cpost[s].sum(), Cpre[s].sum()
        xa, xb = Xpost[s].sum(), Xpre[s].sum()
        if a_ == 0 or b_ == 0:
            continue
        lrr = np.log((a_ / xa) / (b_ / xb))
        se = np.sqrt(1 / a_ + 1 / b_)
        rows.append((int(w), int(s.sum()), 1 - np.exp(lrr), 1 - np.exp(lrr + 1.96 * se),
                     1 - np.exp(lrr - 1.96 * se), lrr, se))
    res: dict = {"weeks": rows}
    wk = a.cr.get("weekly_ic50", []) if a.cr else []
    if len(wk) >= 3:
        w_ = np.array([r[0] for r in wk], float)
        y_ = np.log([r[1] for r in wk])
        se_ = np.array([max(np.log(r[3] / r[2]) / 3.92, 1e-9) for r in wk])   # log-scale intervals
        wt_ = 1 / se_ ** 2
        W_ = wt_.sum()
        xm_, ym_ = np.sum(wt_ * w_) / W_, np.sum(wt_ * y_) / W_
        sxx_ = np.sum(wt_ * (w_ - xm_) ** 2)
        sl = np.sum(wt_ * (w_ - xm_) * (y_ - ym_)) / sxx_
        disp = np.sum(wt_ * (y_ - ym_ - sl * (w_ - xm_)) ** 2) / max(1, len(w_) - 2)
        sse = np.sqrt(max(1.0, disp) / sxx_)
        pct = lambda v: 100 * (np.exp(v) - 1)  # noqa: E731
        res.update(ic50_pct_per_week=float(pct(sl)), ic50_pct_lo=float(pct(sl - 1.96 * sse)),
                   ic50_pct_hi=float(pct(sl + 1.96 * sse)), weekly_ic50=wk)
    if len(rows) >= 3:
        w = np.array([r[0] for r in rows], float)
        y = np.array([r[5] for r in rows])
        wt = 1 / np.array([r[6] for r in rows]) ** 2
        W = np.sum(wt)
        xm, ym = np.sum(wt * w) / W, np.sum(wt * y) / W
        sxx = np.sum(wt * (w - xm) ** 2)
        slope = np.sum(wt * (w - xm) * (y - ym)) / sxx
        se = np.sqrt(1 / sxx * max(1.0, np.sum(wt * (y - ym - slope * (w - xm)) ** 2) / max(1, len(w) - 2)))
        # slope of log rate ratio per week; positive = smaller effect over time
        res.update(slope_lrr_per_week=float(slope), slope_lo=float(slope - 1.96 * se),
                   slope_hi=float(slope + 1.96 * se))
    a.tolerance = res


def _daily_scores(a, d, p) -> None:
    cov = a.coverage
    starts = np.append(cov["day_start_ms"], cov["day_start_ms"][-1] + int(cov["day_len_h"][-1] * HOUR_MS))
    sp = np.isin(d.ev_kind, SPASM_KINDS)
    di = np.searchsorted(starts, d.ev_t[sp], side="right") - 1
    ok = (di >= 0) & (di < len(cov["day_ids"]))
    n = np.bincount(di[ok], minlength=len(cov["day_ids"])).astype(float)
    ch = cov["covered_h"]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = n / ch
        per24 = n * 24 / ch
    psfs = psfs_level(n, ch, p.psfs_min_cov_h)
    snow = snow_level(n, ch, p.snow_min_cov_h)
    per24[ch < p.snow_min_cov_h] = np.nan
    a.daily = dict(n_spasms=n, rate_per_h=np.where(ch > 0, rate, np.nan), psfs=psfs, snow=snow,
                   spasms_per_24h=per24)


def psfs_level(n: np.ndarray, cov_h: np.ndarray, min_cov_h: float) -> np.ndarray:
    """Penn Spasm Frequency Scale equivalent from n spasms in cov_h hours of signal:
    0 none; 2 fewer than 1/h; 3 1-10/h; 4 more than 10/h. Level 1 ('only on stimulation')
    cannot be told from a sensor and is never assigned. NaN below min_cov_h of signal."""
    n = np.asarray(n, float)
    cov_h = np.asarray(cov_h, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = n / cov_h
    out = np.where(n == 0, 0, np.where(rate < 1, 2, np.where(rate <= 10, 3, 4))).astype(float)
    out[~(cov_h >= min_cov_h)] = np.nan
    return out


def snow_level(n: np.ndarray, cov_h: np.ndarray, min_cov_h: float) -> np.ndarray:
    """Snow scale per 24 h from n spasms in cov_h hours (count scaled to 24 h):
    1 none; 2 <=1; 3 >1-5; 4 >5-<10; 5 >=10. NaN below min_cov_h of signal."""
    n = np.asarray(n, float)
    cov_h = np.asarray(cov_h, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        per24 = n * 24 / cov_h
    out = np.select([n == 0, per24 <= 1, per24 <= 5, per24 < 10], [1, 2, 3, 4], 5).astype(float)
    out[~(cov_h >= min_cov_h)] = np.nan
    return out


def _scats(a, d, p) -> None:
    c1, c2 = p.scats_cuts_s
    dur_s = d.ev_dur / 1000.0
    out = {}
    for name, kinds in KIND_GROUPS:
        s = np.isin(d.ev_kind, kinds)
        x = dur_s[s]
        out[name] = dict(n=int(s.sum()), lt=int((x < c1).sum()), mid=int(((x >= c1) & (x <= c2)).sum()),
                         gt=int((x > c2).sum()),
                         median_s=float(np.median(x)) if x.size else np.nan,
                         p90_s=float(np.percentile(x, 90)) if x.size else np.nan)
    a.scats = out
