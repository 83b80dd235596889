"""Automatic mains-hum detection and an adaptive 50/60 Hz notch for one EMG channel.

No setting is needed: both notches (the board's generated ``NOTCH50_SOS`` and
``NOTCH60_SOS``, Q 30) run on every block of the band-passed signal, so their states are
always warm. What each removes (band-passed signal minus notched signal) is the signal's
narrow band at 50 or 60 Hz; for EMG and amplifier noise, which are broadband, the two bands
carry about the same amplitude, while hum puts its energy in one of them. Per block the
mean absolute narrow-band amplitude at each frequency is averaged over ~1 s
(``a50``, ``a60``, in band-pass signal units >> ``sh``, where ``sh`` makes 1 uV about 64
units), and:

* the notch at f switches in when a_f > 3 x a_other + ``min_units`` (1 uV ARV; 5 uV of hum
  gives a ratio near 10, EMG and noise near 1, ECG bleed up to ~2);
* it stays in until a_f < 1.5 x a_other (+ ``min_units``) for 60 s without a break (hum switching on and
  off with nearby equipment keeps it in; a notch left in costs ~4 % of EMG amplitude,
  ``docs/dsp.md``), then switches out.

Each fundamental notch is followed by its third-harmonic notch (150/180 Hz, docs/dsp.md),
run on every block (warm): while f is in, the output is the fixed ``mains_hz`` f chain's.

``run(work, n)`` replaces ``work`` by the notched signal while a notch is in; ``hz`` says
which (0, 50 or 60); ``switches`` counts changes, so that the detector can drop an 'event'
that was the hum's onset before the notch caught it (``mains_void_ms``). Integer only; nothing is allocated per block.
"""
from array import array

import micropython
from micropython import const

_TCLAMP = const(262143)  # each term clamped (2**18 - 1) so a block sum stays < 2**29
_OFF_S = const(60)       # s below the off ratio before a notch switches out


@micropython.viper
def band_sums(work, a, b, p):
    """p[3] = sum(|work - a| >> p[2]), p[4] = sum(|work - b| >> p[2]) over p[0] samples;
    each term clamped to 2**18 - 1, so a sum over <= 2048 samples stays below 2**30."""
    wp = ptr32(work)
    ap = ptr32(a)
    bp = ptr32(b)
    pp = ptr32(p)
    n = pp[0]
    sx = pp[1]
    sh = pp[2]
    sa = 0
    sb = 0
    i = 0
    while i < n:
        w = (wp[i] << sx) >> sx
        d = w - ((ap[i] << sx) >> sx)
        if d < 0:
            d = 0 - d
        d = d >> sh
        if d > 262143:
            d = 262143
        sa += d
        d = w - ((bp[i] << sx) >> sx)
        if d < 0:
            d = 0 - d
        d = d >> sh
        if d > 262143:
            d = 262143
        sb += d
        i += 1
    pp[3] = sa
    pp[4] = sb


def _state(sos, sx):
    nsec = len(sos) // 8
    st = array("i", bytes(4 * (2 + 6 * nsec)))
    st[0] = nsec
    st[1] = sx
    return st


class AutoNotch:
    """Hum detector and switched notch of one EMG chain (see the module docstring)."""

    def __init__(self, coeffs, block_len, kernels):
        k = kernels
        self.k = k
        sx = k.SX
        self.sos50 = array("i", coeffs.NOTCH50_SOS)
        self.sos60 = array("i", coeffs.NOTCH60_SOS)
        self.st50 = _state(self.sos50, sx)
        self.st60 = _state(self.sos60, sx)
        # third-harmonic notches behind the fundamental ones, in place on w50 / w60
        self.sos150 = array("i", coeffs.NOTCH150_SOS)
        self.sos180 = array("i", coeffs.NOTCH180_SOS)
        self.st150 = _state(self.sos150, sx)
        self.st180 = _state(self.sos180, sx)
        self.w50 = array("i", bytes(4 * block_len))
        self.w60 = array("i", bytes(4 * block_len))
        if block_len > 2048:
            raise ValueError("AutoNotch: block_len must be <= 2048")
        per_uv = (1 << coeffs.SIG_FRAC) / coeffs.UV_PER_COUNT     # band-pass units per uV
        sh = 0
        while per_uv / (1 << sh) > 128:
            sh += 1
        self.p = array("i", [0, sx, sh, 0, 0])
        # 1 uV of narrow-band ARV
        self.min_units = max(1, int(per_uv / (1 << sh)))
        self.off_need = _OFF_S * coeffs.FS_HZ
        self.a50 = 0
        self.a60 = 0
        self.hz = 0
        self.switches = 0   # notch changes so far (wraps at 2**30): the detector watches it
        self.quiet = 0      # samples in a row below the off ratio (capped)

    def run(self, work, n):
        k = self.k
        k.copy(work, self.w50, n)
        k.copy(work, self.w60, n)
        k.biquad(self.w50, n, self.sos50, self.st50)
        k.biquad(self.w60, n, self.sos60, self.st60)
        p = self.p
        p[0] = n
        band_sums(work, self.w50, self.w60, p)
        self.a50 += (p[3] // n - self.a50) >> 2    # ~0.4 s at 100 ms blocks
        self.a60 += (p[4] // n - self.a60) >> 2
        k.biquad(self.w50, n, self.sos150, self.st150)    # no sections: nothing done
        k.biquad(self.w60, n, self.sos180, self.st180)
        a50 = self.a50
        a60 = self.a60
        hz = self.hz
        if a50 > 3 * a60 + self.min_units:
            hz = 50
        elif a60 > 3 * a50 + self.min_units:
            hz = 60
        elif hz != 0:
            af = a50 if hz == 50 else a60
            ao = a60 if hz == 50 else a50
            if af * 2 < ao * 3 + self.min_units:
                if self.quiet < self.off_need:
                    self.quiet += n
                else:
                    hz = 0
            else:
                self.quiet = 0
        if hz != self.hz:
            self.hz = hz
            self.quiet = 0
            self.switches = (self.switches + 1) & 0x3FFFFFFF
        if hz == 50:
            k.copy(self.w50, work, n)
        elif hz == 60:
            k.copy(self.w60, work, n)
        return hz
