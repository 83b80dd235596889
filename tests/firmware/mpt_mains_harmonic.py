# mpy-heapsize: 256K
"""The automatic mains notch removes the hum's third harmonic too (firmware/core/mains.py),
on MicroPython: residual at 150 / 180 Hz once the notch is in, no switching on broadband
EMG, the output identical to the fixed notch chain's from the block it switches in (the
harmonic notch is kept warm), and nothing allocated per block."""
import math
from array import array

import coeffs
import micropython
from core import dspchain

N = 100                     # samples per block (100 ms)
FS = coeffs.FS_HZ
UVPC = coeffs.UV_PER_COUNT
#: residual RMS (uV) a 3 uV RMS third harmonic may leave once the notch is in: -20 dB
RESIDUAL_MAX_UV = 0.3
#: the same with the mains 1 % off nominal (harmonic 1.5 / 1.8 Hz off the notch): -12 dB
#: (the Q 10 design gives -14 dB there, docs/dsp.md)
RESIDUAL_DRIFT_MAX_UV = 0.75


class Source:
    """Raw counts: broadband noise (uniform, ~2.9 uV RMS, band-limited by the chain's band-pass
    like EMG) + hum ``hum_uv`` RMS at ``f0`` + ``harm_uv`` RMS at 3 x ``f0``."""

    def __init__(self, f0, hum_uv, harm_uv, noise_uv=5.0, seed=11):
        self.f0 = f0
        self.a1 = hum_uv * 1.41421356
        self.a3 = harm_uv * 1.41421356
        self.noise = noise_uv
        self.seed = seed
        self.k = 0

    def fill(self, raw):
        w = 2 * math.pi * self.f0 / FS
        seed = self.seed
        for i in range(len(raw)):
            seed = (1103515245 * seed + 12345) & 0x7FFFFFFF
            v = (((seed >> 8) & 0xFFFF) - 32768) / 32768.0 * self.noise
            v += self.a1 * math.sin(w * self.k) + self.a3 * math.sin(3 * w * self.k + 0.3)
            raw[i] = int(v / UVPC) + 20000
            self.k += 1
        self.seed = seed


def _chain(mains):
    c = dspchain.EmgChain(coeffs, N, mains_hz=mains)
    raw = array("i", [0] * N)
    outs = [array("i", [0] * (N // 10)) for _ in range(4)]
    c.bind(raw, *outs)
    return c, raw


def _residual_uv(mains, f0, hum_uv, harm_uv, f_meas, settle_s=4, measure_s=2):
    """RMS (uV) at ``f_meas`` of the chain's band-passed (and notched) signal over
    ``measure_s`` s after ``settle_s`` s; and the notch in use over the measurement."""
    c, raw = _chain(mains)
    src = Source(f0, hum_uv, harm_uv)
    for _ in range(settle_s * FS // N):
        src.fill(raw)
        c.run(N)
    w = 2 * math.pi * f_meas / FS
    re = 0.0
    im = 0.0
    k = 0
    used = set()
    for _ in range(measure_s * FS // N):
        src.fill(raw)
        c.run(N)
        used.add(c.mains_now)
        work = c.work                    # the chain's signal after band-pass and notch (ARV mode)
        for i in range(N):
            re += work[i] * math.cos(w * k)
            im += work[i] * math.sin(w * k)
            k += 1
    peak = 2 * math.sqrt(re * re + im * im) / k / (1 << coeffs.SIG_FRAC) * UVPC
    return peak / 1.41421356, used


def test_third_harmonic_at_150_hz_removed_once_the_notch_is_in():
    before, used0 = _residual_uv(0, 50, 10.0, 3.0, 150)
    after, used = _residual_uv(dspchain.MAINS_AUTO, 50, 10.0, 3.0, 150)
    assert used0 == {0} and used == {50}, (used0, used)
    assert 2.5 < before < 3.5, before          # the measurement sees the 3 uV harmonic
    assert after < RESIDUAL_MAX_UV, (before, after)
    print("150 Hz: %.3f uV RMS without a notch, %.4f uV with the automatic notch" % (before, after))


def test_third_harmonic_at_180_hz_removed_once_the_notch_is_in():
    before, _ = _residual_uv(0, 60, 10.0, 3.0, 180)
    after, used = _residual_uv(dspchain.MAINS_AUTO, 60, 10.0, 3.0, 180)
    assert used == {60}, used
    assert 2.5 < before < 3.5, before
    assert after < RESIDUAL_MAX_UV, (before, after)
    print("180 Hz: %.3f uV RMS without a notch, %.4f uV with the automatic notch" % (before, after))


def test_third_harmonic_removed_with_mains_one_percent_off():
    for f0 in (50.5, 49.5, 60.6):
        after, used = _residual_uv(dspchain.MAINS_AUTO, f0, 10.0, 3.0, 3 * f0)
        assert used == {int(f0 / 10 + 0.5) * 10}, (f0, used)
        assert after < RESIDUAL_DRIFT_MAX_UV, (f0, after)
        print("%.1f Hz mains: %.3f uV RMS left of 3 uV at %.1f Hz" % (f0, after, 3 * f0))


def test_fixed_notch_removes_the_harmonic_too():
    after, used = _residual_uv(50, 50, 10.0, 3.0, 150, settle_s=1)
    assert used == {50}
    assert after < RESIDUAL_MAX_UV, after


def test_broadband_emg_does_not_switch_the_notch():
    """Noise plus bursts of 30-200 uV broadband activity (no hum): the notch stays out."""
    c, raw = _chain(dspchain.MAINS_AUTO)
    src = Source(50, 0.0, 0.0)
    for b in range(120):
        src.noise = 5.0 if (b // 10) % 3 == 0 else 60.0 + 50 * ((b // 10) % 3)
        src.fill(raw)
        c.run(N)
        assert c.mains_now == 0, b
    assert c.auto.switches == 0


def test_switching_in_is_seamless_the_harmonic_notch_is_warm():
    """Hum (50 + 150 Hz) starts at 3 s: from the block the automatic notch switches in, its
    signal is bit for bit the fixed 50 Hz chain's (band-pass, 50 Hz and 150 Hz notches, run
    from the start), so the harmonic notch makes no start-up transient."""
    auto, raw_a = _chain(dspchain.MAINS_AUTO)
    fixed, raw_f = _chain(50)
    src = Source(50, 0.0, 0.0)
    same_blocks = 0
    for b in range(80):
        if b == 30:
            src.a1 = 10.0 * 1.41421356
            src.a3 = 3.0 * 1.41421356
        src.fill(raw_a)
        for i in range(N):
            raw_f[i] = raw_a[i]
        auto.run(N)
        fixed.run(N)
        if auto.mains_now == 50:
            assert auto.work == fixed.work, b
            same_blocks += 1
    assert 40 <= same_blocks <= 50, same_blocks


def test_no_allocation_per_block_with_harmonic_notches():
    for f0 in (50, 60):
        c, raw = _chain(dspchain.MAINS_AUTO)
        src = Source(f0, 10.0, 3.0)
        blocks = []
        for _ in range(20):
            b = array("i", [0] * N)
            src.fill(b)
            blocks.append(b)
        for b in blocks[:10]:
            raw[:] = b
            c.run(N)
        micropython.heap_lock()
        try:
            for _ in range(5):
                for b in blocks:
                    for i in range(N):
                        raw[i] = b[i]
                    c.run(N)
        finally:
            micropython.heap_unlock()
        assert c.mains_now == f0, (f0, c.mains_now)
