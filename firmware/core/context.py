"""Activity context from the IMU, and the burst structure of an event.

IMU features, one per 10 ms tick (the ImuChain runs at 100 Hz; ``acc`` = gravity-free
acceleration magnitude in mg, ``gyro`` = angular rate magnitude in 0.1 dps, ``jerk`` =
magnitude of the acceleration's first difference in 0.01 g/s):

* ``act``: the mean acceleration over the last second (mg, a 1/128-per-tick average);
* ``vib``: the mean jerk over the last second (0.01 g/s); 10-30 Hz vibration (a car, a
  wheelchair on rough ground) gives a jerk that is large against the acceleration it comes
  with: ``vib * 64 > act * vib_ratio_64`` (a 1 Hz swing gives a ratio near 0.6, 20 Hz
  vibration one near 12);
* cadence: the autocorrelation of ``acc`` averaged over 50 ms (20 Hz) in 6.4 s windows,
  every 0.5 s, at lags of 0.3-1.8 s: a peak of ``cad_r_min`` marks rhythmic movement
  (walking at 0.5-2 steps/s, wheelchair pushes, cycling) with its period;
* transfer / posture change: ``gyro`` above ``transfer_ddps``.
* heading (with the raw gyro axes bound: ``Detector.bind_imu(..., gx, gy, gz)``): the
  rotation about the gravity vector, integrated (``yaw``, wrapping at 2**29; see ``turn``). Posture (the gravity
  vector's direction) shows a tilt; a turn about the vertical (a sitting-pivot transfer
  between seats, turning in a car) leaves it unchanged and shows only here. The gyro's
  zero-rate offset is learned while the limb is still (``bias``) and taken off first.

The context of a tick: ``REST``, ``RHYTHMIC`` (rhythmic movement above ``move_mg``),
``VIBRATION`` or ``TRANSFER``; a non-rest context is held ``ctx_hold_ms`` after its cause
ends. The detector asks for the context in force just before an event's onset
(``before``), since a spasm moves the limb itself 50-150 ms after its EMG.

Burst structure of an event (per tick, ``track``): the runs of ticks above the event's
middle threshold (bursts) and the pauses between them. A *burst train* has at least two
bursts, none longer than ``burst_max_ms``, at a rate below the clonus range: tapping,
steps, pushes. The episode rules that use these are in docs/detector.md.
Nothing here allocates per block.
"""
from array import array

from micropython import const

from . import clonus as CL

REST = const(0)
RHYTHMIC = const(1)
VIBRATION = const(2)
TRANSFER = const(3)

_RING = const(256)      # 20 Hz acc history (12.8 s)
_WIN = const(128)       # autocorrelation window (6.4 s at 20 Hz)
_LAG_MIN = const(6)     # 0.3 s (a swing's acceleration magnitude repeats twice per cycle)
_LAG_MAX = const(36)    # 1.8 s
_HOP = const(50)        # ticks between cadence windows (0.5 s)
_YAW_MASK = const(0x1FFFFFFF)   # heading integral wraps at 2**29
_YAW_HALF = const(0x10000000)
_DEC = const(5)         # ticks per 20 Hz sample
_CLAMP = const(65535)   # mg / 0.01 g/s / 0.1 dps clamp for the averages


def reset(c):
    """Clear channel c's burst-structure counters (at the start of an event)."""
    c.b_run = 0       # current run of ticks above the middle threshold
    c.b_max = 0       # longest run (ticks)
    c.b_n = 0         # bursts (runs of >= 3 ticks)
    c.b_pause = 0     # current run of ticks below the middle
    c.b_first = 0     # tick of the first burst's start
    c.b_last = 0      # tick of the last burst's start
    c.ctx = REST      # the IMU context when the event was confirmed
    c.s_run = 0       # current run of ticks above the onset threshold
    c.s_max = 0       # longest such run
    c.s_pause = 0     # ticks since the last tick above the onset threshold


def track(c, above, tick):
    """One active tick of channel c: above (bool) the middle threshold."""
    if above:
        if c.b_run == 0 and (c.b_pause >= 5 or c.b_n == 0):
            c.b_n += 1
            if c.b_n == 1:
                c.b_first = tick
            c.b_last = tick
        c.b_run += 1
        c.b_pause = 0
        if c.b_run > c.b_max:
            c.b_max = c.b_run
    else:
        if c.b_run:
            c.b_run = 0
        c.b_pause += 1


