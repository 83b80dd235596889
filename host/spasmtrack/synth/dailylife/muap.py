"""Surface motor-unit action potentials from a line-source volume-conductor model.

Each muscle fibre carries two action potentials that start at its endplate and travel to
its two tendon ends at the conduction velocity, where they are extinguished. The
intracellular potential along the fibre follows Rosenfalck (1969),
``Vm(z) = 96 z^3 exp(-z) - 90`` mV (z in mm behind the wavefront); the transmembrane
current density is proportional to its second spatial derivative (the "tripole" of the
core-conductor model, Plonsey 1974), so sources sum to zero along a whole wave and the
generation at the endplate and extinction at the tendons appear by themselves as the
wave enters or leaves the fibre.

The potential of each current element is that of a point source in an anisotropic
homogeneous medium (Andreassen & Rosenfalck 1981: radial 0.063 S/m, axial 0.33 S/m),
``phi = I / (4 pi sqrt(sr^2 sz)) / sqrt(r^2/sr + z^2/sz)``, seen by a bipolar pair of
point electrodes 20 mm apart along the fibres beyond the endplate, at a radial distance
of the fibre's depth plus 3 mm of skin and fat. Depth acts as a spatial low-pass
filter: deep units give wide, small MUAPs (Lindstrom & Magnusson 1977; Merletti et al.
1999 for the same construction with layered tissue).

A motor unit is an ensemble of fibres (here 6 representative fibres with endplates
scattered +-5 mm and depths +-1 mm around the unit's centre, each standing for its
share of the unit's fibre count), so larger units give larger MUAPs. Potentials are
computed at 10 kHz and decimated to the output rate with an anti-alias filter.

Units: output MUAPs in microvolts per unit fibre-count scale (the pool sets the
absolute gain), sampled at ``fs_hz``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

SIGMA_RADIAL = 0.063        # S/m, Andreassen & Rosenfalck 1981
SIGMA_AXIAL = 0.33          # S/m
SKIN_FAT_MM = 7.0           # skin and subcutaneous fat over the muscle (mm); see the module docstring
IED_MM = 20.0               # inter-electrode distance of the bipolar pair (mm)
ELECTRODE_FROM_ENDPLATE_MM = 25.0   # first electrode beyond the endplate (mm)
FS_MODEL_HZ = 10_000        # rate of the field computation (Hz)
DZ_MM = 0.25                # spatial step along the fibre (mm)
WINDOW_S = 0.030            # MUAP length (s)


def rosenfalck_d1(u_mm: np.ndarray) -> np.ndarray:
    """First derivative of the Rosenfalck intracellular potential (mV/mm)."""
    u = np.clip(u_mm, 0.0, None)
    return np.where(u_mm > 0, 96.0 * u * u * (3.0 - u) * np.exp(-u), 0.0)


def rosenfalck_d2(u_mm: np.ndarray) -> np.ndarray:
    """Second derivative of the Rosenfalck intracellular potential (mV/mm^2) at ``u_mm``
    mm behind the wavefront (0 ahead of it)."""
    u = np.clip(u_mm, 0.0, None)
    return np.where(u_mm > 0, 96.0 * u * np.exp(-u) * (6.0 - 6.0 * u + u * u), 0.0)


@dataclass(frozen=True)
class FibreGeometry:
    """One fibre: depth below the muscle surface (mm), endplate position (mm, along the
    fibre axis, electrode coordinates), half-lengths to the two tendons (mm), conduction
    velocity (m/s = mm/ms)."""
    depth_mm: float
    endplate_mm: float
    half_left_mm: float
    half_right_mm: float
    velocity_m_s: float


def fibre_sources(velocity_m_s: float, half_left_mm: float, half_right_mm: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Transmembrane currents of a fibre's two travelling waves: element positions (mm from
    the endplate) and currents (t, z) at FS_MODEL_HZ over WINDOW_S."""
    n_left, n_right = int(half_left_mm / DZ_MM), int(half_right_mm / DZ_MM)
    k = np.arange(-n_left, n_right + 1)
    t_ms = np.arange(int(WINDOW_S * FS_MODEL_HZ)) * (1000.0 / FS_MODEL_HZ)
    front = velocity_m_s * t_ms                                  # mm travelled since the endplate
    # Vm' at the element edges, u mm behind the front; an element's current is the
    # difference across it (Vm'' integrated exactly, so a whole wave sums to zero)
    edges = (np.arange(max(n_left, n_right) + 2) - 0.5) * DZ_MM
    d1 = rosenfalck_d1(front[:, None] - edges[None, :])         # (t, edge) ; edge j at (j - 1/2) DZ
    per_dist = d1[:, :-1] - d1[:, 1:]                             # element at distance j DZ
    im = per_dist[:, np.abs(k)]
    # the endplate element: both waves leave it, and the kink of Vm there is a point
    # source -2 Vm'(front); together -2 Vm'(front - DZ/2)
    im[:, n_left] = -2.0 * d1[:, 1]
    # a sealed tendon end: what would flow beyond it collects at the end (the extinction
    # source, telescoped: Vm' at the end's outer edge)
    im[:, 0] += d1[:, n_left + 1]
    im[:, -1] += d1[:, n_right + 1]
    return k * DZ_MM, im


def fibre_potential(g: FibreGeometry, sources: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Bipolar surface potential (arbitrary units, proportional to uV) of one fibre's two
    travelling waves, sampled at FS_MODEL_HZ over WINDOW_S."""
    z_rel, im = sources or fibre_sources(g.velocity_m_s, g.half_left_mm, g.half_right_mm)
    z = g.endplate_mm + z_rel
    r = g.depth_mm + SKIN_FAT_MM
    gain = 1.0 / (4 * np.pi * np.sqrt(SIGMA_RADIAL ** 2 * SIGMA_AXIAL))
    e1 = ELECTRODE_FROM_ENDPLATE_MM
    e2 = e1 + IED_MM

    def kernel(x_e: float) -> np.ndarray:
        return gain / np.sqrt(r * r / SIGMA_RADIAL + (z - x_e) ** 2 / SIGMA_AXIAL)

    return im @ (kernel(e1) - kernel(e2))


def unit_muap(depth_mm: float, velocity_m_s: float, rng: np.random.Generator, fs_hz: int,
              n_fibres: int = 6) -> np.ndarray:
    """The MUAP of one motor unit (bipolar, sampled at ``fs_hz``), normalised to a peak
    absolute value of 1 for a unit at 0 mm depth: deeper units come out smaller and wider.
    The unit's fibres share length and velocity; their depths (+-1 mm) and endplates
    (+-2.5 mm) scatter."""
    half_left, half_right = rng.uniform(50.0, 70.0), rng.uniform(50.0, 70.0)
    src = fibre_sources(velocity_m_s, half_left, half_right)
    acc = np.zeros(int(WINDOW_S * FS_MODEL_HZ))
    for _ in range(n_fibres):
        g = FibreGeometry(depth_mm=max(0.2, depth_mm + rng.normal(0.0, 1.0)),
                          endplate_mm=rng.normal(0.0, 2.5), half_left_mm=half_left,
                          half_right_mm=half_right, velocity_m_s=velocity_m_s)
        acc += fibre_potential(g, src)
    acc /= n_fibres * _REFERENCE_PEAK
    return sps.resample_poly(acc, fs_hz, FS_MODEL_HZ)


def _reference_peak() -> float:
    g = FibreGeometry(0.0, 0.0, 60.0, 60.0, 4.0)
    return float(np.max(np.abs(fibre_potential(g))))


_REFERENCE_PEAK = _reference_peak()
