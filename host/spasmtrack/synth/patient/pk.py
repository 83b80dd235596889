"""Baclofen concentration models used by the patient simulator.

Units: time in hours, doses in mg (oral) or µg (intrathecal), concentrations in ng/mL
(plasma for oral dosing, lumbar CSF for intrathecal dosing).

Oral: one-compartment model with first-order absorption and elimination (the Bateman
function), superposed over doses. Defaults from the literature collected in
``shared/design/DOMAIN.md``:

- elimination half-life 3.5 h (3-4 h typical; Wuis 1985, Agarwal 2015),
- Tmax 1.5 h (0.5-3 h, product monograph), from which the absorption rate ka follows,
- apparent clearance CL/F = 180 mL/min (Wuis 1985), so V/F = CL/F / ke (about 55 L).

Intrathecal (ITB): one CSF compartment with a zero-order continuous infusion (pump rate
program, µg/day) and boluses that enter the CSF through a first-order spread from the
injection site (so a bolus peaks after a few hours, matching "ITB bolus peak effect
within about 4 h", Medscape). CSF half-life 4 h and volume 0.15 L are assumptions
(`[weak]`: reported lumbar CSF half-lives span 1.5-5 h); they give about 560 ng/mL at a
350 µg/day infusion, inside the 130-1240 ng/mL reported during maintenance therapy.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np

LN2 = math.log(2.0)


def ka_from_tmax(tmax_h: float, ke_per_h: float) -> float:
    """Absorption rate (1/h) giving peak time ``tmax_h`` for elimination rate ``ke_per_h``.

    Solves ``tmax = ln(ka/ke) / (ka - ke)`` for ka > ke by bisection (the right side falls
    monotonically from 1/ke to 0 as ka grows)."""
    if tmax_h <= 0 or ke_per_h <= 0:
        raise ValueError(f"tmax_h and ke_per_h must be > 0 (got {tmax_h}, {ke_per_h})")
    if tmax_h >= 1.0 / ke_per_h:
        raise ValueError(f"tmax {tmax_h} h is not reachable with ke {ke_per_h}/h (needs < {1 / ke_per_h:.2f} h)")

    def tmax_of(ka: float) -> float:
        return math.log(ka / ke_per_h) / (ka - ke_per_h)

    lo, hi = ke_per_h * (1 + 1e-9), ke_per_h * 2.0
    while tmax_of(hi) > tmax_h:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if tmax_of(mid) > tmax_h:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class OralPK:
    """One-compartment oral model. ``half_life_h`` and ``tmax_h`` as in the analysis."""

    half_life_h: float = 3.5
    tmax_h: float = 1.5
    cl_f_ml_min: float = 180.0

    @property
    def ke(self) -> float:
        """Elimination rate constant (1/h)."""
        return LN2 / self.half_life_h

    @property
    def ka(self) -> float:
        """Absorption rate constant (1/h)."""
        return ka_from_tmax(self.tmax_h, self.ke)

    @property
    def v_f_l(self) -> float:
        """Apparent volume V/F (L) = (CL/F) / ke."""
        return self.cl_f_ml_min * 60.0 / 1000.0 / self.ke

    def concentration(self, t_h: np.ndarray, dose_t_h: Sequence[float], dose_mg: Sequence[float]) -> np.ndarray:
        """Plasma concentration (ng/mL) at times ``t_h`` (h) after oral doses at ``dose_t_h``."""
        t = np.asarray(t_h, dtype=np.float64)
        c = np.zeros_like(t)
        ka, ke, v = self.ka, self.ke, self.v_f_l
        k = ka / (v * (ka - ke)) * 1000.0          # mg/L -> ng/mL
        for td, d in zip(dose_t_h, dose_mg):
            tau = t - td
            m = tau > 0
            if not m.any():
                continue
            tt = tau[m]
            c[m] += d * k * (np.exp(-ke * tt) - np.exp(-ka * tt))
        return c

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(model="oral-1cpt", ke_per_h=self.ke, ka_per_h=self.ka, v_f_l=self.v_f_l,
                 units={"concentration": "ng/mL plasma", "dose": "mg", "time": "h"})
        return d


@dataclass(frozen=True)
class IntrathecalPK:
    """CSF compartment: continuous pump infusion plus boluses with first-order spread."""

    half_life_h: float = 4.0
    v_csf_l: float = 0.15
    bolus_spread_h: float = 1.0   # time constant of bolus spread from the injection site

    @property
    def ke(self) -> float:
        return LN2 / self.half_life_h

    @property
    def ka(self) -> float:
        return 1.0 / self.bolus_spread_h

    def concentration(self, t_h: np.ndarray, rate_steps: Iterable[tuple[float, float]],
                      bolus_t_h: Sequence[float], bolus_ug: Sequence[float]) -> np.ndarray:
        """CSF concentration (ng/mL = µg/L) at ``t_h``.

        ``rate_steps``: (start_h, rate_ug_per_day) pairs sorted by time; each rate holds
        until the next step (the pump program, flex schedules included). The infusion is
        assumed to have run at the first rate long before t=0 (steady state at start)."""
        t = np.asarray(t_h, dtype=np.float64)
        ke, v = self.ke, self.v_csf_l
        steps = sorted(rate_steps)
        c = np.zeros_like(t)
        prev = 0.0
        for i, (ts, r) in enumerate(steps):
            r_h = r / 24.0                          # µg/h
            delta = r_h - prev
            prev = r_h
            if i == 0:
                c += delta / (ke * v)              # steady state from the past
                continue
            tau = t - ts
            m = tau > 0
            c[m] += delta / (ke * v) * (1.0 - np.exp(-ke * tau[m]))
        ka = self.ka
        for tb, d in zip(bolus_t_h, bolus_ug):
            tau = t - tb
            m = tau > 0
            tt = tau[m]
            if abs(ka - ke) < 1e-9:
                c[m] += d / v * ka * tt * np.exp(-ke * tt)
            else:
                c[m] += d / v * ka / (ka - ke) * (np.exp(-ke * tt) - np.exp(-ka * tt))
        return c

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(model="itb-1cpt", ke_per_h=self.ke, ka_bolus_per_h=self.ka,
                 units={"concentration": "ng/mL CSF", "dose": "ug", "rate": "ug/day", "time": "h"})
        return d


@dataclass(frozen=True)
class EmaxResponse:
    """Spasm hazard multiplier ``1 - emax * C^n / (ec50^n + C^n)`` (C in ng/mL).

    ``base_rate_per_h`` is the mean drug-free spontaneous spasm rate (over the day; the
    daily rhythm multiplies it)."""

    base_rate_per_h: float = 5.0
    emax: float = 0.8
    ec50_ng_ml: float = 100.0
    hill: float = 1.0

    def effect(self, c: np.ndarray) -> np.ndarray:
        c = np.maximum(np.asarray(c, dtype=np.float64), 0.0)
        cn = c ** self.hill
        return self.emax * cn / (self.ec50_ng_ml ** self.hill + cn)

    def multiplier(self, c: np.ndarray) -> np.ndarray:
        return 1.0 - self.effect(c)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = "rate = base_rate_per_h * circadian(t) * (1 - emax*C^hill/(ec50^hill + C^hill))"
        return d
