"""Baclofen concentration models (relative exposure for timing analysis, not for dosing).

Oral: one-compartment, first-order absorption and elimination (Bateman function)::

    C(t) = D * ka / (V * (ka - ke)) * (exp(-ke t) - exp(-ka t)),  t >= 0

with ``ke = ln 2 / t_half`` and ``ka`` solved from ``Tmax = ln(ka/ke) / (ka - ke)``.
Defaults (DOMAIN.md): half-life 3.5 h (3-4 h typical, 2.5-5.8 h reported; Wuis 1985,
Agarwal 2015), Tmax 1.5 h (0.5-3 h, product monograph), apparent volume V/F from
CL/F = 180 mL/min (Wuis 1985): V/F = CL/F / ke = 54.5 L at 3.5 h; bioavailability (~74 %)
is folded into the apparent volume. Units: dose ug, volume L -> concentration ug/L (= ng/mL).

Intrathecal (ITB): one CSF compartment fed by the pump's continuous rate (piecewise
constant, ug/day, from the pump program) plus boluses (ug), eliminated with a CSF
half-life (default 4 h [weak]; reported 1-5 h) in a nominal volume (default 0.15 L [weak]).
ITB concentrations are model units for timing within one patient; they are not
comparable with oral plasma concentrations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.signal import lfilter

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class OralPK:
    t_half_h: float = 3.5
    tmax_h: float = 1.5
    cl_l_per_h: float = 10.8          # CL/F, 180 mL/min

    @property
    def ke(self) -> float:
        return math.log(2) / self.t_half_h

    @property
    def ka(self) -> float:
        ke, tmax = self.ke, self.tmax_h
        if tmax >= 1 / ke:
            raise ValueError(f"Tmax {tmax} h is not reachable with half-life {self.t_half_h} h")
        return brentq(lambda ka: math.log(ka / ke) / (ka - ke) - tmax, ke * (1 + 1e-9) + 1e-9, 100.0)

    @property
    def v_l(self) -> float:
        return self.cl_l_per_h / self.ke

    def describe(self) -> str:
        return (f"oral one-compartment model: half-life {self.t_half_h:g} h, Tmax {self.tmax_h:g} h "
                f"(ka {self.ka:.2f}/h), CL/F {self.cl_l_per_h:g} L/h, V/F {self.v_l:.1f} L")


@dataclass(frozen=True)
class ItbPK:
    t_half_h: float = 4.0
    v_l: float = 0.15

    @property
    def ke(self) -> float:
        return math.log(2) / self.t_half_h

    def describe(self) -> str:
        return (f"intrathecal CSF one-compartment model: half-life {self.t_half_h:g} h, nominal "
                f"volume {self.v_l:g} L (model units)")


def oral_concentration(t_ms: np.ndarray, dose_ms: np.ndarray, dose_ug: np.ndarray,
                       pk: OralPK = OralPK(), horizon_half_lives: float = 10.0) -> np.ndarray:
    """Superposed oral concentration (ug/L) at times ``t_ms`` (UTC ms, any order)."""
    t_ms = np.asarray(t_ms, dtype=np.int64)
    order = np.argsort(t_ms, kind="stable")
    ts = t_ms[order]
    out = np.zeros(len(ts))
    ka, ke, v = pk.ka, pk.ke, pk.v_l
    k = ka / (v * (ka - ke))
    horizon = int(horizon_half_lives * pk.t_half_h * HOUR_MS)
    for td, d in zip(np.asarray(dose_ms, dtype=np.int64), np.asarray(dose_ug, dtype=float)):
        i0, i1 = np.searchsorted(ts, [td, td + horizon])
        if i1 > i0:
            dt = (ts[i0:i1] - td) / HOUR_MS
            out[i0:i1] += d * k * (np.exp(-ke * dt) - np.exp(-ka * dt))
    res = np.empty_like(out)
    res[order] = out
    return res


def itb_concentration(t_ms: np.ndarray, rate_fn, bolus_ms: np.ndarray, bolus_ug: np.ndarray,
                      pk: ItbPK = ItbPK(), step_ms: int = 300_000,
                      warmup_ms: int = 2 * 86_400_000) -> np.ndarray:
    """CSF model concentration (ug/L) at ``t_ms`` from the pump rate and boluses.

    ``rate_fn(grid_ms) -> ug/day`` gives the programmed rate at each grid instant (0 where
    no program). Exact discretisation on a ``step_ms`` grid starting ``warmup_ms`` before
    the first time, then linear interpolation.
    """
    t_ms = np.asarray(t_ms, dtype=np.int64)
    if t_ms.size == 0:
        return np.zeros(0)
    g0 = int(t_ms.min()) - warmup_ms
    g0 -= g0 % step_ms
    grid = np.arange(g0, int(t_ms.max()) + 2 * step_ms, step_ms, dtype=np.int64)
    rate_ug_h = np.asarray(rate_fn(grid), dtype=float) / 24.0
    dt_h = step_ms / HOUR_MS
    a = math.exp(-pk.ke * dt_h)
    x = rate_ug_h / (pk.v_l * pk.ke) * (1 - a)
    bolus_ms = np.asarray(bolus_ms, dtype=np.int64)
    if bolus_ms.size:
        idx = np.clip((bolus_ms - g0) // step_ms + 1, 0, len(grid) - 1)
        np.add.at(x, idx, np.asarray(bolus_ug, dtype=float) / pk.v_l)
    c = lfilter([1.0], [1.0, -a], x)
    return np.interp(t_ms.astype(float), grid.astype(float), c)
