"""A simulated patient's days: the scenario parameters and the event timeline.

:func:`build_timeline` turns a :class:`Scenario` into a :class:`Timeline`: the doses, the
concentration and spasm hazard on a one-minute grid, the daily plan (sleep, transfers,
times the device is not worn, lead-off episodes, strong mains hum), and every spasm,
clonus bout, voluntary movement and motion artifact, each with its own seed so the
signal synthesis (:mod:`.stream`) can render it on demand, chunk by chunk.

Spontaneous spasms and clonus follow a non-homogeneous Poisson process with hazard
``base_rate_per_h * circadian(local hour) * (1 - Emax*C^n/(EC50^n + C^n))`` (C from
:mod:`.pk`); transfers trigger a spasm with probability ``p_transfer_spasm`` times the same
drug multiplier. Events never overlap: an onset falling inside the previous event (plus
``min_gap_s``) is moved to just after it, so counts follow the hazard exactly.

Labeling rule (what the ground truth calls an event's onset and offset): the first and
last time the muscle drive exceeds 10 % of the event's peak drive (tonic spasms), or the
first and last clonic burst (clonus), 0.1 s added after the last burst.
"""
from __future__ import annotations

from typing import Any

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

from .pk import EmaxResponse, IntrathecalPK, OralPK
from .schedule import REGIMENS, DosePlan, itb_plan, oral_plan

KINDS = ("spasm", "clonus", "spasm_with_clonus")
GRID_S = 60.0      # hazard/concentration grid step (s)


@dataclass
class Scenario:
    """Everything that defines a simulated patient (all defaults documented in DOMAIN.md)."""

    days: float = 1.0
    seed: int = 1
    regimen: str = "tid"                 # "tid", "qid" or "itb"
    oral_dose_mg: float = 20.0
    start_utc: str = "2026-11-02T06:00:00+00:00"
    tz: str = "Europe/Berlin"
    n_channels: int = 2                  # ch0 quadriceps/hamstrings, ch1 triceps surae (ankle clonus)
    mains_hz: int = 50
    oral_pk: OralPK = field(default_factory=OralPK)
    itb_pk: IntrathecalPK = field(default_factory=IntrathecalPK)
    response: EmaxResponse = field(default_factory=EmaxResponse)
    itb_response: EmaxResponse = field(default_factory=lambda: EmaxResponse(5.0, 0.85, 400.0, 1.0))
    circadian_amp: float = 0.5           # relative; hazard x (1 + amp*cos(2pi(h - peak)/24))
    circadian_peak_h: float = 3.0        # local hour of the highest spontaneous hazard
    p_kind: tuple[float, float, float] = (0.6, 0.25, 0.15)   # spasm, clonus, spasm_with_clonus
    spasm_median_s: float = 4.0
    clonus_median_s: float = 10.0
    peak_median_uV: float = 70.0         # median peak 100 ms ARV on the event's main channel
    peak_sigma: float = 0.7              # log-normal sigma of that peak
    clonus_hz_mean: float = 5.6          # patient's clonus frequency (soleus 5.4 +- 0.9 Hz)
    noise_uV: float = 2.5                # electrode + amplifier noise, RMS
    p_late: float = 0.2
    p_missed: float = 0.05
    transfers_per_day: tuple[int, int] = (3, 6)   # daytime transfers besides getting up/to bed
    p_transfer_spasm: float = 0.6
    voluntary_per_awake_h: float = 4.0
    artifacts_per_awake_h: float = 3.0
    leadoff_per_day: float = 0.8
    p_shower_off: float = 0.85           # device taken off for the morning wash
    min_gap_s: float = 2.0
    tolerance_pct_per_week: float = 0.0  # EC50 grows by this % per week (compounding): tolerance

    @property
    def duration_s(self) -> float:
        return self.days * 86400.0

    def start(self) -> dt.datetime:
        t = dt.datetime.fromisoformat(self.start_utc)
        if t.tzinfo is None:
            raise ValueError(f"start_utc {self.start_utc!r} needs a UTC offset")
        return t.astimezone(dt.timezone.utc)

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["oral_pk"] = self.oral_pk.to_dict()
        d["itb_pk"] = self.itb_pk.to_dict()
        d["response"] = self.response.to_dict()
        d["itb_response"] = self.itb_response.to_dict()
        return d

    def active_response(self) -> EmaxResponse:
        return self.itb_response if self.regimen == "itb" else self.response


