"""Daily-life activities and spasm shapes of the corpus (the detector's context classes).

Activities drive the same EMG texture (the same motor-unit pool) as the spasms, so texture
alone cannot tell them apart; what differs is their burst structure and the IMU:

* ``walk``: a bout of 20-120 s; an EMG burst of 0.1-0.4 s at every stride (cadence
  0.6-1.2 Hz, +-3 % jitter), the IMU swinging with the same period (acceleration
  0.15-0.5 g with a second harmonic and a heel-strike impulse, angular rate 60-200 dps) and
  co-contraction between the bursts (a tonic level of 0-0.5 of the burst amplitude, also
  in ``push``);
* ``push`` (wheelchair propulsion): 20-120 s of arm bursts of 0.2-0.5 s at 0.7-1.3 Hz, the
  IMU moving with each push plus a weak 12-20 Hz rolling vibration;
* ``ride`` (car, wheelchair on rough ground): 30-180 s of 10-30 Hz vibration on the IMU
  (0.03-0.2 g) and cable-sway artifacts on the EMG (1-6 Hz sway of 20-300 uV and sharp
  triboelectric spikes of 30-200 uV, 0.5-3 per second);
* ``tapping`` (voluntary, e.g. at a desk): 2-3 bursts of 0.1-0.4 s, 0.25-0.6 s apart, each
  with a small IMU tap.

A walk, push or ride bout holds a spasm with probability 0.35 (the activity pauses around
it); that spasm's label has the bout's context. Spasm shapes (``shaped`` classes): a tonic
plateau, a flexor jerk (10-30 ms rise, exponential decay, tau 0.3-1.5 s, label until 3 tau),
waxing-waning (0.3-1 Hz modulation of depth 0.5-0.8), a crescendo (from 35-50 % to full over
2-6 s); the limb moves 50-150 ms after the EMG onset. Clonus bouts in these classes drift
in frequency across the bout (+-1 Hz) and wax or decay (gain 0.4-1). Backgrounds: tonic
EMG of 1-3x the noise, ECG bleed (QRS of 10-60 uV at 55-95 beats/min).

Clinic and home classes (``physio``, ``transfer``, ``sleep``, ``prelude``, ``desk_mains``,
``car``, ``displaced`` in generator.CLASSES; written from the physiology below, not from the other
generators). The sensor's x axis lies along the limb; a rotation about it shows on the
gyro's x (dps) and turns the gravity vector in the y-z plane (g) by the integral of that rate:

* ``stretch`` (context ``physio``): a therapist's passive stretch every 5-15 s, the limb
  rotated at 30-90 dps for 0.5-1.5 s (the rate reaches its plateau in 30-60 ms, so the gyro
  shows the movement before the reflex), held 0.5-2 s and brought back in 1-4.5 s (peak
  <= 60 dps; that shortens the muscle). Spasticity is a velocity-dependent increase of the
  tonic stretch reflex (Lance 1980); the reflex EMG starts after the imposed movement, at a latency
  of 30-80 ms (short- and medium-latency components in spastic limbs: Thilmann, Fellows &
  Garms 1991; Sinkjaer et al. 1993), and grows with the stretch velocity (Powers,
  Marder-Meyer & Rymer 1988): here a burst of 0.3-1.5 s (20-40 ms rise, 100-200 ms fall) at
  3-12 dB above the background scaled by velocity / 60 dps. Not labelled (the examination,
  not a spasm). Three stretches in ten provoke an episode that follows the reflex burst
  without a pause (it starts during the reflex's fall; the stretch is then held until the
  episode is over, as a sustained stretch sustains clonus): clonus (half of them, 2-25 s, 4-8 Hz
  drifting: stretch-induced clonus, Rack, Ross & Thilmann 1984; Beres-Jones et al. 2003),
  a spasm or a spasm with clonus (a quarter each), labelled from the episode's own activity.
* ``transfer`` (context ``transfer`` while it lasts): a 4-8 s bed-chair transfer. Weight
  bearing through the arms and trunk is a smooth voluntary contraction rising and falling
  over the transfer (Hann envelope, 10-20 dB; sitting-pivot transfers: Gagnon et al. 2008),
  the trunk and limb pivot at a peak of 40-150 dps (gyro z), the body lifts off and sits down
  (+-0.1-0.3 g on x) and the limb's posture changes for good by 20-60 deg (gravity vector
  turns; alternately bed to chair and back). Not labelled. Positional changes and transfers
  trigger spasms in spinal cord injury (Little et al. 1989; Adams & Hicks 2005): half of the
  transfers are followed 0.5-3 s after their end by a spasm (labelled, context ``rest``).
* ``roll`` (class ``sleep``, context ``sleep`` throughout): turning over in bed every 3-10 min
  (posture shifts of sleep: De Koninck et al. 1992), a 1-3 s voluntary burst (Hann, 10-20 dB)
  with the limb rotating at a peak of 30-120 dps about its axis and a lasting posture change
  of up to 120 deg (the gravity vector turns); kept 3 s clear of any episode; not labelled.
  Nocturnal spasms are flexor jerks and tonic plateaus (Thomas et al. 2014), labelled.
* ``prelude`` and ``crescendo0`` spasm shapes (class ``prelude``): a tonic background rising
  slowly over 2-10 s to 5-40 % of the peak before the spasm's own 30-150 ms rise, or a
  crescendo that starts from zero and builds over 2-8 s (raised cosine), then holds 0.5-5 s.
* ``mains`` (class ``desk_mains``, context ``desk`` throughout, tapping included): hum of
  switching equipment on a timeline of its own, on for 30-180 s and off for 30-180 s, 50 or
  60 Hz with a fundamental of 5-25 uV RMS and a third harmonic of 5-30 % of the fundamental
  (non-linear loads such as switch-mode supplies draw odd-harmonic currents, the third the
  largest: IEC 61000-3-2; capacitive coupling of mains into biopotential leads: Huhta &
  Webster 1973), over tapping and labelled spasms.
* ``car`` (context ``vehicle`` throughout): driving spans of 60-300 s with stops of 5-40 s on
  a timeline of their own over the labelled spasms; while driving, the ``ride`` model above.
  Checked against physics: seat vibration in road vehicles carries most of its energy
  between about 1 and 30 Hz (Griffin 1990), and the ride's 0.03-0.2 g (0.3-2 m/s2) at
  10-30 Hz spans ISO 2631-1's comfort scale from "not uncomfortable" to "very
  uncomfortable" (wheelchairs on rough ground sit at its top); cable and electrode motion
  gives artifacts mostly below 20 Hz (De Luca et al. 2010), so a 20 Hz high-pass removes
  most of the 20-300 uV sway but not its sharp edges, nor the broadband triboelectric
  spikes of cable flexing. The ``car`` class draws the sway from 1-10 Hz (the ``ride``
  bouts of the ``vehicle`` class keep their 1-6 Hz draws so those recordings do not change).
* ``displaced`` (context ``sleep``: lying in bed at night, recording 1; ``rest``: sitting in
  the wheelchair, recording 2): ordinary spasms of which half leave the limb resting in a
  new position, and voluntary posture changes that are not spasms. It measures the
  detector's posture rule from both sides. The sensor sits on the thigh (x along it, z the
  skin's normal, up when lying supine or sitting, as in every class). Flexor withdrawal
  spasms (hip and knee flexion with ankle dorsiflexion) and extensor spasms of the legs are
  the common spasm patterns after spinal cord injury, set off among other things by
  movement and changes of position (Little et al. 1989; Kawamura, Ise & Tagami 1989); the
  involuntary contractions include tonic, clonic and mixed ones (Thomas et al. 2014). Here:
  flexor jerks and tonic plateaus (the ``shapes`` above) and spasms with clonus (55 and 15
  in 100 scheduled items), and what the movement does afterwards. Every spasm moves the
  limb: 50-150 ms after the onset of the contraction that moves it (the whole spasm, or the
  tonic part of a spasm with clonus) the thigh rotates by 20-70 deg about an axis in its
  x-y plane perpendicular to the gravity vector (so gravity turns by exactly that angle in
  the sensor frame: flexion about y, the leg rolling out or in about x, or a mix), with a
  Hann-shaped rate of peak 60-250 dps, sped up where needed to end within 90 % of the time
  from its start to the end of that contraction or the label's offset, whichever is first
  (a jerk of tau 0.3 s moves 70 deg at up to about 270 dps). Then, drawn with probability 0.5 per
  episode (the share is a design choice: no study counts it):
  - *displaced*: the limb stays where the spasm took it (supine: the flexed leg falls out
    into hip external rotation, or the knee stays drawn up on the pillow; seated: an
    extensor spasm pushes the foot off the footplate and the leg stays out). It is held
    10-40 s after the episode's end and then, with probability 0.5, brought back slowly by the
    hands or a carer (3-8 s, Hann rate, no EMG of the sensed muscle, unlabelled); otherwise
    it stays until the next item, whose own movement starts from there;
  - *returning*: the limb falls back to where it started as the contraction that moved it
    relaxes: from the last time that contraction's envelope exceeds 30 % of its peak (or
    the movement's end, if later) over 0.5-1.5 s.
  Voluntary posture changes (30 in 100 items, unlabelled): in bed, half of them a roll
  (1-3 s, about the thigh's x axis, peak 30-120 dps, up to 120 deg, as ``roll`` above),
  the other half, and every one in the chair, a reposition of the leg (1.5-4 s, 20-60 deg
  about an axis in the x-y plane perpendicular to gravity), each with a voluntary burst
  (Hann, 10-20 dB over the item) and held at least until the next item. Every new movement
  turns back towards the starting posture when the limb lies more than 40 deg from it.
  Items are 4-40 s apart (log-uniform). Labelled by the 10 % rule below; the rotations are
  sequential, each from the posture the previous one left (:func:`add_moves`).

Label rule of these classes (every episode in them, shaped or not; the project's episode
definition, docs/detector.md): an episode begins where its own amplitude envelope (RMS, uV,
including its slow fluctuations, without the background, reflex bursts or other activity)
first exceeds 10 % of its peak, and ends where it last does (evaluated on a 1 ms grid). Its
context is the context at that onset. The older classes keep the envelope-start rule of the
package docstring.

Everything is a deterministic function of time and of parameters drawn at scheduling, so
chunks stay independent of the reader's chunk size.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .generator import Item

ACTIVITIES = ("walk", "push", "ride", "tapping")
#: context name of each activity (labels and detections are scored per context)
CONTEXT_OF = {"walk": "walking", "push": "wheelchair", "ride": "vehicle", "tapping": "tapping"}
SHAPES = ("plateau", "jerk", "waxwane", "crescendo")


def bout_bursts(t0: float, t1: float, rate: tuple[float, float], width: tuple[float, float],
                rng: np.random.Generator) -> tuple[list[tuple[float, float, float]], float]:
    """Bursts (centre, width, gain) at a jittered rhythm from t0 to t1, and the rate (Hz)."""
    f = float(rng.uniform(*rate))
    w = float(rng.uniform(*width))
    out: list[tuple[float, float, float]] = []
    tt = t0 + 0.5 / f
    while tt < t1 - 0.5:
        out.append((tt, w * float(rng.uniform(0.85, 1.15)), float(np.clip(1 + 0.2 * rng.standard_normal(), 0.5, 1.5))))
        tt += (1.0 / f) * float(rng.uniform(0.97, 1.03))
    return out, f


def tapping_bursts(t0: float, rng: np.random.Generator) -> list[tuple[float, float, float]]:
    n = int(rng.integers(2, 4))
    out: list[tuple[float, float, float]] = []
    tt = t0
    for _ in range(n):
        w = float(rng.uniform(0.1, 0.4))
        out.append((tt + w / 2, w, float(rng.uniform(0.8, 1.2))))
        tt += w + float(rng.uniform(0.25, 0.6))
    return out


def ride_params(rng: np.random.Generator, sway_hz: tuple[float, float] = (1.0, 6.0)) -> dict[str, Any]:
    return {
        "vib": [(float(rng.uniform(10, 30)), float(rng.uniform(0, 6.283)), float(rng.uniform(0.01, 0.07)))
                for _ in range(3)],
        "sway": [(float(rng.uniform(*sway_hz)), float(rng.uniform(0, 6.283))) for _ in range(3)],
        "sway_uv": float(rng.uniform(20, 300)),
        "spike_rate": float(rng.uniform(0.5, 3.0)),
        "spike_uv": float(rng.uniform(30, 200)),
    }


def ride_spikes(t0: float, t1: float, p: dict[str, Any], rng: np.random.Generator) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    t = t0
    while True:
        t += float(rng.exponential(1.0 / p["spike_rate"]))
        if t >= t1:
            return out
        out.append((t, p["spike_uv"] * float(rng.uniform(0.5, 1.5)) * (1 if rng.random() < 0.5 else -1)))


def _burst_env(bursts: list[tuple[float, float, float]], t: np.ndarray, amp: float) -> np.ndarray:
    env = np.zeros_like(t)
    for c, w, g in bursts:
        if c + w < t[0] or c - w > t[-1]:
            continue
        x = (t - (c - w / 2)) / w
        inside = (x > 0) & (x < 1)
        env[inside] += amp * g * np.sin(np.pi * x[inside]) ** 2
    return env


def render(it: "Item", t: np.ndarray, ti: np.ndarray, amp: np.ndarray, art: np.ndarray,
           imu: np.ndarray) -> None:
    """Add activity item ``it`` to the EMG amplitude, the artifact and the IMU of one chunk."""
    p = it.extra
    on_i = (ti >= it.t0) & (ti < it.t1)
    if it.kind in ("walk", "push", "tapping"):
        amp += _burst_env(it.bursts, t, it.amp)
    if it.kind in ("walk", "push") and p.get("tonic"):
        on = (t >= it.t0) & (t < it.t1)      # co-contraction between the bursts
        amp += on * p["tonic"] * it.amp
    if it.kind == "walk":
        ph = 2 * np.pi * it.freq * (ti - it.t0) + p["phase"]
        g = p["acc_g"]
        imu[0] += on_i * g * (np.sin(ph) + 0.4 * np.sin(2 * ph + 0.7))
        imu[2] += on_i * 0.6 * g * np.sin(2 * ph)
        for c, _, _ in it.bursts:    # heel strike: a sharp impulse at each stride
            imu[2] += p["strike_g"] * np.exp(-0.5 * ((ti - c - 0.05) / 0.015) ** 2)
        imu[4] += on_i * p["gyro_dps"] * np.sin(ph)
    elif it.kind == "push":
        ph = 2 * np.pi * it.freq * (ti - it.t0) + p["phase"]
        imu[0] += on_i * p["acc_g"] * np.sin(ph)
        imu[5] += on_i * p["gyro_dps"] * np.sin(ph + 0.5)
        imu[2] += on_i * 0.015 * np.sin(2 * np.pi * p["roll_hz"] * ti)
    elif it.kind == "ride":
        for f, ph0, a in p["vib"]:
            imu[2] += on_i * a * np.sin(2 * np.pi * f * ti + ph0)
            imu[0] += on_i * 0.5 * a * np.sin(2 * np.pi * f * ti + ph0 + 1.0)
            imu[3] += on_i * 40 * a * np.sin(2 * np.pi * f * ti + ph0 + 2.0)
        on = (t >= it.t0) & (t < it.t1)
        sway = np.zeros_like(t)
        for f, ph0 in p["sway"]:
            sway += np.sin(2 * np.pi * f * t + ph0)
        art += on * p["sway_uv"] / 2 * sway * (0.6 + 0.4 * np.sin(2 * np.pi * 0.07 * t))
        for ts, a in p["spikes"]:
            if ts < t[0] - 0.1 or ts > t[-1] + 0.1:
                continue
            x = t - ts
            art += a * np.exp(-np.abs(x) / 0.004) * np.sign(x + 1e-9) * (np.abs(x) < 0.05)
    elif it.kind == "tapping":
        for c, w, _ in it.bursts:
            imu[2] += 0.3 * np.exp(-0.5 * ((ti - c - 0.05) / 0.02) ** 2)
            imu[4] += 30 * np.exp(-0.5 * ((ti - c - 0.05) / 0.05) ** 2)


def shaped_envelope(it: "Item", t: np.ndarray) -> np.ndarray:
    """Amplitude (uV) of a shaped spasm on times t (the plateau is the generator's own)."""
    p = it.extra
    x = t - it.t0
    rise = np.clip(x / it.rise, 0.0, 1.0)
    rise = 0.5 - 0.5 * np.cos(np.pi * rise)
    fall = 0.5 - 0.5 * np.cos(np.pi * np.clip((it.t1 - t) / it.fall, 0.0, 1.0))
    shape = p["shape"]
    if shape == "jerk":
        return it.amp * rise * np.exp(-np.clip(x, 0.0, None) / p["tau"]) * (t < it.t1)
    if shape == "waxwane":
        mod = 1.0 - p["depth"] * (0.5 + 0.5 * np.sin(2 * np.pi * p["am_hz"] * x - np.pi / 2))
        return it.amp * rise * fall * mod
    if shape == "crescendo":
        build = p["start"] + (1 - p["start"]) * np.clip(x / p["build"], 0.0, 1.0)
        return it.amp * rise * fall * build
    if shape == "prelude":        # tonic prelude rising over pre_s, then the spasm's own rise
        main = 0.5 - 0.5 * np.cos(np.pi * np.clip((x - p["pre_s"]) / it.rise, 0.0, 1.0))
        pre = p["pre"] * (0.5 - 0.5 * np.cos(np.pi * np.clip(x / p["pre_s"], 0.0, 1.0)))
        return it.amp * np.maximum(main, pre) * fall * (x >= 0)
    if shape == "crescendo0":     # from zero, building over 2-8 s
        return it.amp * (0.5 - 0.5 * np.cos(np.pi * np.clip(x / p["build"], 0.0, 1.0))) * fall
    return it.amp * rise * fall


def ecg(t: np.ndarray, beats: np.ndarray, uv: float) -> np.ndarray:
    """ECG bleed: a QRS-like biphasic pulse (sigma 10 ms) of ``uv`` peak at each beat time."""
    out = np.zeros_like(t)
    lo = np.searchsorted(beats, t[0] - 0.1)
    hi = np.searchsorted(beats, t[-1] + 0.1)
    for b in beats[lo:hi]:
        x = (t - b) / 0.010
        sel = np.abs(x) < 6
        out[sel] += uv * (1 - x[sel] ** 2) * np.exp(-0.5 * x[sel] ** 2)
    return out


def heart_beats(duration_s: float, rng: np.random.Generator) -> np.ndarray:
    hr = float(rng.uniform(55, 95)) / 60.0
    n = int(duration_s * hr) + 2
    return np.cumsum(rng.uniform(0.95, 1.05, n) / hr)


def context_hours(spans: list[tuple[float, float, str]], duration_s: float) -> dict[str, float]:
    """Hours per context (time outside every span is 'rest')."""
    out: dict[str, float] = {}
    busy = 0.0
    for a, b, name in spans:
        out[name] = out.get(name, 0.0) + (b - a) / 3600.0
        busy += b - a
    out["rest"] = out.get("rest", 0.0) + max(0.0, duration_s - busy) / 3600.0
    return out


def fill_contexts(spans: list[tuple[float, float, str]], duration_s: float, fill: str
                  ) -> list[tuple[float, float, str]]:
    """Activity spans (non-overlapping) plus the gaps between them named ``fill``, covering
    0..duration_s in order."""
    out: list[tuple[float, float, str]] = []
    t = 0.0
    for a, b, name in sorted(spans):
        a, b = max(a, t), min(b, duration_s)
        if b <= a:
            continue
        if a > t:
            out.append((t, a, fill))
        out.append((a, b, name))
        t = b
    if t < duration_s:
        out.append((t, duration_s, fill))
    return out


def context_at(spans: list[tuple[float, float, str]], t: float) -> str:
    for a, b, name in spans:
        if a <= t < b:
            return name
    return "rest"


def shape_params(rng: np.random.Generator, shapes: tuple[str, ...] = SHAPES) -> tuple[dict[str, Any], float]:
    """A spasm shape (one of ``shapes``) and its parameters; returns (params, duration s)."""
    shape = shapes[int(rng.integers(len(shapes)))]
    p: dict[str, Any] = {"shape": shape, "delay": float(rng.uniform(0.05, 0.15))}
    dur = float(np.exp(rng.uniform(math.log(0.8), math.log(20.0))))
    if shape == "jerk":
        p["tau"] = float(rng.uniform(0.3, 1.5))
        dur = 3 * p["tau"]
    elif shape == "waxwane":
        p["depth"] = float(rng.uniform(0.5, 0.8))
        p["am_hz"] = float(rng.uniform(0.3, 1.0))
        dur = max(dur, 2.0)
    elif shape == "crescendo":
        p["start"] = float(rng.uniform(0.35, 0.5))
        p["build"] = float(rng.uniform(2.0, 6.0))
        dur = p["build"] + float(rng.uniform(0.5, 5.0))
    elif shape == "prelude":
        p["pre"] = float(rng.uniform(0.05, 0.4))
        p["pre_s"] = float(rng.uniform(2.0, 10.0))
        dur = p["pre_s"] + dur
    elif shape == "crescendo0":
        p["build"] = float(rng.uniform(2.0, 8.0))
        dur = p["build"] + float(rng.uniform(0.5, 5.0))
    return p, dur


# ------------------------------------------------------------------ clinic and home classes
#: activities of the physio, transfer, sleep, desk-mains and displaced classes (rendered by render_clinic)
CLINIC = ("stretch", "transfer", "roll", "mains", "reposition")
#: gravity (g) on the sensor's y and z axes at rest (x is along the limb; generator.py adds 0.10 on x)
_G_YZ = (0.20, 0.975)
#: gravity (g) in the sensor frame at rest, all three axes
G_REST = (0.10, 0.20, 0.975)


def movement(t: np.ndarray, t0: float, dur: float, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """A minimum-jerk-like rotation of ``angle_deg`` from t0 over ``dur`` s (Hann-shaped angular
    rate, peak 2 * angle / dur): (angle in degrees, rate in dps) on times t (s)."""
    x = np.clip((t - t0) / dur, 0.0, 1.0)
    ang = angle_deg * (x - np.sin(2 * np.pi * x) / (2 * np.pi))
    rate = angle_deg / dur * (1 - np.cos(2 * np.pi * x)) * ((t > t0) & (t < t0 + dur))
    return ang, rate


def ramp_movement(t: np.ndarray, t0: float, dur: float, rate_dps: float, up_s: float, down_s: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A brisk rotation: the rate rises to ``rate_dps`` in ``up_s`` (raised cosine), holds, and
    falls to zero in ``down_s`` by t0 + dur: (angle in degrees, rate in dps) on times t (s)."""
    def part(u: np.ndarray, r: float) -> np.ndarray:       # integral of a raised-cosine ramp
        u = np.clip(u, 0.0, r)
        return u / 2 - r / (2 * np.pi) * np.sin(np.pi * u / r)

    tau = np.clip(t - t0, 0.0, dur)
    flat_end = dur - down_s
    ang = np.where(tau < up_s, part(tau, up_s),
                   np.where(tau < flat_end, up_s / 2 + (tau - up_s),
                            up_s / 2 + (flat_end - up_s) + down_s / 2 - part(dur - tau, down_s)))
    x_up = np.clip((t - t0) / up_s, 0.0, 1.0)
    x_dn = np.clip((t0 + dur - t) / down_s, 0.0, 1.0)
    rate = (0.5 - 0.5 * np.cos(np.pi * x_up)) * (0.5 - 0.5 * np.cos(np.pi * x_dn))
    return rate_dps * ang, rate_dps * rate


def add_rotation(imu: np.ndarray, phi_deg: np.ndarray, rate_dps: np.ndarray) -> None:
    """Rotate the limb by phi about its long (x) axis: the gyro's x reads the rate (dps) and
    the gravity vector in the sensor frame turns by -phi in the y-z plane (g)."""
    c, s = np.cos(np.radians(phi_deg)), np.sin(np.radians(phi_deg))
    gy, gz = _G_YZ
    imu[1] += gy * c + gz * s - gy
    imu[2] += -gy * s + gz * c - gz
    imu[3] += rate_dps


def posture(tilts: list[tuple[float, float, float]], ti: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lasting posture changes (start s, duration s, degrees; transfers and rolls in bed) summed:
    (angle deg, rate dps) on IMU times ti. Each change persists after it ends."""
    phi = np.zeros_like(ti)
    rate = np.zeros_like(ti)
    for t0, dur, deg in tilts:
        if t0 > ti[-1]:
            continue
        a, r = movement(ti, t0, dur, deg)
        phi += a
        rate += r
    return phi, rate


def stretch_params(t: float, rng: np.random.Generator) -> dict[str, Any]:
    """A passive stretch from t: a brisk rotation at 30-90 dps for 0.5-1.5 s (the rate reaches
    its plateau in 30-60 ms, falls in 100 ms), held 0.5-2 s, brought back in 1-4.5 s (peak
    <= 60 dps; returning shortens the stretched muscle, so no reflex in it); the stretch reflex
    30-80 ms after the movement starts, lasting 0.3-1.5 s."""
    v = float(rng.uniform(30.0, 90.0)) * (1 if rng.random() < 0.5 else -1)
    d = float(rng.uniform(0.5, 1.5))
    up = float(rng.uniform(0.03, 0.06))
    angle = v * (d - up / 2 - 0.05)
    hold = float(rng.uniform(0.5, 2.0))
    ret = max(1.0, abs(angle) / 30.0)
    lat = float(rng.uniform(0.03, 0.08))
    return {"ts": t, "v": v, "d": d, "up": up, "down": 0.1, "angle": angle, "hold": hold, "ret": ret,
            "r0": t + lat, "r1": t + lat + float(rng.uniform(0.3, 1.5)),
            "rise": float(rng.uniform(0.02, 0.04)), "fall": float(rng.uniform(0.1, 0.2)),
            "end": t + d + hold + ret}


def mains_params(rng: np.random.Generator) -> dict[str, Any]:
    """Hum of switching equipment: 50 or 60 Hz, fundamental 5-25 uV RMS, a third harmonic of
    5-30 % of the fundamental at its own phase."""
    return {"hz": 50.0 if rng.random() < 0.5 else 60.0, "uv": float(rng.uniform(5.0, 25.0)),
            "h3": float(rng.uniform(0.05, 0.30)), "ph": float(rng.uniform(0, 2 * np.pi)),
            "ph3": float(rng.uniform(0, 2 * np.pi))}


def _hann(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    x = (t - t0) / (t1 - t0)
    return np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0.0, 1.0)) ** 2, 0.0)


def render_clinic(it: "Item", t: np.ndarray, ti: np.ndarray, amp: np.ndarray, art: np.ndarray,
                  imu: np.ndarray) -> None:
    """Add a stretch, transfer, roll, reposition or mains item to one chunk (EMG amplitude and artifact in uV,
    IMU in g and dps). Lasting posture changes of transfers and rolls are the generator's
    (:func:`posture`), and so are the displaced class's movements (:func:`add_moves`), since
    they outlive the item."""
    p = it.extra
    if it.kind == "stretch":
        ang, rate = ramp_movement(ti, p["ts"], p["d"], p["v"], p["up"], p["down"])
        back, brate = movement(ti, p["ts"] + p["d"] + p["hold"], p["ret"], -p["angle"])
        add_rotation(imu, ang + back, rate + brate)
        x0 = np.clip((t - p["r0"]) / p["rise"], 0.0, 1.0)
        x1 = np.clip((p["r1"] - t) / p["fall"], 0.0, 1.0)
        amp += it.amp * (0.5 - 0.5 * np.cos(np.pi * x0)) * (0.5 - 0.5 * np.cos(np.pi * x1))
    elif it.kind == "transfer":
        amp += it.amp * _hann(t, p["t0"], p["t1"])                      # weight bearing
        d = p["t1"] - p["t0"]
        imu[5] += p["yaw_dps"] * _hann(ti, p["t0"] + 0.2 * d, p["t0"] + 0.8 * d)   # pivot
        x = np.clip((ti - p["t0"]) / d, 0.0, 1.0)
        imu[0] += p["lift_g"] * np.sin(2 * np.pi * x)                   # lift off, then sit down
    elif it.kind in ("roll", "reposition"):
        amp += it.amp * _hann(t, p["t0"], p["t1"])
    elif it.kind == "mains":
        on = (t >= it.t0) & (t < it.t1)
        ph = 2 * np.pi * p["hz"] * t[on] + p["ph"]
        art[on] += p["uv"] * math.sqrt(2) * (np.sin(ph) + p["h3"] * np.sin(3 * ph + p["ph3"]))


# ------------------------------------------------------------------ displaced class: limb rotations
def rotate(v: np.ndarray, axis: np.ndarray, deg: np.ndarray | float) -> np.ndarray:
    """Vectors v (3,) or (3, n) rotated by ``deg`` (scalar or (n,)) about the unit ``axis``
    (right hand; Rodrigues)."""
    th = np.radians(deg)
    c, s = np.cos(th), np.sin(th)
    k = np.asarray(axis, dtype=float).reshape(3, *([1] * (np.ndim(v) - 1)))
    v = np.asarray(v, dtype=float)
    kv = np.sum(k * v, axis=0)
    return v * c + np.cross(k, v, axis=0) * s + k * kv * (1 - c)


def turn_deg(g0: np.ndarray, g1: np.ndarray) -> float:
    """Angle (deg) between two gravity vectors."""
    c = float(np.dot(g0, g1) / np.linalg.norm(g0) / np.linalg.norm(g1))
    return math.degrees(math.acos(min(1.0, max(-1.0, c))))


def add_moves(imu: np.ndarray, moves: list[tuple[float, float, float, tuple[float, float, float],
                                                  tuple[float, float, float]]], ti: np.ndarray) -> None:
    """Sequential rotations of the limb (start s, duration s, degrees, unit axis in the sensor
    frame, gravity in the sensor frame before it; time-ordered, none starting before the
    previous one ends): from each start to the next, gravity is the one before it turned by
    -angle about the axis (the body turns by +angle) and the gyro reads the rate about the
    axis (dps). Before the first nothing is added (the rest posture, :data:`G_REST`)."""
    rest = np.array(G_REST)[:, None]
    for k, (t0, dur, deg, axis, g_before) in enumerate(moves):
        t_next = moves[k + 1][0] if k + 1 < len(moves) else math.inf
        sel = (ti >= t0) & (ti < t_next)
        if not sel.any():
            continue
        ang, rate = movement(ti[sel], t0, dur, deg)
        g = rotate(np.array(g_before)[:, None] * np.ones(int(sel.sum())), np.array(axis), -ang)
        imu[:3, sel] += g - rest
        imu[3:, sel] += np.array(axis)[:, None] * rate
