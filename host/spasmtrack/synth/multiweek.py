"""Realistic multi-week event-level data for tests and benchmarks (no raw signal).

Generates what a worn device would have synced: BOOT, TIME_ANCHOR, EVENT, SUMMARY and MARK
frames (encoded with the firmware's own record layout and stored through
``Store.insert_records``), plus the dose log, for a patient on oral baclofen (QID with
jitter, late and missed doses) or intrathecal baclofen (flex pump program + boluses).

The spasm rate follows the inhibitory Emax model the analysis fits::

    rate(t) = E0 * circadian(local hour) * (1 - Imax * C(t) / (IC50(t) + C(t)))

with ``IC50`` rising over the weeks (tolerance). The device clock drifts (ppm), the device
is charged (powered off -> reboot) every few days, reboots once by watchdog, is taken off
for a shower daily and for one whole day, loses leads now and then, and one sync comes from
a host whose clock is an hour wrong. The patient's zone has DST, so a span over late
October or late March crosses a change.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import firmware
from .. import records as rec
from ..doses import DoseInput, DoseLog, PumpStep
from ..store import Store
from ..analysis.pk import ItbPK, OralPK, itb_concentration, oral_concentration
from ..analysis.tzutil import DAY_MS, HOUR_MS, local_day_and_hour, local_midnight_utc_ms, utc_offset_ms

WINDOW_S = 300


def _detector_config() -> tuple[int, list[tuple[int, int]]]:
    """(CONFIG_VERSION, [(key, value)]) of the firmware's detector defaults."""
    dc = firmware.core("detconfig")
    return int(dc.CONFIG_VERSION), [(int(k), int(v)) for k, _, v in dc.PARAMS]


CONFIG_VERSION, CONFIG_VALUES = _detector_config()


@dataclass
class SynthTruth:
    """Parameters used and what was generated (for checking the analysis)."""

    patient: str
    tz: str
    start_utc_ms: int
    end_utc_ms: int
    mode: str
    e0_per_h: float
    imax: float
    ic50_start: float
    ic50_growth_per_day: float
    night_factor: float
    n_events: int = 0            # events (episodes); EVENT records = n_events + n_bilateral
    n_bilateral: int = 0         # events also recorded on channel 1
    n_summaries: int = 0
    n_doses: int = 0
    dose_utc_ms: list[int] = field(default_factory=list)
    clock_jump_anchor_seq: int = 0
    missed_doses: int = 0
    late_doses: int = 0


def _circadian(hour: np.ndarray, night_factor: float) -> np.ndarray:
    # peak at 03:00 local, trough at 15:00; mean ~1
    return 1 + (night_factor - 1) * np.cos((hour - 3.0) / 24 * 2 * np.pi)