@dataclass
class Event:
    """One involuntary event (ground truth). Times in seconds from the scenario start."""

    id: int
    kind: str
    onset_s: float
    offset_s: float
    channels: list[int]
    peak_uV: list[float]            # peak 100 ms ARV per channel in ``channels``
    clonus_hz: float                # mean burst rate of the clonic part, 0 if none
    tonic_s: float                  # duration of the tonic part (spasm_with_clonus), else 0
    trigger: str                    # "spontaneous" or "transfer"
    concentration_ng_ml: float
    hazard_multiplier: float
    seed: int
    observable: bool = True         # fully inside worn, lead-on time

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["duration_s"] = round(self.duration_s, 3)
        return d


@dataclass
class Other:
    """Non-spasm activity that shapes the signal: voluntary bursts, motion artifacts,
    transfers, rolling in bed. ``params`` holds what the renderer needs."""

    id: int
    kind: str                       # "voluntary", "artifact", "transfer", "roll"
    start_s: float
    end_s: float
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Interval:
    start_s: float
    end_s: float
    kind: str                       # "not_worn", "leadoff", "hum", "sleep"
    channels: list[int] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Timeline:
    scenario: Scenario
    plan: DosePlan
    grid_t_s: np.ndarray             # minute grid (s)
    conc: np.ndarray                 # concentration on the grid (ng/mL)
    hazard_per_h: np.ndarray         # spontaneous hazard on the grid (events/h)
    events: list[Event]
    others: list[Other]
    intervals: list[Interval]
    postures: list[tuple[float, float, str]]   # (start_s, ramp_s, posture) changes

    def concentration_at(self, t_s: np.ndarray | float) -> np.ndarray:
        return np.interp(t_s, self.grid_t_s, self.conc)

    def intervals_of(self, kind: str) -> list[Interval]:
        return [i for i in self.intervals if i.kind == kind]


def circadian(local_h: np.ndarray, amp: float, peak_h: float) -> np.ndarray:
    return 1.0 + amp * np.cos(2 * np.pi * (np.asarray(local_h) - peak_h) / 24.0)