class Context:
    """IMU context of one detector (all channels share the body's IMU)."""

    def __init__(self, cfg, scratch=None):
        """``scratch``: an array('i') of >= 256 words to share (the clonus analysis's: both
        run inside ``Detector.feed``, one after the other)."""
        if not 0 <= cfg.vib_ratio_64 <= 4095 or not 0 <= cfg.move_mg <= 65535:
            raise ValueError("vib_ratio_64 must be 0..4095 and move_mg 0..65535 (products < 2**30)")
        self.cfg = cfg
        self.ring = array("i", bytes(4 * _RING))
        self.xs = scratch if scratch is not None else array("i", bytes(4 * _RING))
        self.ac = array("i", bytes(4 * CL.LAGS))
        self.p = array("i", [0, _WIN, _LAG_MAX + 1, CL.SX])
        self.act = 0      # mean |acc| over ~1 s, 1/128 mg
        self.vib = 0      # mean jerk over ~1 s, 1/128 of 0.01 g/s
        self.dsum = 0     # sum of acc over the current 20 Hz sample
        self.dn = 0
        self.widx = 0     # 20 Hz samples written (wraps at 2**20)
        self.hop = 0
        self.rhythm = 0       # 1: the last cadence window was rhythmic
        self.period = 0       # its period (20 Hz samples)
        self.state = REST
        self.hold = 0         # ticks the current non-rest context is still held
        self.since = -(1 << 28)  # tick at which the current non-rest context began
        # limb movement (gyro above move_ddps): when the current or latest one began, when
        # it was last seen (ticks); a passive stretch moves the limb before the EMG rises
        self.mv_start = -(1 << 28)
        self.mv_last = -(1 << 28)
        # gravity: each raw accelerometer axis low-passed (x64, ~0.64 s), when bound
        self.ax = self.ay = self.az = None
        self.g = array("i", [0, 0, 0])
        self.g_ok = False     # the low-passes have run for a few seconds
        self.g_n = 0
        self.g_sh = 6         # gravity state -> <= 512 counts per g (set by the detector)
        # heading: raw gyro axes (counts), their zero-rate offsets (x256, learned while still)
        # and the integral of the rate about gravity ((counts . g) >> 8 per tick, mod 2**29)
        self.gx = self.gy = self.gz = None
        self.bias = array("i", [0, 0, 0])
        self.g_gate = 0       # counts: an axis this close to its offset may be still (set by the detector)
        self.yaw = 0

    def rebase(self, step):
        far = -(1 << 28)
        self.since = self.since - step if self.since > far + step else far
        self.mv_start = self.mv_start - step if self.mv_start > far + step else far
        self.mv_last = self.mv_last - step if self.mv_last > far + step else far

    def gravity(self, out):
        """The gravity vector (raw accelerometer counts, low-passed) into ``out`` (array of 3);
        False while unknown (no raw axes bound, or not settled yet)."""
        g = self.g
        out[0] = g[0] >> 6
        out[1] = g[1] >> 6
        out[2] = g[2] >> 6
        return self.g_ok

    def _heading(self, m, move):
        """m ticks of rotation about gravity into ``yaw``. Gravity is taken at the block's
        start (it moves slowly), scaled to <= 512 per g and clamped to +-1023, and so is
        the offset: the block's mean rate per axis less its offset goes into the integral
        (m * (rate . gravity) >> 8: one product per block, not per tick). The offsets (x256)
        follow the raw rate, a ~2.6 s low-pass, over blocks where the limb is still: the mean
        acceleration over the last second below ``move_mg`` and every axis's mean within
        ``g_gate`` counts (twice ``move_ddps``) of its offset (a turn about the vertical moves
        no accelerometer axis, only the gyro sees it; an uncalibrated MEMS gyro's offset of
        up to ~20 dps is inside the gate from the start, so it is learned from 0). Bounds:
        rates and offsets < 2**16 counts and m <= 256 (the detector's block), so a block
        adds < 2**28 and ``yaw`` stays < 2**30 before it wraps at 2**29; the sums of m raw
        counts stay < 2**24."""
        g = self.g
        sh = self.g_sh
        a0 = g[0] >> sh
        a1 = g[1] >> sh
        a2 = g[2] >> sh
        a0 = 1023 if a0 > 1023 else (-1023 if a0 < -1023 else a0)
        a1 = 1023 if a1 > 1023 else (-1023 if a1 < -1023 else a1)
        a2 = 1023 if a2 > 1023 else (-1023 if a2 < -1023 else a2)
        gx = self.gx
        gy = self.gy
        gz = self.gz
        s0 = 0
        s1 = 0
        s2 = 0
        for i in range(m):
            s0 += gx[i]
            s1 += gy[i]
            s2 += gz[i]
        b = self.bias
        r0 = (s0 - m * (b[0] >> 8)) // m
        r1 = (s1 - m * (b[1] >> 8)) // m
        r2 = (s2 - m * (b[2] >> 8)) // m
        gate = self.g_gate
        if self.act < move and -gate < r0 < gate and -gate < r1 < gate and -gate < r2 < gate:
            b[0] += m * r0
            b[1] += m * r1
            b[2] += m * r2
        self.yaw = (self.yaw + m * ((r0 * a0 + r1 * a1 + r2 * a2) >> 8)) & _YAW_MASK

    def turn(self, y0):
        """Rotation about gravity since the heading integral read ``y0``, in the integral's
        units (signed; correct while below 2**28 of them: over 100 full turns at the sim
        board's scale, 6554 units per degree)."""
        d = (self.yaw - y0) & _YAW_MASK
        return d - 2 * _YAW_HALF if d >= _YAW_HALF else d

    def move_lead(self, onset):
        """Ticks the limb had been moving when an event's EMG rose at tick ``onset`` (0 when
        it was still, or began moving only with or after the EMG), at most 300 (3 s)."""
        if self.mv_start > onset or self.mv_last < onset - 10:
            return 0
        d = onset - self.mv_start
        return d if d < 300 else 300

    def feed(self, acc, gyro, jerk, m, tick0):
        """m ticks of the ImuChain outputs from tick tick0."""
        cfg = self.cfg
        act = self.act
        vib = self.vib
        move = cfg.move_mg << 7
        vr = cfg.vib_ratio_64
        tr = cfg.transfer_ddps
        mvt = cfg.move_ddps
        hold_t = cfg.ctx_hold_ms // 10
        ax = self.ax
        if ax is not None:
            ay = self.ay
            az = self.az
            g = self.g
            for i in range(m):      # |raw| < 2**15: the x64 states stay < 2**22
                g[0] += ax[i] - (g[0] >> 6)
                g[1] += ay[i] - (g[1] >> 6)
                g[2] += az[i] - (g[2] >> 6)
            if not self.g_ok:
                self.g_n += m
                self.g_ok = self.g_n >= 300
            if self.gx is not None:
                self._heading(m, move)
        for i in range(m):
            if gyro[i] > mvt:
                t = tick0 + i
                if t - self.mv_last > 20:      # still for 200 ms before: a new movement
                    self.mv_start = t
                self.mv_last = t
            a = acc[i]
            if a > _CLAMP:
                a = _CLAMP
            elif a < 0:
                a = 0
            j = jerk[i]
            if j > _CLAMP:
                j = _CLAMP
            elif j < 0:
                j = 0
            act += a - (act >> 7)
            vib += j - (vib >> 7)
            self.dsum += a
            self.dn += 1
            if self.dn == _DEC:
                self.ring[self.widx & 255] = self.dsum // _DEC
                self.widx = (self.widx + 1) & 0xFFFFF
                self.dsum = 0
                self.dn = 0
                self.hop += _DEC
                if self.hop >= _HOP and self.widx >= _WIN:
                    self.hop = 0
                    self._cadence()
            # the context of this tick
            s = REST
            if act > move and (vib >> 6) * 64 > (act >> 6) * vr:
                s = VIBRATION
            elif act > move and self.rhythm:
                s = RHYTHMIC
            elif gyro[i] > tr:
                s = TRANSFER
            if s != REST:
                if self.state == REST:
                    self.since = tick0 + i
                self.state = s
                self.hold = hold_t
            elif self.hold > 0:
                self.hold -= 1
            else:
                self.state = REST
        self.act = act
        self.vib = vib

    def _cadence(self):
        p = self.p
        p[0] = self.widx
        CL.acorr(self.ring, self.xs, p, self.ac)
        r = self.ac
        best = 0
        bl = 0
        L = _LAG_MIN
        while L <= _LAG_MAX:
            v = r[L]
            if v > best and v >= r[L - 1] and v >= r[L + 1]:
                best = v
                bl = L
            L += 1
        self.rhythm = 1 if bl and best >= self.cfg.cad_r_min else 0
        self.period = bl if self.rhythm else 0