def generate(store: Store, *, patient: str = "P1", tz: str = "Europe/Berlin",
             start_day: str = "2026-10-12", days: int = 21, seed: int = 1, mode: str = "oral",
             device: str = "AA:BB:CC:00:00:01", e0_per_h: float = 34.0, imax: float = 0.85,
             ic50: float | None = None, ic50_growth_per_day: float = 0.006,
             night_factor: float = 1.35, drift_ppm: float = 40.0,
             dose_hours: tuple[int, ...] = (7, 12, 17, 22), dose_mg: float = 20.0,
             travel_days: tuple[int, int] | None = None, bilateral_p: float = 0.0) -> SynthTruth:
    """Generate ``days`` days from local midnight of ``start_day`` into ``store``.

    ``bilateral_p``: probability that an event is also recorded on EMG channel 1 (a second
    EVENT record inside the channel-0 one, onset up to 0.3 s later, possibly of another
    kind), as the per-channel detector logs a spasm seen on both legs. The same seed gives
    the same channel-0 data whatever ``bilateral_p`` is."""
    rng = np.random.default_rng(seed)
    brng = np.random.default_rng([seed, 2])      # bilateral copies: own stream
    if not any(p["code"] == patient for p in store.patients()):
        store.add_patient(patient, tz)
    store.assign_device(device, patient, who="synth")
    d0 = int(np.datetime64(start_day, "D").astype(np.int64))
    t0 = local_midnight_utc_ms(d0, tz)
    t1 = local_midnight_utc_ms(d0 + days, tz)
    ic50 = ic50 if ic50 is not None else (120.0 if mode == "oral" else 250.0)
    truth = SynthTruth(patient, tz, t0, t1, mode, e0_per_h, imax, ic50, ic50_growth_per_day,
                       night_factor)
    log = DoseLog(store, who="synth")

    # ---------------------------------------------------------------- doses
    dose_ms: list[int] = []
    dose_ug: list[float] = []
    bolus_ms: list[int] = []
    bolus_ug: list[float] = []
    if mode == "oral":
        for d in range(-1, days):          # the day before: doses still acting at the start
            mid = local_midnight_utc_ms(d0 + d, tz)
            for hh in dose_hours:
                u = rng.random()
                if u < 0.04:
                    truth.missed_doses += 1
                    continue
                t = mid + hh * HOUR_MS + int(rng.normal(0, 15) * 60_000)
                if u > 0.92:
                    truth.late_doses += 1
                    t += int(rng.uniform(60, 150) * 60_000)
                t -= t % 60_000
                dose_ms.append(t)
                dose_ug.append(dose_mg * 1000.0)
        pk = OralPK()
        conc: Callable[[np.ndarray], np.ndarray] = lambda ts: oral_concentration(ts, np.array(dose_ms), np.array(dose_ug), pk)  # noqa: E731
    else:
        steps = [PumpStep("00:00", 300.0), PumpStep("07:00", 420.0), PumpStep("21:00", 350.0)]
        log.add_pump_program(patient, steps, f"{np.datetime64(d0 - 3, 'D')} 00:00")
        for d in range(2, days, 7):
            t = local_midnight_utc_ms(d0 + d, tz) + 10 * HOUR_MS
            bolus_ms.append(t)
            bolus_ug.append(50.0)
            dose_ms.append(t)
            dose_ug.append(50.0)
        from ..analysis.data import pump_rate_fn
        rate_fn = pump_rate_fn(log.pump_programs(patient))
        ipk = ItbPK()
        conc = lambda ts: itb_concentration(ts, rate_fn, np.array(bolus_ms), np.array(bolus_ug), ipk)  # noqa: E731

    # ---------------------------------------------------------------- power / boots
    # charging every 4 days 19:00-20:30 local (device off), one whole day off (not worn,
    # device off) at day 9, a watchdog reboot on day 3 at 13:17.
    off: list[tuple[int, int]] = []
    for d in range(2, days, 4):
        m = local_midnight_utc_ms(d0 + d, tz)
        off.append((m + 19 * HOUR_MS, m + 20 * HOUR_MS + 30 * 60_000))
    if days > 10:
        off.append((local_midnight_utc_ms(d0 + 9, tz), local_midnight_utc_ms(d0 + 10, tz)))
    off.sort()
    wdt = [local_midnight_utc_ms(d0 + 3, tz) + 13 * HOUR_MS + 17 * 60_000] if days > 4 else []
    # boot intervals [start, end)
    cuts = [t0]
    for a, b in off:
        cuts += [a, b]
    cuts.append(t1)
    boots: list[tuple[int, int]] = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2)
                                    if cuts[i + 1] > cuts[i]]
    split: list[tuple[int, int]] = []
    for a, b in boots:
        for w in wdt:
            if a < w < b:
                split.append((a, w))
                a = w
        split.append((a, b))
    boots = split

    items: list[tuple[int, int, int, dict[str, Any]]] = []   # (true time, order, rtype, fields)
    k_drift = 1 - drift_ppm * 1e-6

    def dev_ms(t: ArrayLike, b_start: int) -> np.ndarray:
        return np.round((np.asarray(t) - b_start) * k_drift).astype(np.int64)

    anchor_count = 0
    for bi, (ba, bb) in enumerate(boots):
        boot = bi + 1
        items.append((ba, 0, rec.TYPE_BOOT, dict(boot=boot, reset_cause=3 if ba in wdt else 1,
                                                 fw_version=0x0102, config_version=CONFIG_VERSION,
                                                 board_hash=0x5EED)))
        for k, v in CONFIG_VALUES:
            items.append((ba, 0, rec.TYPE_CONFIG, dict(config_version=CONFIG_VERSION, key=k, value=v)))
        # windows
        ws = np.arange(ba, bb - WINDOW_S * 1000 + 1, WINDOW_S * 1000, dtype=np.int64)
        if ws.size == 0:
            continue
        win_mid = ws + WINDOW_S * 500
        _, hour = local_day_and_hour(win_mid, tz)
        day_idx = (win_mid - t0) / DAY_MS
        not_worn = ((hour >= 7.5) & (hour < 8.0)).astype(np.int64) * WINDOW_S * 10
        lost = np.where(rng.random(ws.size) < 0.02, rng.integers(300, WINDOW_S * 10, ws.size), 0)
        lost = np.minimum(lost, WINDOW_S * 10 - not_worn)
        covered = WINDOW_S * 10 - not_worn - lost
        c = conc(win_mid)
        ic = ic50 * (1 + ic50_growth_per_day * day_idx)
        lam = e0_per_h * _circadian(hour, night_factor) * (1 - imax * c / (ic + c))
        counts = rng.poisson(lam * covered / 36_000.0)
        n = int(counts.sum())
        wi = np.repeat(np.arange(ws.size), counts)
        onset = ws[wi] + (rng.random(n) * covered[wi] * 100).astype(np.int64)
        kind = rng.choice([1, 2, 3], size=n, p=[0.7, 0.2, 0.1])
        dur = np.where(kind == 1, rng.lognormal(np.log(2500), 0.7, n),
                       rng.lognormal(np.log(6000), 0.8, n)).astype(np.int64).clip(300, 120_000)
        peak = rng.lognormal(np.log(8000), 0.5, n).astype(np.int64)
        clonus_chz = np.where(kind > 1, rng.normal(540, 50, n), 0).astype(np.int64).clip(0, 2000)
        flags = np.where(rng.random(n) < 0.05, rec.FLAG_NEAR_THRESHOLD, 0)
        on_dev = dev_ms(onset, ba)
        for j in range(n):
            items.append((int(onset[j] + dur[j]), 2, rec.TYPE_EVENT, dict(
                boot=boot, onset_ms=int(on_dev[j]), duration_ms=int(dur[j]), kind=int(kind[j]),
                channel=0, flags=int(flags[j]), peak_cuv=int(peak[j]), mean_cuv=int(peak[j] // 3),
                area_uvms=int(peak[j] * dur[j] // 300), clonus_chz=int(clonus_chz[j]),
                gyro_peak_ddps=int(rng.integers(0, 900)), acc_peak_mg=int(rng.integers(0, 400)),
                mvc_pm=0xFFFF, config_version=CONFIG_VERSION)))
            if bilateral_p > 0 and brng.random() < bilateral_p:
                q = max(1, min(300, int(dur[j]) // 4))
                a_, b_ = int(brng.integers(0, q)), int(brng.integers(0, q))
                k2 = int(kind[j]) if brng.random() < 0.7 else int(brng.choice([1, 2, 3]))
                pk2 = int(peak[j] * brng.uniform(0.3, 1.2))
                items.append((int(onset[j] + dur[j] - b_), 2, rec.TYPE_EVENT, dict(
                    boot=boot, onset_ms=int(on_dev[j]) + a_, duration_ms=int(dur[j]) - a_ - b_, kind=k2,
                    channel=1, flags=0, peak_cuv=pk2, mean_cuv=pk2 // 3,
                    area_uvms=int(pk2 * dur[j] // 300), clonus_chz=int(clonus_chz[j]) if k2 > 1 else 0,
                    gyro_peak_ddps=0, acc_peak_mg=0, mvc_pm=0xFFFF, config_version=CONFIG_VERSION)))
                truth.n_bilateral += 1
        nsp = np.bincount(wi[kind != 2], minlength=ws.size)
        ncl = np.bincount(wi[kind != 1], minlength=ws.size)
        sp_ds = np.bincount(wi[kind != 2], weights=dur[kind != 2] / 100, minlength=ws.size)
        cl_ds = np.bincount(wi[kind != 1], weights=dur[kind != 1] / 100, minlength=ws.size)
        ws_dev = dev_ms(ws, ba)
        for j in range(ws.size):
            items.append((int(ws[j] + WINDOW_S * 1000), 3, rec.TYPE_SUMMARY, dict(
                boot=boot, start_ms=int(ws_dev[j]), window_s=WINDOW_S, n_spasm=int(nsp[j]),
                n_clonus=int(ncl[j]), spasm_ds=int(min(sp_ds[j], 65535)),
                clonus_ds=int(min(cl_ds[j], 65535)), covered_ds=int(covered[j]),
                lost_ds=int(lost[j]), not_worn_ds=int(not_worn[j]), dropped_samples=0,
                n_motion_rejected=int(rng.integers(0, 3)), jitter_us=int(rng.integers(50, 400)),
                battery_pct=80, config_version=CONFIG_VERSION)))
        # syncs every 6 h at 02/08/14/20 local (+ a few minutes)
        sync_t = []
        for d in range(int((ba - t0) // DAY_MS) - 1, int((bb - t0) // DAY_MS) + 2):
            m = local_midnight_utc_ms(d0 + d, tz)
            sync_t += [m + h * HOUR_MS + int(rng.integers(0, 600)) * 1000 for h in (2, 8, 14, 20)]
        for t in sorted(x for x in sync_t if ba < x < bb):
            anchor_count += 1
            host_s = t // 1000
            if anchor_count == 9:            # a host with a wrong clock
                host_s += 3600
                truth.clock_jump_anchor_seq = -1   # filled after seqs are assigned
            tzq = int(utc_offset_ms(np.array([t]), tz)[0] // 900_000)
            if travel_days and travel_days[0] <= (t - t0) // DAY_MS < travel_days[1]:
                tzq -= 24                                   # phone shows a zone 6 h west
            items.append((t, 1, rec.TYPE_TIME_ANCHOR, dict(
                boot=boot, ms=int(dev_ms(t, ba)), unix_s=int(host_s), tz_quarter_h=tzq, source=1)))
            if anchor_count == 9:
                items[-1][3]["_jump"] = True
    # button marks for a third of the doses (pressed 0-3 min after)
    for t in dose_ms:
        if rng.random() < 0.33:
            tm = t + int(rng.integers(0, 180)) * 1000
            for bi, (ba, bb) in enumerate(boots):
                if ba <= tm < bb:
                    items.append((tm, 4, rec.TYPE_MARK, dict(boot=bi + 1, ms=int(dev_ms(tm, ba)), kind=1)))
    items.sort(key=lambda x: (x[0], x[1]))
    frames = []
    for seq, (_, _, rtype, f) in enumerate(items, 1):
        if f.pop("_jump", False):
            truth.clock_jump_anchor_seq = seq
        frames.append(rec.encode(rtype, seq, **f))
    for i in range(0, len(frames), 20_000):
        store.insert_records(device, frames[i:i + 20_000])
    truth.n_events = sum(1 for x in items if x[2] == rec.TYPE_EVENT) - truth.n_bilateral
    truth.n_summaries = sum(1 for x in items if x[2] == rec.TYPE_SUMMARY)

    # ---------------------------------------------------------------- dose log
    route = "oral" if mode == "oral" else "intrathecal_bolus"
    log.add_many(patient, [
        DoseInput("baclofen", *_amount(f"{ug / 1000:g} mg" if mode == "oral" else f"{ug:g} ug"),
                  route, int(t), tz, None, "import", "synth") for t, ug in zip(dose_ms, dose_ug)])
    truth.n_doses = len(dose_ms)
    truth.dose_utc_ms = list(dose_ms)
    return truth


def _amount(text: str) -> tuple[float, str, float]:
    from ..doses.parse import parse_amount
    return parse_amount(text)