def _local_hours(scn: Scenario, t_s: np.ndarray) -> np.ndarray:
    """Local clock hour (0-24) at ``t_s`` seconds from the start (DST-aware per minute grid)."""
    start = scn.start()
    tz = scn.zone()
    # offsets change rarely: evaluate the UTC offset once per hour and interpolate stepwise
    hours = np.arange(math.floor(t_s.min() / 3600) - 1, math.ceil(t_s.max() / 3600) + 2)
    offs = np.array([((start + dt.timedelta(hours=float(h))).astimezone(tz).utcoffset() or dt.timedelta(0)).total_seconds()
                     for h in hours])
    off = offs[np.clip(((t_s // 3600) - hours[0]).astype(int), 0, len(hours) - 1)]
    utc_s = start.timestamp() + t_s + off
    return (utc_s % 86400.0) / 3600.0


def ec50_at(scn: Scenario, t_s: np.ndarray) -> np.ndarray:
    """EC50 (ng/mL) at ``t_s``: the response's EC50 grown by the tolerance rate."""
    g = 1.0 + scn.tolerance_pct_per_week / 100.0
    return scn.active_response().ec50_ng_ml * g ** (np.asarray(t_s, dtype=float) / (7 * 86400.0))


def drug_multiplier(scn: Scenario, conc: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Hazard multiplier ``1 - Emax C^n / (EC50(t)^n + C^n)``."""
    r = scn.active_response()
    c = np.maximum(np.asarray(conc, dtype=float), 0.0) ** r.hill
    return 1.0 - r.emax * c / (ec50_at(scn, t_s) ** r.hill + c)


def _concentration(scn: Scenario, plan: DosePlan, t_s: np.ndarray) -> np.ndarray:
    t_h = t_s / 3600.0
    taken = plan.taken()
    if scn.regimen == "itb":
        bol = [d for d in taken if d.route == "intrathecal_bolus"]
        return scn.itb_pk.concentration(t_h, [(p.t_s / 3600.0, p.rate_ug_day) for p in plan.pump],
                                        [d.t_s / 3600.0 for d in bol], [d.amount for d in bol])
    return scn.oral_pk.concentration(t_h, [d.t_s / 3600.0 for d in taken], [d.amount for d in taken])


def _poisson_times(rng: np.random.Generator, grid_t: np.ndarray, rate_per_s: np.ndarray) -> np.ndarray:
    """Event times of a Poisson process with piecewise-linear rate on ``grid_t`` (time rescaling)."""
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (rate_per_s[1:] + rate_per_s[:-1]) * np.diff(grid_t))])
    total = cum[-1]
    n = rng.poisson(total)
    u = np.sort(rng.uniform(0.0, total, n))
    return np.interp(u, cum, grid_t)


def _daily_plan(scn: Scenario, rng: np.random.Generator,
                midnights: list[float]) -> tuple[list[tuple[float, float]], list[float], list[Interval]]:
    """Sleep, transfers, not-worn, lead-off and hum intervals for every local day."""
    dur = scn.duration_s
    wakes: list[float] = []
    beds: list[float] = []
    transfers: list[float] = []
    intervals: list[Interval] = []
    for m in midnights:
        wake = m + rng.normal(7.0, 0.4) * 3600.0
        bed = m + rng.normal(22.5, 0.4) * 3600.0
        wakes.append(wake)
        beds.append(bed)
        transfers += [wake + rng.uniform(60, 600), bed - rng.uniform(60, 600)]
        k = rng.integers(scn.transfers_per_day[0], scn.transfers_per_day[1] + 1)
        transfers += list(m + np.sort(rng.uniform(9.0, 21.5, k)) * 3600.0)
        if rng.random() < scn.p_shower_off:
            s = wake + rng.uniform(15, 45) * 60.0
            intervals.append(Interval(s, s + rng.uniform(25, 60) * 60.0, "not_worn",
                                      list(range(scn.n_channels))))
        for _ in range(rng.poisson(scn.leadoff_per_day)):
            s = m + rng.uniform(0, 24) * 3600.0
            ch = [int(rng.integers(scn.n_channels))] if rng.random() < 0.7 else list(range(scn.n_channels))
            intervals.append(Interval(s, s + rng.uniform(2, 25) * 60.0, "leadoff", ch))
        for _ in range(rng.integers(0, 3)):
            s = m + rng.uniform(8, 22) * 3600.0
            intervals.append(Interval(s, s + rng.uniform(10, 60) * 60.0, "hum", [],
                                      {"amp_uV": float(rng.uniform(6, 18))}))
    # sleep runs from each bed time to the next day's wake time
    sleep_iv = [(-1e9, wakes[0])] + [(beds[i], wakes[i + 1]) for i in range(len(beds) - 1)]
    sleep_iv = [(b, w) for b, w in sleep_iv if w > 0 and b < dur]
    intervals += [Interval(max(b, 0.0), min(w, dur), "sleep") for b, w in sleep_iv]
    intervals = [i for i in intervals if i.end_s > 0 and i.start_s < dur]
    for i in intervals:
        i.start_s, i.end_s = round(max(i.start_s, 0.0), 3), round(min(i.end_s, dur), 3)
    transfers = sorted(t for t in transfers if 0 < t < dur - 30)
    return sleep_iv, transfers, intervals


def _in_any(t: np.ndarray, ivs: list[tuple[float, float]]) -> np.ndarray:
    m = np.zeros(np.shape(t), dtype=bool)
    for a, b in ivs:
        m |= (t >= a) & (t < b)
    return m


def build_timeline(scn: Scenario) -> Timeline:
    """Generate the whole scenario's truth (events and intervals; no signal yet)."""
    if scn.regimen not in REGIMENS:
        raise ValueError(f"unknown regimen {scn.regimen!r} (known: {', '.join(REGIMENS)})")
    if scn.days <= 0:
        raise ValueError(f"days must be > 0 (got {scn.days})")
    rng = np.random.default_rng([scn.seed, 7])
    start, tz, dur = scn.start(), scn.zone(), scn.duration_s
    from .schedule import _local_midnights
    midnights = _local_midnights(start, tz, -1, int(math.ceil(scn.days)) + 2)

    if scn.regimen == "itb":
        plan = itb_plan(start, tz, dur, np.random.default_rng([scn.seed, 1]))
    else:
        plan = oral_plan(scn.regimen, scn.oral_dose_mg, start, tz, dur, np.random.default_rng([scn.seed, 1]),
                         p_late=scn.p_late, p_missed=scn.p_missed)
    grid = np.arange(0.0, dur + GRID_S, GRID_S)
    conc = _concentration(scn, plan, grid)
    resp = scn.active_response()
    mult = drug_multiplier(scn, conc, grid)
    hazard = resp.base_rate_per_h * circadian(_local_hours(scn, grid), scn.circadian_amp,
                                              scn.circadian_peak_h) * mult

    sleep_iv, transfers, intervals = _daily_plan(scn, rng, midnights)

    # spontaneous onsets + transfer-triggered spasms
    onsets = [(t, "spontaneous") for t in _poisson_times(rng, grid, hazard / 3600.0)]
    for tt in transfers:
        m = float(np.interp(tt, grid, mult))
        if rng.random() < scn.p_transfer_spasm * m:
            onsets.append((tt + rng.uniform(3.0, 40.0), "transfer"))
    onsets.sort()

    events: list[Event] = []
    end_prev = -1e9
    pk_rng = np.random.default_rng([scn.seed, 3])
    f0 = float(np.clip(scn.clonus_hz_mean, 4.7, 7.0))
    for t, trig in onsets:
        kind = KINDS[int(pk_rng.choice(3, p=np.asarray(scn.p_kind) / sum(scn.p_kind)))]
        tonic = 0.0
        if kind == "spasm":
            d = float(np.clip(pk_rng.lognormal(math.log(scn.spasm_median_s), 0.6), 1.0, 60.0))
            chans = [0] + ([1] if scn.n_channels > 1 and pk_rng.random() < 0.5 else [])
            hz = 0.0
        elif kind == "clonus":
            d = float(np.clip(pk_rng.lognormal(math.log(scn.clonus_median_s), 0.7), 2.0, 150.0))
            chans = [min(1, scn.n_channels - 1)]
            hz = float(np.clip(f0 + pk_rng.normal(0, 0.35), 4.0, 8.0))
        else:
            tonic = float(np.clip(pk_rng.lognormal(math.log(3.0), 0.4), 1.0, 10.0))
            d = tonic + float(np.clip(pk_rng.lognormal(math.log(8.0), 0.6), 2.0, 60.0))
            chans = list(range(scn.n_channels))
            hz = float(np.clip(f0 + pk_rng.normal(0, 0.35), 4.0, 8.0))
        peaks = [float(max(12.0, pk_rng.lognormal(math.log(scn.peak_median_uV), scn.peak_sigma)))]
        peaks += [peaks[0] * float(pk_rng.uniform(0.3, 0.9)) for _ in chans[1:]]
        if t < end_prev + scn.min_gap_s:
            t = end_prev + scn.min_gap_s + float(pk_rng.uniform(0, 5))
        if t + d > dur - 1.0:
            continue
        c = float(np.interp(t, grid, conc))
        events.append(Event(len(events), kind, round(t, 3), round(t + d, 3), chans,
                            [round(p, 2) for p in peaks], round(hz, 3), round(tonic, 3), trig,
                            round(c, 2), round(float(np.interp(t, grid, mult)), 4),
                            int(pk_rng.integers(2**31))))
        end_prev = t + d

    # postures: lying during sleep, sitting otherwise; "off" while not worn
    postures: list[tuple[float, float, str]] = []
    for b, w in sleep_iv:
        if b > 0:
            postures.append((b - 120.0, 240.0, "lying"))
        postures.append((w, 240.0, "sitting"))
    postures.sort()
    for iv in intervals:
        if iv.kind == "not_worn":
            postures.append((iv.start_s, 30.0, "off"))
            postures.append((iv.end_s - 30.0, 30.0, "sitting"))
    postures.sort()
    first = "lying" if _in_any(np.array([0.0]), sleep_iv)[0] else "sitting"
    postures.insert(0, (-1.0, 0.0, first))

    others: list[Other] = []
    o_rng = np.random.default_rng([scn.seed, 4])

    def add(kind: str, s: float, e: float, **params: Any) -> None:
        others.append(Other(len(others), kind, round(s, 3), round(e, 3), int(o_rng.integers(2**31)), params))

    for tt in transfers:
        d = float(o_rng.uniform(6, 15))
        add("transfer", tt - d / 2, tt + d / 2)
        for _ in range(int(o_rng.integers(1, 4))):
            a = tt + o_rng.uniform(-d / 2, d / 2)
            add("artifact", a, a + 0.4, amp_uV=float(o_rng.uniform(150, 1500)))
    awake = [(w, b) for (_, w), (b, _) in zip(sleep_iv, sleep_iv[1:])]
    if sleep_iv and sleep_iv[-1][1] < dur:
        awake.append((sleep_iv[-1][1], dur))
    if not sleep_iv:
        awake = [(0.0, dur)]
    awake_grid = _in_any(grid, awake)
    ev_on = np.array([e.onset_s - 1.0 for e in events])
    ev_off = np.array([e.offset_s + 1.0 for e in events])
    for t in _poisson_times(o_rng, grid, awake_grid * scn.voluntary_per_awake_h / 3600.0):
        d = float(o_rng.uniform(0.12, 0.4))
        k = int(np.searchsorted(ev_on, t + d))           # events starting before the burst ends
        if (k > 0 and ev_off[k - 1] > t) or t + d >= dur:
            continue
        add("voluntary", t, t + d, peak_uV=float(o_rng.lognormal(math.log(40), 0.5)),
            channel=int(o_rng.integers(scn.n_channels)))
    night_rate = np.where(awake_grid, scn.artifacts_per_awake_h, 0.4) / 3600.0
    for t in _poisson_times(o_rng, grid, night_rate):
        if t + 0.4 < dur:
            add("artifact", t, t + 0.4, amp_uV=float(o_rng.lognormal(math.log(300), 0.6)))
    for b, w in sleep_iv:
        for t in o_rng.uniform(max(b, 0), min(w, dur), o_rng.poisson(3)) if w > max(b, 0) else []:
            if t + 6 < dur:
                add("roll", t, t + 4.0)
    others.sort(key=lambda o: o.start_s)

    # observability: an event counts if no lead-off / not-worn interval touches it
    lost = [(i.start_s, i.end_s, set(i.channels)) for i in intervals if i.kind in ("not_worn", "leadoff")]
    for e in events:
        for a, b, chs in lost:
            if a < e.offset_s and b > e.onset_s and chs & set(e.channels):
                e.observable = False
    return Timeline(scn, plan, grid, conc, hazard, events, others, intervals, postures)
