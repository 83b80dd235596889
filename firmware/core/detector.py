"""Spasm and clonus detector: runs per block after the DSP chains (hardware-free, integer).

Usage (everything allocated here, at configuration time)::

    det = Detector(detconfig.DEFAULT, n_channels, coeffs)
    det.bind(ch, env, lf, rmin, rmax, fast=None)   # EmgChain outputs of channel ch
    det.bind_imu(acc, gyro, jerk)                  # ImuChain outputs (optional)
    ...per block, after chain.run(n) (and FastEnv.run(m)) and imu.run(m):
    det.set_leadoff(mask)      # optional: front-end lead-off bits per channel for this block
    det.feed(m, t_ms)          # m envelope ticks (10 ms each); t_ms = device ms of the block
    ev = det.pop_event()       # array('i') in records.FIELDS[EVENT] order, or None
    sm = det.pop_summary()     # array('i') in records.FIELDS[SUMMARY] order, or None

A popped array stays valid until the next ``feed``. ``feed`` allocates nothing.

Rules (values and units in detconfig.py; each event carries CONFIG_VERSION):

* Signal quality per channel and 10 ms tick: lead-off reported by the front end
  (``set_leadoff``), *railed* (every raw sample beyond
  ``rail_pm`` of full scale, as when a lead is off and the front end saturates) or *flat*
  (peak-to-peak <= ``flat_cuv``; when the ADC step is coarser than ``flat_cuv``, as on a
  12-bit ADC behind a gain-200 module where one count is ~3.8 uV, a quiet connected muscle
  can sit in one code for a few 10 ms ticks, so there the signal must stay flat for
  ``flat_q_ms`` first) is lost signal; it stays lost ``bad_hold_ms`` more (filter
  recovery) and then ``warmup_ms`` while the noise floor relearns. Lost time is reported as
  ``lost_ds`` and is never spasm nor calm; an event running into it is closed with
  FLAG_PARTIAL_LEADOFF. A tick is covered only when every bound channel is good.
* Noise floor: a low-quantile tracker of the 100 ms envelope (falls by floor>>down_shift
  per tick below it, rises by floor>>up_shift only while the envelope sits between the
  floor and the onset threshold), frozen during activity except a slow creep, so it
  follows electrode and hum drift but not spasms.
* Double threshold with persistence: an event starts after ``on_persist_ms`` above
  floor*(1+on_ratio) (or when the mean over the merge gap is above it: bursty clonus); its
  onset is backtracked to the first tick of that activity above the offset threshold
  (bridging dips of up to ``onset_dip_ms`` between bursts), minus the ARV rise
  ``onset_adj_ms``. An event stays active while the
  envelope is above the middle of the two thresholds; it ends when the mean envelope over
  the last ``merge_gap_ms`` falls below floor*(1+off_ratio) after at least half a merge gap
  of ticks below the middle (the merge gap: shorter or shallower pauses do not split an
  event; during a clonic run the pause must last two merge gaps, since a skipped burst is
  part of the clonus; three gaps of ticks below end it in any case); the offset is the tick after the
  last active one, minus the ARV fall ``offset_adj_ms``.
  Events shorter than ``min_duration_ms`` are dropped (short voluntary bursts).
* An event whose mean envelope over the merge gap stays below the onset threshold for
  ``stale_ms`` ends at its last strong tick and the floor is re-based on the recent mean:
  the background rose under it (hum, electrode contact), which the frozen floor could not
  follow.
* Background steps: ``smooth_ms`` into an event, the roughness of its 10 ms envelope
  (mean |difference| / mean) is checked; below ``rough_min_pm`` it is not muscle (EMG is a
  stochastic signal, ~0.3-0.4; a mains hum that switched on is smooth): the 'event' is
  dropped and the floor re-based on it.
* Clonus: while an event is active, every ``clonus_hop`` ticks the autocorrelation of the
  last ``clonus_win`` ticks of the 10 ms envelope (``fast``) is computed at lags 1..33; a
  window is rhythmic when its highest local peak at a 3-10 Hz lag reaches ``clonus_r_min``
  and rises ``clonus_prom`` above the valley before it. Kind: clonus if at least
  ``clonus_frac_pm`` of the windows are rhythmic, spasm_with_clonus if at least
  ``clonus_min_windows`` are, else spasm. Frequency = mean over the rhythmic windows
  (parabolic interpolation of the peak lag).
* Motion artifacts: a tick is motion-like when the rise of the 1-20 Hz band over its
  resting baseline (an asymmetric average at rest: electrode drift leaks into that band) exceeds
  the rise of the EMG envelope over its floor (lf >> env, ``motion_ratio_64``). A short
  event (<= ``motion_max_ms``: artifacts are transients) whose ticks are mostly
  motion-like and that coincides with an IMU jerk is rejected
  (counted in n_motion_rejected); an event with a jerk or some motion-like ticks is kept
  with FLAG_MOTION.
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

_HN = const(256)        # history ring (ticks): backtracking and clonus windows
_HMASK = const(255)
_LAGS = const(40)       # autocorrelation lags computed: 0.._LAGS-1
_CLAMP = const(8388607)  # envelope values are clamped to 2**23-1 for sums
_RCLAMP = const(1048575)  # 10 ms envelope clamp (0.01 uV) for the roughness sums
_FCLAMP = const(4194304)  # noise floor limit (0.01 uV): 42 mV, far beyond any real floor

_IDLE = const(0)
_CAND = const(1)
_ACTIVE = const(2)


@micropython.viper
def _acorr(ring, x, p, out):
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


class FastEnv:
    """10 ms ARV (0.01 uV) of an ARV-mode ``dspchain.EmgChain``: the envelope before its
    100 ms moving mean, which smooths 5-10 Hz clonus bursts away. The chain itself fills
    ``buf`` (its ``fast`` output, ``EmgChain.attach_fast``); ``run(m)`` after ``chain.run(n)``
    is kept for callers and does nothing more. ``buf[0:m]`` holds one value per tick."""

    def __init__(self, chain):
        if getattr(chain, "env_mode", "arv") == "tkeo":
            raise ValueError("FastEnv needs an ARV or low-pass chain (TKEO is not an amplitude in uV)")
        self.chain = chain
        self.buf = array("i", bytes(4 * chain.out_len))
        chain.attach_fast(self.buf)

    def run(self, m):
        return m


_MAX_UV_PER_COUNT = const(8)  # coarsest usable EMG step (uV per count); host: boards.MAX_UV_PER_COUNT


class _Ch:
    pass


class Detector:
    """Per-channel event detection and per-window summaries (see the module docstring)."""

    def __init__(self, cfg, n_channels, coeffs, queue_len=16):
        if not 1 <= n_channels <= 8:
            raise ValueError("n_channels must be 1..8, not %r" % (n_channels,))
        self.cfg = cfg
        self.version = cfg.version
        self.nch = n_channels
        self.boot = 0
        self.fs_env = coeffs.ENV_FS_HZ
        if self.fs_env != 100:
            raise ValueError("detector expects a 100 Hz envelope, coeffs say %d" % self.fs_env)
        uvpc = coeffs.UV_PER_COUNT
        if uvpc > _MAX_UV_PER_COUNT:
            raise ValueError("EMG ADC step %.2f uV/count is coarser than %d uV: weak spasms "
                             "(10-20 uV) cannot be resolved; raise the gain or the ADC bits"
                             % (uvpc, _MAX_UV_PER_COUNT))
        self.flat_counts = int(cfg.flat_cuv / 100.0 / uvpc)
        # quantisation: a step coarser than the flat limit cannot tell flat from quiet in
        # one tick (10 samples at 0.4 LSB RMS noise share one code ~1/2 of the time)
        self.flat_need = 1 if cfg.flat_cuv >= uvpc * 100.0 else max(1, cfg.flat_q_ms // 10)
        self.rail = coeffs.ADC_MAX * cfg.rail_pm // 1000
        t = 10  # ms per tick
        self.min_ticks = (cfg.min_duration_ms + t - 1) // t
        self.gap_ticks = max(1, cfg.merge_gap_ms // t)
        self.persist = max(1, cfg.on_persist_ms // t)
        self.max_ticks = max(self.min_ticks + 1, cfg.max_event_ms // t)
        self.warm_ticks = cfg.warmup_ms // t
        self.hold_ticks = cfg.bad_hold_ms // t
        self.jerk_near = cfg.jerk_near_ms // t
        self.win_ticks = cfg.window_s * 100
        self.grace_ticks = cfg.summary_grace_ms // t
        self.stale_ticks = cfg.stale_ms // t
        self.dip_ticks = cfg.onset_dip_ms // t
        self.smooth_ticks = cfg.smooth_ms // t
        self.n_steps = 0    # background steps (smooth 'events') absorbed into the floor
        if not 4 <= cfg.clonus_lag_min < cfg.clonus_lag_max <= _LAGS - 3:
            raise ValueError("clonus lags must satisfy 4 <= min < max <= %d" % (_LAGS - 3))
        if not 2 * cfg.clonus_lag_max <= cfg.clonus_win <= _HN - 64:
            raise ValueError("clonus_win must be in 2*lag_max..%d" % (_HN - 64))
        self.chs = []
        for i in range(n_channels):
            c = _Ch()
            c.idx = i
            c.bound = False
            c.env = c.lf = c.rmin = c.rmax = c.fast = None
            c.hist = array("i", bytes(4 * _HN))   # 100 ms envelope
            c.fring = array("i", bytes(4 * _HN))  # 10 ms envelope
            c.mvc = 0
            c.cal_left = 0
            c.cal_max = 0
            self._reset_ch(c)
            c.floor = 0
            c.fq = 0
            c.gsum = 0
            c.lq = 0
            c.warm = self.warm_ticks
            c.frun = 0            # consecutive flat ticks
            c.fresh = True
            c.valid_from = 0
            c.last_end = 0
            self.chs.append(c)
        self.xs = array("i", bytes(4 * _HN))
        self.ac = array("i", bytes(4 * _LAGS))
        self.pac = array("i", [0, 0, _LAGS - 1, SX])
        self.acc = self.gyro = self.jerk = None
        self.zero = None
        self.lost = bytearray(256)
        # event and summary queues (rings of preallocated arrays)
        self.qn = queue_len
        self.evq = [array("i", bytes(4 * R.EV_N)) for _ in range(queue_len)]
        self.ev_head = 0
        self.ev_count = 0
        self.smq = [array("i", bytes(4 * R.SM_N)) for _ in range(4)]
        self.sm_head = 0
        self.sm_count = 0
        self.overflow = 0   # events or summaries that found the queue full (app must pop)
        # two window accumulators: [prev (pending), cur]
        self.win = [array("i", bytes(4 * R.SM_N)), array("i", bytes(4 * R.SM_N))]
        self.wstart = [0, 0]
        self.cur = 0
        self.prev_pending = False
        self.started = False
        self.tick = 0
        self.last_jerk = -1000000
        self.dropped = 0
        self.jitter_us = 0
        self.battery_pct = 0xFF
        self.leadoff = 0

    # -- configuration -------------------------------------------------------------------
    def bind(self, ch, env, lf, rmin, rmax, fast=None):
        """Bind channel ``ch`` to its chain's output arrays (array('i'), >= block ticks)."""
        c = self.chs[ch]
        c.env, c.lf, c.rmin, c.rmax = env, lf, rmin, rmax
        c.fast = fast if fast is not None else env
        c.bound = True
        if self.zero is None or len(self.zero) < len(env):
            self.zero = array("i", bytes(4 * len(env)))
        if len(self.lost) < len(env):
            self.lost = bytearray(len(env))

    def bind_imu(self, acc, gyro, jerk):
        """Bind the ImuChain outputs (one value per envelope tick: the IMU runs at 100 Hz)."""
        self.acc, self.gyro, self.jerk = acc, gyro, jerk

    def set_mvc(self, ch, mvc_cuv):
        """Set channel ``ch``'s maximum voluntary contraction envelope (0.01 uV); 0 clears."""
        self.chs[ch].mvc = max(0, int(mvc_cuv))

    def calibrate_mvc(self, ch, ms=5000):
        """Take the highest envelope over the next ``ms`` as channel ``ch``'s MVC."""
        c = self.chs[ch]
        c.cal_left = ms // 10
        c.cal_max = 0

    def set_leadoff(self, mask):
        """Lead-off reported by the front end (e.g. the ADS1292R's comparators) for the NEXT
        block: bit ch set = channel ch's electrodes are off; its ticks count as lost like a
        railed signal, whatever the samples look like. Stays until changed."""
        self.leadoff = mask

    def set_status(self, dropped_samples=None, jitter_us=None, battery_pct=None):
        """Figures the app knows, carried into the next summary (dropped samples add up)."""
        if dropped_samples:
            self.dropped += dropped_samples
        if jitter_us is not None and jitter_us > self.jitter_us:
            self.jitter_us = min(jitter_us, 0xFFFF)
        if battery_pct is not None:
            self.battery_pct = battery_pct

    def threshold_cuv(self, ch):
        """(floor, onset threshold, offset threshold) of channel ``ch`` now (0.01 uV)."""
        c = self.chs[ch]
        return c.floor, self._on(c.floor), self._off(c.floor)

    # -- queues --------------------------------------------------------------------------
    def pop_event(self):
        if self.ev_count == 0:
            return None
        a = self.evq[self.ev_head]
        self.ev_head = (self.ev_head + 1) % self.qn
        self.ev_count -= 1
        return a

    def pop_summary(self):
        if self.sm_count == 0:
            return None
        a = self.smq[self.sm_head]
        self.sm_head = (self.sm_head + 1) & 3
        self.sm_count -= 1
        return a

    def _ev_slot(self):
        if self.ev_count == self.qn:
            self.overflow += 1
            self.ev_head = (self.ev_head + 1) % self.qn   # oldest overwritten: counted
            self.ev_count -= 1
        a = self.evq[(self.ev_head + self.ev_count) % self.qn]
        self.ev_count += 1
        return a

    def _sm_slot(self):
        if self.sm_count == 4:
            self.overflow += 1
            self.sm_head = (self.sm_head + 1) & 3
            self.sm_count -= 1
        a = self.smq[(self.sm_head + self.sm_count) & 3]
        self.sm_count += 1
        return a

    # -- thresholds ----------------------------------------------------------------------
    def _on(self, f):
        d = (f * self.cfg.on_ratio_64) >> 6
        m = self.cfg.min_step_cuv
        return f + (d if d > m else m)

    def _off(self, f):
        d = (f * self.cfg.off_ratio_64) >> 6
        m = self.cfg.min_step_cuv
        return f + (d if d > m else m)

    def _reset_ch(self, c):
        c.state = _IDLE
        c.cand = 0
        c.onset = 0
        c.last_above = 0
        c.last_strong = 0
        c.below = 0
        c.peak = 0
        c.s_lo = 0
        c.s_hi = 0
        c.n = 0
        c.snap_lo = 0
        c.snap_hi = 0
        c.snap_n = 0
        c.mot = 0
        c.mot_snap = 0
        c.gpk = 0
        c.apk = 0
        c.clip = False
        c.rough = 0
        c.fsum = 0
        c.n_win = 0
        c.n_rh = 0
        c.rrun = 0
        c.nrun = 0
        c.max_rrun = 0
        c.max_nrun = 0
        c.f_sum = 0
        c.last_win = 0
        c.on_at_peak = 0
        c.bad = 0

    # -- per block -----------------------------------------------------------------------
    def feed(self, m, t_ms):
        """Process ``m`` envelope ticks of every bound channel; ``t_ms`` = device ms of the
        block's first sample (from the sample count). Allocates nothing."""
        tick0 = t_ms // 10
        if not self.started:
            self.started = True
            self.wstart[0] = tick0 - self.win_ticks
            self.wstart[1] = tick0
            self._clear_win(self.win[1], tick0)
            self.cur = 1
        lost = self.lost
        for i in range(m):
            lost[i] = 0
        jk = self.jerk
        if jk is not None:
            thr = self.cfg.jerk_cgs
            for i in range(m):
                if jk[i] > thr:
                    self.last_jerk = tick0 + i
        any_lost = False
        for c in self.chs:
            if c.bound:
                if self._run_ch(c, m, tick0):
                    any_lost = True
        self.tick = tick0 + m
        self._account(tick0, m, any_lost)
        self._maybe_emit_summary()

    def _run_ch(self, c, m, tick0):
        cfg = self.cfg
        env = c.env
        lf = c.lf
        rmin = c.rmin
        rmax = c.rmax
        fast = c.fast
        hist = c.hist
        fring = c.fring
        lost = self.lost
        rail = self.rail
        nrail = -rail
        flat = self.flat_counts
        fneed = self.flat_need
        frun = c.frun
        acc = self.acc if self.acc is not None else self.zero
        gyro = self.gyro if self.gyro is not None else self.zero
        fq = c.fq          # floor in 1/64 of 0.01 uV (fine steps for slow tracking)
        floor = fq >> 6
        fmin = cfg.floor_min_cuv
        on_thr = self._on(floor)
        off_thr = self._off(floor)
        state = c.state
        warm = c.warm
        bad = c.bad
        dsh = cfg.floor_down_shift
        ush = cfg.floor_up_shift
        csh = cfg.floor_creep_shift
        wsh = cfg.warmup_shift
        mr = cfg.motion_ratio_64
        onr = cfg.on_ratio_64
        offr = cfg.off_ratio_64
        mstep = cfg.min_step_cuv
        any_lost = False
        gap = self.gap_ticks
        half_gap = (gap + 1) >> 1
        gsum = c.gsum
        lq = c.lq          # lf baseline in 1/64 of 0.01 uV
        stale = self.stale_ticks
        dipmax = self.dip_ticks
        smooth = self.smooth_ticks
        rough_pm = cfg.rough_min_pm
        forced = (self.leadoff >> c.idx) & 1
        lds = cfg.lf_down_shift
        lus = cfg.lf_up_shift
        for i in range(m):
            tick = tick0 + i
            e = env[i]
            hp = tick & _HMASK
            if e > _FCLAMP:
                e = _FCLAMP
            gsum += e - hist[(tick - gap) & _HMASK]
            hist[hp] = e
            v = fast[i]
            fring[hp] = v if v < _RCLAMP else _RCLAMP
            lo = rmin[i]
            hi = rmax[i]
            if hi - lo <= flat:
                if frun < fneed:
                    frun += 1
            else:
                frun = 0
            if forced or lo >= rail or hi <= nrail or frun >= fneed:
                # lost signal: close what is open, hold off, then relearn the floor
                if state == _ACTIVE:
                    c.floor = floor
                    c.fq = fq
                    self._close(c, c.last_above + 1 if c.below else tick, R.FLAG_PARTIAL_LEADOFF)
                state = _IDLE
                c.cand = 0
                bad = self.hold_ticks
                warm = self.warm_ticks
                lost[i] = 1
                any_lost = True
                continue
            if hi >= rail or lo <= nrail:
                c.clip = True
            if bad > 0:
                bad -= 1
                lost[i] = 1
                any_lost = True
                continue
            if warm > 0:
                # fast floor learning after start or lost signal; no detection yet
                v = e if e < _FCLAMP else _FCLAMP
                w = lf[i]
                if w > _FCLAMP:
                    w = _FCLAMP
                if c.fresh:
                    fq = v << 6
                    lq = w << 6
                    c.fresh = False
                else:
                    fq += ((v << 6) - fq) >> wsh
                    lq += ((w << 6) - lq) >> wsh
                floor = fq >> 6
                if floor < fmin:
                    floor = fmin
                    fq = fmin << 6
                d = (floor * onr) >> 6
                on_thr = floor + (d if d > mstep else mstep)
                d = (floor * offr) >> 6
                off_thr = floor + (d if d > mstep else mstep)
                warm -= 1
                if warm == 0:
                    c.valid_from = tick + 1
                lost[i] = 1
                any_lost = True
                continue
            if c.cal_left:
                c.cal_left -= 1
                if e > c.cal_max:
                    c.cal_max = e
                if c.cal_left == 0 and c.cal_max > 0:
                    c.mvc = c.cal_max
            if state == _ACTIVE:
                if e > _CLAMP:
                    e = _CLAMP
                # roughness of the 10 ms envelope: EMG is stochastic (~0.3-0.4), a mains hum
                # that switched on is smooth (< 0.15): such an 'event' is a background step
                v = fring[hp] - fring[(tick - 1) & _HMASK]
                c.rough += v if v > 0 else -v
                c.fsum += fring[hp]
                if c.n == smooth:
                    if c.rough * 1000 < c.fsum * rough_pm:
                        c.state = _IDLE
                        state = _IDLE
                        c.last_end = tick
                        fq = (gsum // gap) << 6
                        floor = fq >> 6
                        d = (floor * onr) >> 6
                        on_thr = floor + (d if d > mstep else mstep)
                        d = (floor * offr) >> 6
                        off_thr = floor + (d if d > mstep else mstep)
                        self.n_steps += 1
                        continue
                c.n += 1
                c.s_lo += e
                if c.s_lo >= 1048576:
                    c.s_hi += c.s_lo >> 20
                    c.s_lo &= 1048575
                if e > c.peak:
                    c.peak = e
                    c.on_at_peak = on_thr
                v = lf[i]
                if v > _FCLAMP:
                    v = _FCLAMP
                if (v - (lq >> 6)) * 64 > (e - floor) * mr:
                    c.mot += 1
                v = gyro[i]
                if v > c.gpk:
                    c.gpk = v
                v = acc[i]
                if v > c.apk:
                    c.apk = v
                if (tick & 63) == 0 and floor < _FCLAMP:
                    fq += fq >> (csh - 6)     # creep: floor>>csh per tick, applied every 64 ticks
                    floor = fq >> 6
                    d = (floor * onr) >> 6
                    on_thr = floor + (d if d > mstep else mstep)
                    d = (floor * offr) >> 6
                    off_thr = floor + (d if d > mstep else mstep)
                if gsum >= on_thr * gap:
                    c.last_strong = tick
                elif tick - c.last_strong >= stale and c.rrun < 2 and (c.max_rrun < 3 or c.nrun >= 2):
                    # the mean over the merge gap not above the onset threshold for stale_ms:
                    # the background rose under the event (hum, contact), which the frozen
                    # floor cannot follow: end the event at its last strong tick, re-baseline
                    c.floor = floor
                    c.fq = fq
                    c.below = 1
                    self._close(c, c.last_strong + 1, 0)
                    fq = (gsum // gap) << 6
                    floor = fq >> 6
                    d = (floor * onr) >> 6
                    on_thr = floor + (d if d > mstep else mstep)
                    d = (floor * offr) >> 6
                    off_thr = floor + (d if d > mstep else mstep)
                    state = _IDLE
                    c.state = _IDLE
                    continue
                if e >= (on_thr + off_thr) >> 1:
                    # still active: above the middle of the two thresholds (rest noise seldom is)
                    c.below = 0
                    c.last_above = tick
                    c.snap_lo = c.s_lo
                    c.snap_hi = c.s_hi
                    c.snap_n = c.n
                    c.mot_snap = c.mot
                    if tick - c.onset >= cfg.clonus_win and tick - c.last_win >= cfg.clonus_hop:
                        c.last_win = tick
                        self._clonus_window(c, tick + 1, cfg.clonus_win)
                    if tick + 1 - c.onset >= self.max_ticks:
                        c.floor = floor
                        c.fq = fq
                        self._close(c, tick + 1, R.FLAG_TRUNCATED)
                        self._start(c, tick + 1)
                else:
                    c.below += 1
                    # end: half a merge gap of ticks below the middle threshold AND the mean over
                    # the last merge gap below it too (a dip of a weak, fluctuating spasm or the
                    # pauses of a weak clonus do not split it), or three merge gaps all below
                    # (during a clonic run a skipped or weak burst is part of the clonus: the
                    # pause must last two merge gaps)
                    need = 2 * gap if c.rrun >= 2 or (c.max_rrun >= 3 and c.nrun < 2) else half_gap
                    if (c.below >= need and gsum < off_thr * gap) or c.below >= 3 * gap:
                        c.floor = floor
                        c.fq = fq
                        self._close(c, c.last_above + 1, 0)
                        state = _IDLE
                        c.state = _IDLE
                continue
            if e > on_thr:
                c.cand += 1
                if c.cand >= self.persist or gsum >= on_thr * gap:
                    # confirmed (a run above the onset threshold, or the merge-gap mean above it,
                    # as for bursty clonus): backtrack to the first tick above the offset
                    # threshold, bridging dips of up to dip_max ticks between bursts that rise
                    # above the middle threshold
                    mid = (on_thr + off_thr) >> 1
                    k = 1
                    first = tick
                    gapc = 0
                    vf = c.valid_from if c.valid_from > c.last_end else c.last_end
                    while k < _HN - 8 and tick - k >= vf:
                        v = hist[(tick - k) & _HMASK]
                        if v > mid or (gapc == 0 and v > off_thr):
                            first = tick - k
                            gapc = 0
                        else:
                            gapc += 1
                            if gapc > dipmax:
                                break
                        k += 1
                    k = tick - first + 1
                    self._start(c, first)
                    # ticks from onset to now, already seen
                    j = tick - k + 1
                    while j <= tick:
                        v = hist[j & _HMASK]
                        if v > _CLAMP:
                            v = _CLAMP
                        c.n += 1
                        c.s_lo += v
                        if v > c.peak:
                            c.peak = v
                            c.on_at_peak = on_thr
                        j += 1
                    c.last_above = tick
                    c.last_strong = tick
                    c.snap_lo = c.s_lo
                    c.snap_n = c.n
                    state = _ACTIVE
                continue
            c.cand = 0
            # rest: baseline of the 1-20 Hz band (electrode drift leaks into it), fast down, slow up
            v = lf[i]
            if v > _FCLAMP:
                v = _FCLAMP
            if (v << 6) < lq:
                lq -= (lq - (v << 6)) >> lds
            else:
                lq += ((v << 6) - lq) >> lus
            # rest: low-quantile floor tracking
            if e < floor:
                fq -= (fq >> dsh) + 1
                floor = fq >> 6
                if floor < fmin:
                    floor = fmin
                    fq = fmin << 6
            elif e < on_thr and floor < _FCLAMP:
                fq += (fq >> ush) + 1
                floor = fq >> 6
            else:
                continue
            d = (floor * onr) >> 6
            on_thr = floor + (d if d > mstep else mstep)
            d = (floor * offr) >> 6
            off_thr = floor + (d if d > mstep else mstep)
        c.floor = floor
        c.fq = fq
        c.gsum = gsum
        c.lq = lq
        c.state = state
        c.warm = warm
        c.bad = bad
        c.frun = frun
        return any_lost

    def _start(self, c, onset):
        st = c.state
        self._reset_ch(c)
        c.state = _ACTIVE
        c.onset = onset
        c.last_win = onset
        c.last_above = onset
        c.last_strong = onset
        if st == _ACTIVE:
            c.below = 0

    def _clonus_window(self, c, end, n):
        """Autocorrelate the n 10 ms-envelope ticks before ``end``; count a rhythmic window."""
        cfg = self.cfg
        p = self.pac
        p[0] = end
        p[1] = n
        _acorr(c.fring, self.xs, p, self.ac)
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
            self._not_rhythmic(c)
            return
        # a strong peak at half the lag is the fundamental (the found one is its harmonic)
        # a strong peak at a lag shorter than the clonus range: the rhythm is faster than
        # 10 Hz (motor-unit firing, or a 60 Hz hum whose 10 ms envelope repeats every 5
        # ticks) and the peak found is its harmonic: not clonus
        L = 3
        while L < lo:
            if r[L] * 4 >= best * 3 and r[L] >= r[L - 1] and r[L] >= r[L + 1]:
                self._not_rhythmic(c)
                return
            L += 1
        for h in (bl >> 1, (bl + 1) >> 1):   # an odd lag's half falls between two ticks
            if h >= lo and r[h] * 4 >= best * 3 and r[h] >= r[h - 1] and r[h] >= r[h + 1]:
                bl = h
                best = r[h]
                break
        valley = best
        L = 1
        while L < bl:
            if r[L] < valley:
                valley = r[L]
            L += 1
        if best - valley < cfg.clonus_prom:
            self._not_rhythmic(c)
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

    def _not_rhythmic(self, c):
        c.rrun = 0
        c.nrun += 1
        if c.nrun > c.max_nrun:
            c.max_nrun = c.nrun

    def _close(self, c, end_tick, flags):
        """Finish channel c's event at end_tick (exclusive); emit it unless too short or motion."""
        cfg = self.cfg
        onset = c.onset
        state_n = c.snap_n if c.snap_n > 0 else c.n
        c.state = _IDLE
        c.last_end = end_tick          # a later onset is never backtracked into this event
        c.cand = 0
        on_ms = onset * 10 - cfg.onset_adj_ms
        off_ms = end_tick * 10 - cfg.offset_adj_ms
        if flags & (R.FLAG_PARTIAL_LEADOFF | R.FLAG_TRUNCATED):
            off_ms = end_tick * 10
        dur = off_ms - on_ms
        if dur < cfg.min_duration_ms:
            return
        # clonus decision; short events get one window at the end
        if c.n_win == 0 and end_tick - onset >= 2 * cfg.clonus_lag_max + 10:
            n = end_tick - onset
            if n > cfg.clonus_win:
                n = cfg.clonus_win
            self._clonus_window(c, end_tick, n)
        # clonic part: a run of rhythmic windows (or every window of a short event);
        # tonic part: a run of non-rhythmic windows next to it
        kind = R.KIND_SPASM
        if c.n_win > 0 and c.n_rh == c.n_win:
            kind = R.KIND_CLONUS
        elif c.max_rrun >= cfg.clonus_min_windows:
            if c.n_rh * 1000 >= c.n_win * cfg.clonus_frac_pm or c.max_nrun < cfg.tonic_min_windows:
                kind = R.KIND_CLONUS
            else:
                kind = R.KIND_SPASM_WITH_CLONUS
        # motion artifacts
        jerk_near = self.last_jerk >= onset - self.jerk_near
        mot = c.mot_snap if c.snap_n > 0 else c.mot
        if jerk_near and mot * 1000 >= state_n * cfg.motion_frac_pm and dur <= cfg.motion_max_ms:
            w = self.win[self._win_for(onset)]
            w[R.SM_N_MOTION_REJECTED] += 1
            return
        if jerk_near or mot * 4 >= state_n:
            flags |= R.FLAG_MOTION
        if c.clip:
            flags |= R.FLAG_CLIPPED
        if c.peak * 64 < c.on_at_peak * cfg.near_thr_64:
            flags |= R.FLAG_NEAR_THRESHOLD
        hi = c.snap_hi
        lo = c.snap_lo
        if c.snap_n == 0:
            hi = c.s_hi
            lo = c.s_lo
        if hi > 1000:   # beyond realistic envelopes: saturate rather than use long ints
            mean = min(_CLAMP, (hi // state_n) << 20)
            area = 0x3FFFFFFF
        else:
            mean = (hi * 1048576 + lo) // state_n
            area = hi * 104857 + (hi * 6 + lo) // 10
        a = self._ev_slot()
        a[R.EV_BOOT] = self.boot
        a[R.EV_ONSET_MS] = on_ms if on_ms > 0 else 0
        a[R.EV_DURATION_MS] = dur
        a[R.EV_KIND] = kind
        a[R.EV_CHANNEL] = c.idx
        a[R.EV_FLAGS] = flags
        a[R.EV_PEAK_CUV] = c.peak
        a[R.EV_MEAN_CUV] = mean
        a[R.EV_AREA_UVMS] = area
        a[R.EV_CLONUS_CHZ] = c.f_sum // c.n_rh if kind != R.KIND_SPASM and c.n_rh else 0
        a[R.EV_GYRO_PEAK_DDPS] = c.gpk if c.gpk < 0xFFFF else 0xFFFF
        a[R.EV_ACC_PEAK_MG] = c.apk if c.apk < 0xFFFF else 0xFFFF
        if c.mvc > 0:
            pm = (c.peak * 1000) // c.mvc if c.peak < 1000000 else c.peak // (c.mvc // 1000 + 1)
            a[R.EV_MVC_PM] = pm if pm < 0xFFFE else 0xFFFE
        else:
            a[R.EV_MVC_PM] = R.MVC_UNCALIBRATED
        a[R.EV_CONFIG_VERSION] = self.version
        w = self.win[self._win_for(onset)]
        ds = dur // 100
        if kind == R.KIND_CLONUS:
            w[R.SM_N_CLONUS] += 1
            w[R.SM_CLONUS_DS] += ds
        else:
            w[R.SM_N_SPASM] += 1
            w[R.SM_SPASM_DS] += ds

    # -- windows -------------------------------------------------------------------------
    def _win_for(self, onset_tick):
        if self.prev_pending and onset_tick < self.wstart[self.cur]:
            return 1 - self.cur
        return self.cur

    def _clear_win(self, w, start_tick):
        for i in range(R.SM_N):
            w[i] = 0
        w[R.SM_START_MS] = start_tick * 10

    def _account(self, tick0, m, any_lost):
        lost = self.lost
        i = 0
        while i < m:
            cur = self.cur
            end = self.wstart[cur] + self.win_ticks
            n = m - i
            if tick0 + i + n > end:
                n = end - tick0 - i
            if n > 0:
                w = self.win[cur]
                if any_lost:
                    nl = 0
                    for j in range(i, i + n):
                        nl += lost[j]
                else:
                    nl = 0
                w[R.SM_COVERED_DS] += n - nl   # ticks for now; converted at emission
                w[R.SM_LOST_DS] += nl
                i += n
            if tick0 + i >= end:
                self._rotate(end)

    def _rotate(self, new_start):
        if self.prev_pending:
            self._emit(1 - self.cur)
        prev = self.cur
        self.cur = 1 - prev
        self.prev_pending = True
        self.wstart[self.cur] = new_start
        self._clear_win(self.win[self.cur], new_start)

    def _maybe_emit_summary(self):
        if not self.prev_pending:
            return
        prev = 1 - self.cur
        end = self.wstart[prev] + self.win_ticks
        if self.tick < end + self.grace_ticks:
            return
        for c in self.chs:
            if c.state == _ACTIVE and c.onset < end:
                return
        self._emit(prev)

    def _emit(self, wi):
        self.prev_pending = False
        w = self.win[wi]
        s = self._sm_slot()
        for i in range(R.SM_N):
            s[i] = w[i]
        s[R.SM_BOOT] = self.boot
        s[R.SM_WINDOW_S] = self.cfg.window_s
        s[R.SM_COVERED_DS] = w[R.SM_COVERED_DS] // 10
        s[R.SM_LOST_DS] = w[R.SM_LOST_DS] // 10
        s[R.SM_DROPPED_SAMPLES] = self.dropped
        s[R.SM_JITTER_US] = self.jitter_us
        s[R.SM_BATTERY_PCT] = self.battery_pct
        s[R.SM_CONFIG_VERSION] = self.version
        self.dropped = 0
        self.jitter_us = 0

    def flush(self):
        """At shutdown or the end of a replay: close open events (FLAG_TRUNCATED if still
        above threshold) and emit the pending and the current, partial, window summaries
        (the partial one with its real length in ``window_s``). Not for the per-block path."""
        for c in self.chs:
            if c.state == _ACTIVE:
                if c.below:
                    self._close(c, c.last_above + 1, 0)
                else:
                    self._close(c, self.tick, R.FLAG_TRUNCATED)
            c.state = _IDLE
        if self.prev_pending:
            self._emit(1 - self.cur)
        if self.started:
            self._emit(self.cur)
            s = self.smq[(self.sm_head + self.sm_count - 1) & 3]
            s[R.SM_WINDOW_S] = (self.tick - self.wstart[self.cur]) // 100
            self._clear_win(self.win[self.cur], self.tick)
            self.wstart[self.cur] = self.tick
