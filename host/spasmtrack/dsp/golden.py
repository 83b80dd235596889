"""Golden model: the firmware's integer DSP algorithm in numpy, every intermediate checked.

``firmware/core/dsp.py`` must produce bit-identical integers (tests compare them on many
vectors). Any intermediate that leaves the int32 range raises :class:`Int32Overflow`, so
the model also proves the scaling chosen by :mod:`spasmtrack.dsp.quantize` on the given
input. Feed-forward parts are vectorised; recursions run as exact Python-int loops.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .quantize import SOS_LEN

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


class Int32Overflow(ArithmeticError):
    pass


def check(name: str, v: np.ndarray | int) -> None:
    arr = np.asarray(v, dtype=object if isinstance(v, int) else None)
    if np.size(arr) == 0:
        return
    lo, hi = int(np.min(arr)), int(np.max(arr))
    if lo < I32_MIN or hi > I32_MAX:
        raise Int32Overflow(f"{name} left int32: range [{lo}, {hi}]")


def biquad_split(x: np.ndarray, sec: Sequence[int], state: list[int] | None = None) -> np.ndarray:
    """One split-word biquad section (see quantize.py). ``x`` int64 signal words.

    ``state`` is [x1, x2, y1, y2, r1, r2] (updated in place when given); r are the rounding
    remainders fed back for noise shaping (see quantize.py)."""
    b0, b1, b2, na1, na2, q, k, form = (int(v) for v in sec)
    x = np.asarray(x, dtype=np.int64)
    check("section input", x)
    mask = (1 << k) - 1
    s = state if state is not None else [0, 0, 0, 0, 0, 0]
    xx = np.concatenate([np.array([s[1], s[0]], dtype=np.int64), x])
    if form:
        # zero form: v = x0 -+ 2 x1 + x2 first, then one split (same integers, see quantize.py)
        v = xx[2:] + (-2 if form == 1 else 2) * xx[1:-1] + xx[:-2]
        check("zero-form v", np.abs(xx[2:]) + 2 * np.abs(xx[1:-1]) + np.abs(xx[:-2]))
        vh, vl = v >> k, v & mask
        ffh, ffl = b0 * vh, b0 * vl
        absh, absl = abs(b0) * np.abs(vh), abs(b0) * vl
    else:
        xh, xl = xx >> k, xx & mask
        # feed-forward partial sums (vectorised); abs-sum bounds every partial sum in any order
        ffh = b0 * xh[2:] + b1 * xh[1:-1] + b2 * xh[:-2]
        ffl = b0 * xl[2:] + b1 * xl[1:-1] + b2 * xl[:-2]
        absh = abs(b0) * np.abs(xh[2:]) + abs(b1) * np.abs(xh[1:-1]) + abs(b2) * np.abs(xh[:-2])
        absl = abs(b0) * xl[2:] + abs(b1) * xl[1:-1] + abs(b2) * xl[:-2]
    check("feed-forward |hi| sum", absh)
    check("feed-forward |lo| sum", absl)
    y = np.empty(len(x), dtype=np.int64)
    y1, y2 = s[2], s[3]
    r1, r2 = s[4], s[5]
    rnd = 1 << (q - 1)
    mq = (1 << q) - 1
    d1, d2 = (na1 + rnd) >> q, (na2 + rnd) >> q
    ad = (abs(d1) + abs(d2)) * rnd
    up = k - q
    ffh_l = ffh.tolist()
    ffl_l = ffl.tolist()
    absh_l = absh.tolist()
    absl_l = absl.tolist()
    aa1, aa2 = abs(na1), abs(na2)
    worst_hi = worst_lo = worst_comb = 0
    for i in range(len(x)):
        y1h, y1l, y2h, y2l = y1 >> k, y1 & mask, y2 >> k, y2 & mask
        acc_hi = ffh_l[i] + na1 * y1h + na2 * y2h
        acc_lo = ffl_l[i] + na1 * y1l + na2 * y2l + rnd + d1 * r1 + d2 * r2
        bh = absh_l[i] + aa1 * abs(y1h) + aa2 * abs(y2h)
        bl = absl_l[i] + aa1 * y1l + aa2 * y2l + rnd + ad
        comb = acc_hi << up
        if bh > worst_hi:
            worst_hi = bh
        if bl > worst_lo:
            worst_lo = bl
        if abs(comb) > worst_comb:
            worst_comb = abs(comb)
        y0 = comb + (acc_lo >> q)
        y[i] = y0
        y2, y1 = y1, y0
        r2, r1 = r1, (acc_lo & mq) - rnd
    check("recursive |hi| sum", worst_hi)
    check("recursive |lo| sum", worst_lo)
    check("hi << (k - q)", worst_comb)
    check("section output", y)
    if state is not None and len(x):
        state[:] = [int(x[-1]), int(x[-2]) if len(x) > 1 else s[0],
                    int(y[-1]), int(y[-2]) if len(x) > 1 else s[2], r1, r2]
    return y


def cascade(x: np.ndarray, flat: Sequence[int], states: list[list[int]] | None = None) -> np.ndarray:
    y = np.asarray(x, dtype=np.int64)
    n = len(flat) // SOS_LEN
    for i in range(n):
        y = biquad_split(y, flat[SOS_LEN * i:SOS_LEN * i + SOS_LEN], states[i] if states is not None else None)
    return y


def primed_states(x0: int, nsec: int) -> list[list[int]]:
    """Reset states with the first (zero-DC-gain, high-pass) section primed at steady state
    for a constant input ``x0``, so that an electrode offset or gravity makes no start-up
    transient."""
    return [[x0, x0, 0, 0, 0, 0]] + [[0, 0, 0, 0, 0, 0] for _ in range(nsec - 1)]


def mulshift(a: np.ndarray, k_mul: int, s: int, pre: int = 0) -> np.ndarray:
    """round((a << pre) * k_mul / 2**s) (halves up) with 15-bit halves, as the firmware does.

    Needs 0 <= k_mul < 2**15 and s >= 15; scales a factor below 1 (``pre`` lifts small
    inputs first so that factors above 1 are representable)."""
    a = np.asarray(a, dtype=np.int64) << pre
    check("mulshift input", a)
    ah, al = a >> 15, a & 0x7FFF
    p_hi = ah * k_mul
    p_lo = al * k_mul
    check("mulshift hi product", p_hi)
    check("mulshift lo product", p_lo)
    t = p_hi + (p_lo >> 15) + ((1 << (s - 15)) >> 1)
    check("mulshift sum", t)
    return t >> (s - 15)


def isqrt(v: np.ndarray) -> np.ndarray:
    """Floor square root of non-negative int32 values (bit-by-bit, as the firmware does)."""
    out = np.zeros(len(v), dtype=np.int64)
    for i, n in enumerate(np.asarray(v, dtype=np.int64).tolist()):
        res, bit = 0, 1 << 30
        while bit > n:
            bit >>= 2
        while bit:
            if n >= res + bit:
                n -= res + bit
                res = (res >> 1) + bit
            else:
                res >>= 1
            bit >>= 2
        out[i] = res
    return out


#: ``mains_hz`` of the automatic notch (firmware/core/dspchain.py MAINS_AUTO)
MAINS_AUTO = -1
#: the automatic notch's hold: s below the off ratio before it switches out (mains.py _OFF_S)
AUTO_OFF_S = 60


def auto_notch(y: np.ndarray, c: Any, block: int) -> tuple[np.ndarray, np.ndarray]:
    """firmware/core/mains.py's AutoNotch on the band-passed signal ``y`` fed in blocks of
    ``block`` samples from reset: (the chain's signal after it, the notch in use after each
    block: 0, 50 or 60). Both fundamental notches run on every block and set the narrow-band
    averages; each is followed by its third-harmonic notch (empty: none), whose output is
    the signal while that notch is in."""
    per_uv = (1 << c.SIG_FRAC) / c.UV_PER_COUNT
    sh = 0
    while per_uv / (1 << sh) > 128:
        sh += 1
    min_units = max(1, int(per_uv / (1 << sh)))
    off_need = AUTO_OFF_S * c.FS_HZ
    notches = [(list(c.NOTCH50_SOS), list(c.NOTCH150_SOS)), (list(c.NOTCH60_SOS), list(c.NOTCH180_SOS))]
    states = [[[0] * 6 for _ in range((len(f) + len(h)) // SOS_LEN)] for f, h in notches]
    a = [0, 0]
    hz, quiet = 0, 0
    out = np.asarray(y, dtype=np.int64).copy()
    hzs = []
    for pos in range(0, len(out) - len(out) % block, block):
        blk = out[pos:pos + block]
        n = len(blk)
        outs = []
        for j, (fund, harm) in enumerate(notches):
            nf = len(fund) // SOS_LEN
            w = cascade(blk, fund, states[j][:nf])
            d = np.minimum(np.abs(blk - w) >> sh, 262143)
            check("band sum", int(d.sum()))
            a[j] += (int(d.sum()) // n - a[j]) >> 2
            outs.append(cascade(w, harm, states[j][nf:]) if harm else w)
        a50, a60 = a
        new = hz
        if a50 > 3 * a60 + min_units:
            new = 50
        elif a60 > 3 * a50 + min_units:
            new = 60
        elif hz != 0:
            af, ao = (a50, a60) if hz == 50 else (a60, a50)
            if af * 2 < ao * 3 + min_units:
                if quiet < off_need:
                    quiet += n
                else:
                    new = 0
            else:
                quiet = 0
        if new != hz:
            hz, quiet = new, 0
        if hz:
            out[pos:pos + block] = outs[0 if hz == 50 else 1]
        hzs.append(hz)
    return out, np.array(hzs, dtype=np.int64)


def emg_chain(raw: np.ndarray, c: Any, mains_hz: int = 0, env_mode: str = "arv",
              channels: int = 1, block: int = 100) -> dict[str, np.ndarray]:
    """The whole EMG chain for one channel from reset state.

    ``c`` is a board's generated coeffs module (or a namespace with the same names).
    ``mains_hz`` 0, 50 or 60 (a fixed notch and its third harmonic's) or MAINS_AUTO (the
    automatic notch, decided per ``block`` of samples; the rest of the chain does not depend
    on the block length). Returns env, lf, fast (the 10 ms envelope before averaging; 0.01 uV),
    rmin, rmax (counts) at the envelope rate, and with MAINS_AUTO ``mains`` (the notch in use
    after each block)."""
    raw = np.asarray(raw, dtype=np.int64)
    d = c.EMG_DECIM
    n = (len(raw) // d) * d
    raw = raw[:n]
    check("raw", raw)
    x = raw << c.SIG_FRAC
    check("raw << frac", x)
    flat = list(c.BP_SOS)
    if mains_hz == 50:
        flat += list(c.NOTCH50_SOS) + list(c.NOTCH150_SOS)
    elif mains_hz == 60:
        flat += list(c.NOTCH60_SOS) + list(c.NOTCH180_SOS)
    y = cascade(x, flat, primed_states(int(x[0]) if n else 0, len(flat) // SOS_LEN))
    extra: dict[str, np.ndarray] = {}
    if mains_hz == MAINS_AUTO:
        y, extra["mains"] = auto_notch(y, c, block)
    if env_mode == "tkeo":
        u = np.clip(y >> c.TKEO_SHIFT, -32767, 32767)
        prev = np.concatenate([[0, 0], u])
        psi = prev[1:-1] * prev[1:-1] - u * prev[:-2]
        check("tkeo", psi)
        rect = np.abs(psi) >> c.TKEO_SUM_SHIFT
    else:
        rect = (np.abs(y) + ((1 << c.RECT_SHIFT) >> 1)) >> c.RECT_SHIFT
    check("rectified", rect)
    blocks = rect.reshape(-1, d)
    acc = blocks.sum(axis=1)
    check("decimation sum", acc)
    raw_blocks = raw.reshape(-1, d)
    rmin, rmax = raw_blocks.min(axis=1), raw_blocks.max(axis=1)
    rsum = raw_blocks.sum(axis=1)
    check("raw sum", rsum)
    if env_mode == "tkeo":
        cuv = mulshift(isqrt(acc), c.TKEO_K, c.TKEO_S, c.TKEO_PRE)
    else:
        cuv = mulshift(acc, c.ENV_K, c.ENV_S, c.ENV_PRE)
    fast = cuv.copy()
    if env_mode == "lp":
        e = cascade(cuv << c.ENVLP_FRAC, list(c.ENVLP_SOS)) >> c.ENVLP_FRAC
        env = np.maximum(e, 0)
    else:
        env = moving_mean(cuv, c.ENV_WIN)
    lf_in = mulshift(rsum, c.LF_K, c.LF_S, c.LF_PRE)
    lfy = cascade(lf_in << c.LF_FRAC, list(c.LF_SOS))
    lf = moving_mean(np.abs(lfy) >> c.LF_FRAC, c.ENV_WIN)
    return {"env": env, "lf": lf, "rmin": rmin, "rmax": rmax, "fast": fast, **extra}


def moving_mean(v: np.ndarray, win: int) -> np.ndarray:
    """Mean of the last ``win`` values (zeros before the start), rounded (halves up)."""
    v = np.asarray(v, dtype=np.int64)
    cs = np.concatenate([np.zeros(win, dtype=np.int64), v]).cumsum()
    s = cs[win:] - cs[:-win]
    check("moving sum", s + win // 2)
    return (s + win // 2) // win


def imu_chain(acc_xyz: np.ndarray, gyro_xyz: np.ndarray, c: Any) -> dict[str, np.ndarray]:
    """IMU chain from reset: raw counts (n, 3) each -> acc (mg), gyro (0.1 dps), jerk (0.01 g/s)."""
    a = np.asarray(acc_xyz, dtype=np.int64)
    g = np.asarray(gyro_xyz, dtype=np.int64)
    mg = np.stack([mulshift(a[:, i], c.ACC_K, c.ACC_S, c.ACC_PRE) for i in range(3)], axis=1)
    hp = np.stack([cascade(mg[:, i] << c.IMU_FRAC, list(c.IMU_HP_SOS),
                           primed_states(int(mg[0, i]) << c.IMU_FRAC, len(c.IMU_HP_SOS) // SOS_LEN))
                   >> c.IMU_FRAC for i in range(3)], axis=1)
    hp = np.clip(hp, -16383, 16383)
    acc = isqrt((hp * hp).sum(axis=1))
    dps10 = np.clip(np.stack([mulshift(g[:, i], c.GYRO_K, c.GYRO_S, c.GYRO_PRE) for i in range(3)], axis=1),
                    -20000, 20000)
    gyro = isqrt((dps10 * dps10).sum(axis=1))
    prev = np.concatenate([mg[:1], mg[:-1]])      # primed: no jerk at the first sample
    dm = np.clip(mg - prev, -16383, 16383)
    jerk = isqrt((dm * dm).sum(axis=1)) * c.JERK_MUL
    return {"acc": acc, "gyro": gyro, "jerk": jerk}
