"""Clonus: rhythmic 3-10 Hz bursts in the 10 ms envelope of an event, and its kind.

While an event is active, every ``clonus_hop`` ticks the autocorrelation of the last
``clonus_win`` ticks of the 10 ms envelope (``FastEnv``) is computed at lags 0..LAGS-1
(``acorr``, viper). A window is rhythmic when its highest local peak at a 3-10 Hz lag
(``clonus_lag_min``..``clonus_lag_max`` ticks) reaches ``clonus_r_min`` and rises
``clonus_prom`` above the valley before it, and no stronger rhythm faster than 10 Hz (motor
units, a 60 Hz hum's envelope) explains it. Kind (``kind``): clonus when every window, or at
least ``clonus_frac_pm`` of them, is rhythmic or no tonic run of ``tonic_min_windows`` exists
beside a rhythmic run of ``clonus_min_windows``; spasm_with_clonus when both runs exist;
else spasm. Frequency: the mean over the rhythmic windows of 1/period, the period from a
parabola through the peak (0.01 Hz).

Per-channel state lives on the channel object (``reset`` names it); the scratch buffers
are shared by all channels (one window at a time). Nothing here allocates per call.
"""
from array import array

import micropython
from micropython import const

from . import records as R

try:
    from .dsp import SX
except ImportError:  # pragma: no cover
    import sys
    SX = 32 if sys.maxsize > 0x7FFFFFFF else 0

HN = const(256)        # ring length of the 10 ms envelope (ticks)
LAGS = const(40)       # autocorrelation lags computed: 0..LAGS-1


@micropython.viper
def acorr(ring, x, p, out):
    """Normalised, unbiased autocorrelation (1/1024) of the n ticks ending at ring[end-1].

    p = [end, n, lag_max, sx]; ring has _HN entries; x is scratch (>= n); out[0..lag_max].
    Values are clamped to 2**23 and scaled to 11 bits after removing the mean, so every
    sum stays inside int32."""
    rp = ptr32(ring)
    xp = ptr32(x)
    pp = ptr32(p)
    op = ptr32(out)
    end = pp[0]
    n = pp[1]
    lmax = pp[2]
    sx = pp[3]
    s = 0
    i = 0
    start = end - n
    while i < n:
        v = (rp[(start + i) & 255] << sx) >> sx
        if v > 8388607:
            v = 8388607
        if v < 0:
            v = 0
        xp[i] = v
        s += v
        i += 1
    mean = s // n
    mx = 0
    i = 0
    while i < n:
        v = xp[i] - mean
        xp[i] = v
        if v < 0:
            v = 0 - v
        if v > mx:
            mx = v
        i += 1
    sh = 0
    while (mx >> sh) > 2047:
        sh += 1
    i = 0
    r0 = 0
    while i < n:
        v = ((xp[i] << sx) >> sx) >> sh
        xp[i] = v
        r0 += v * v
        i += 1
    r0s = r0 >> 10
    lag = 0
    while lag <= lmax:
        if r0s == 0 or lag >= n:
            op[lag] = 0
        else:
            acc = 0
            i = lag
            while i < n:
                acc += ((xp[i] << sx) >> sx) * ((xp[i - lag] << sx) >> sx)
                i += 1
            op[lag] = (acc // r0s) * n // (n - lag)
        lag += 1



class Clonus:
    """The clonus analysis of a detector: scratch buffers and the configured rules."""

    def __init__(self, cfg):
        if not 4 <= cfg.clonus_lag_min < cfg.clonus_lag_max <= LAGS - 3:
            raise ValueError("clonus lags must satisfy 4 <= min < max <= %d" % (LAGS - 3))
        if not 2 * cfg.clonus_lag_max <= cfg.clonus_win <= HN - 64:
            raise ValueError("clonus_win must be in 2*lag_max..%d" % (HN - 64))
        self.cfg = cfg
        self.xs = array("i", bytes(4 * HN))
        self.ac = array("i", bytes(4 * LAGS))
        self.p = array("i", [0, 0, LAGS - 1, SX])

    @staticmethod
    def reset(c):
        """Clear channel c's clonus counters (at the start of an event)."""
        c.n_win = 0       # windows analysed
        c.n_rh = 0        # rhythmic windows
        c.rrun = 0        # current run of rhythmic windows
        c.nrun = 0        # current run of non-rhythmic windows
        c.max_rrun = 0
        c.max_nrun = 0
        c.f_sum = 0       # sum of 1/period over rhythmic windows, 0.01 Hz
        c.last_win = 0    # tick of the last window

    def clonic_run(self, c):
        """True while a clonic run is going on (the event's end needs a longer pause then)."""
        return c.rrun >= 2 or (c.max_rrun >= 3 and c.nrun < 2)

    def kind(self, c):
        """The event kind from its windows (records.KIND_*)."""
        cfg = self.cfg
        if c.n_win > 0 and c.n_rh == c.n_win:
            return R.KIND_CLONUS
        if c.max_rrun >= cfg.clonus_min_windows:
            if c.n_rh * 1000 >= c.n_win * cfg.clonus_frac_pm or c.max_nrun < cfg.tonic_min_windows:
                return R.KIND_CLONUS
            return R.KIND_SPASM_WITH_CLONUS
        return R.KIND_SPASM

    @staticmethod
    def hz(c):
        """Mean clonus frequency over the rhythmic windows (0.01 Hz), 0 if none."""
        return c.f_sum // c.n_rh if c.n_rh else 0

    def window(self, c, end, n):
        """Autocorrelate the n 10 ms-envelope ticks before ``end``; count a rhythmic window."""
        cfg = self.cfg
        p = self.p
        p[0] = end
        p[1] = n
        acorr(c.fring, self.xs, p, self.ac)
        r = self.ac
        lo = cfg.clonus_lag_min
        hi = cfg.clonus_lag_max
        best = 0
        bl = 0
        L = lo
        while L <= hi:
            v = r[L]
            if v > best and v >= r[L - 1] and v >= r[L + 1]:
                best = v
                bl = L
            L += 1
        c.n_win += 1
        if bl == 0 or best < cfg.clonus_r_min:
            _not_rhythmic(c)
            return
        # a strong peak at half the lag is the fundamental (the found one is its harmonic)
        # a strong peak at a lag shorter than the clonus range: the rhythm is faster than
        # 10 Hz (motor-unit firing, or a 60 Hz hum whose 10 ms envelope repeats every 5
        # ticks) and the peak found is its harmonic: not clonus
        L = 3
        while L < lo:
            if r[L] * 4 >= best * 3 and r[L] >= r[L - 1] and r[L] >= r[L + 1]:
                _not_rhythmic(c)
                return
            L += 1
        h = bl >> 1          # an odd lag's half falls between two ticks: try both (no tuple)
        while h <= (bl + 1) >> 1:
            if h >= lo and r[h] * 4 >= best * 3 and r[h] >= r[h - 1] and r[h] >= r[h + 1]:
                bl = h
                best = r[h]
                break
            h += 1
        valley = best
        L = 1
        while L < bl:
            if r[L] < valley:
                valley = r[L]
            L += 1
        if best - valley < cfg.clonus_prom:
            _not_rhythmic(c)
            return
        a = r[bl - 1]
        b = r[bl]
        d = r[bl + 1]
        den = a - 2 * b + d
        delta = 0
        if den < 0:
            delta = (128 * (a - d)) // den  # 1/256 tick, in [-128, 128]
            if delta > 128:
                delta = 128
            elif delta < -128:
                delta = -128
        period = bl * 256 + delta     # parabola vertex: L + (a - d) / (2 (a - 2b + d))
        c.n_rh += 1
        c.nrun = 0
        c.rrun += 1
        if c.rrun > c.max_rrun:
            c.max_rrun = c.rrun
        c.f_sum += 2560000 // period   # 0.01 Hz


def _not_rhythmic(c):
    c.rrun = 0
    c.nrun += 1
    if c.nrun > c.max_nrun:
        c.max_nrun = c.nrun

