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

This module is the orchestrator and the per-channel episode state machine; each job has
its own module: ``quality`` (lost and clipped ticks), ``floor`` (noise floor and
thresholds), ``clonus`` (rhythm and kind), ``context`` (activity from the IMU and burst
structure), ``events`` (queues and window summaries). The written rules, with the episode
definition, are in docs/detector.md; values and units in detconfig.py.

Time: ``t_ms`` wraps at 2**30 like ``time.ticks_ms`` (values 0..2**30-1); the detector
counts 10 ms ticks on its own clock, which it moves back by 2**25 ticks whenever it passes
2**26 (every ~7.8 days), so every time value it holds stays a small int on the ESP32
(31-bit). Output times (event onset, window start) are device ms wrapped at 2**30.
"""
from array import array

from micropython import const

from . import clonus as CL
from . import context as CX
from . import floor as FL
from . import quality as Q
from . import records as R
from . import screen as SC
from . import screen_table as ST
from .events import Outbox

_HN = const(256)        # history rings (ticks): backtracking and clonus windows
_HMASK = const(255)
_CLAMP = const(8388607)  # envelope values are clamped to 2**23-1 for sums
_RCLAMP = const(1048575)  # 10 ms envelope clamp (0.01 uV) for the roughness sums
_FCLAMP = const(4194304)  # = floor.FCLAMP (42 mV)
_DCLAMP = const(1048575)  # |env - floor| and lf rise bound (10 mV) in the motion-tick product
_MS_MASK = const(0x3FFFFFFF)  # device ms wrap (2**30, like time.ticks_ms)
_T_REBASE = const(1 << 26)   # the tick clock moves back by _T_STEP when it passes this
_T_STEP = const(1 << 25)     # a multiple of the ring length (256)
_T_FAR = const(-(1 << 28))   # "long ago" on the tick clock

_IDLE = const(0)
_ACTIVE = const(2)


def wrap_add_ms(a, b):
    """(a + b) mod 2**30 for a in 0..2**30-1 and |b| < 2**29, never forming an int >= 2**30."""
    if b >= 0:
        if a > _MS_MASK - b:
            return a - (_MS_MASK - b) - 1
        return a + b
    r = a + b
    if r < 0:
        r = r + _MS_MASK + 1
    return r


class FastEnv:
    """10 ms ARV (0.01 uV) of an ARV-mode ``dspchain.EmgChain``: the envelope before its
    100 ms moving mean, which smooths 5-10 Hz clonus bursts away. The chain itself fills
    ``buf`` (its ``fast`` output, ``EmgChain.attach_fast``); ``run(m)`` after ``chain.run(n)``
    is kept for callers and does nothing more. ``buf[0:m]`` holds one value per tick."""

    #: id(buf) -> chain, so that ``Detector.bind(..., fast=buf)`` finds the chain's automatic
    #: mains notch without another argument (configuration time only)
    chains = {}

    def __init__(self, chain):
        if getattr(chain, "env_mode", "arv") == "tkeo":
            raise ValueError("FastEnv needs an ARV or low-pass chain (TKEO is not an amplitude in uV)")
        self.chain = chain
        self.buf = array("i", bytes(4 * chain.out_len))
        chain.attach_fast(self.buf)
        FastEnv.chains[id(self.buf)] = chain

    def run(self, m):
        return m


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
        self.rail, self.flat_counts, self.flat_need = Q.limits(cfg, coeffs)
        if not 0 <= cfg.motion_ratio_64 <= 1023:
            raise ValueError("motion_ratio_64 must be 0..1023")
        t = 10  # ms per tick
        self.min_ticks = (cfg.min_duration_ms + t - 1) // t
        self.gap_ticks = max(1, cfg.merge_gap_ms // t)
        self.persist = max(1, cfg.on_persist_ms // t)
        self.max_ticks = max(self.min_ticks + 1, cfg.max_event_ms // t)
        if self.max_ticks > 60000:
            raise ValueError("max_event_ms must be at most 600000")
        self.warm_ticks = cfg.warmup_ms // t
        self.hold_ticks = cfg.bad_hold_ms // t
        self.jerk_near = cfg.jerk_near_ms // t
        self.stale_ticks = cfg.stale_ms // t
        self.dip_ticks = cfg.onset_dip_ms // t
        self.smooth_ticks = cfg.smooth_ms // t
        self.void_ticks = cfg.mains_void_ms // t
        self.gait_ticks = max(400, cfg.gait_min_ms // t)
        self.gait_still_ticks = max(self.gait_ticks, cfg.gait_still_ms // t)
        # the peak-relative onset is decided at close, or this old (the 20 Hz ring holds 12.8 s)
        self.ron_ticks = min(cfg.reonset_max_ms // t + 64, 5 * _HN - 64)
        if not 0 <= cfg.onset_peak_1024 <= 127:
            raise ValueError("onset_peak_1024 must be 0..127 (peak * it < 2**30)")
        if not 1 <= self.smooth_ticks <= 1000:   # roughness sums of 2**20 per tick stay < 2**30
            raise ValueError("smooth_ms must be 10..10000")
        self.n_steps = 0    # background steps (smooth 'events') absorbed into the floor
        self.clonus = CL.Clonus(cfg)
        # the learned screen (screen.py, the last stage): its table and (replay tools only,
        # never on the device) a list that receives every candidate's features
        self.screen = SC.table(ST.NODES) if cfg.screen_on else None
        self.trace = None
        self.rtrace = None  # (replay tools only) receives (onset ms, duration ms, rule) per drop
        self.chs = []
        for i in range(n_channels):
            c = _Ch()
            c.idx = i
            c.bound = False
            c.auto = None
            c.auto_seen = 0
            c.env = c.lf = c.rmin = c.rmax = c.fast = None
            c.hist = array("i", bytes(4 * _HN))   # 100 ms envelope
            c.fring = array("i", bytes(4 * _HN))  # 10 ms envelope
            c.fl = FL.new(cfg)                     # noise floor and thresholds
            c.dring = array("i", bytes(4 * _HN))  # 100 ms envelope at 20 Hz (12.8 s): gait check
            c.dsum = 0
            c.dn = 0
            c.didx = 0
            c.d_tick = 0
            c.qp = array("i", [0, self.rail, self.flat_counts, self.flat_need, 0, 0, CL.SX])
            c.mvc = 0
            # an event waiting for the posture rule (it is emitted posture_ms after its end)
            c.pend = False
            c.pend_ev = array("i", bytes(4 * R.EV_N))
            c.pend_on = 0
            c.pend_kind = 0
            c.pend_dur = 0
            c.pend_until = 0
            c.feat = array("i", bytes(4 * SC.NF))   # the screen's features of that event
            c.g0 = array("i", [0, 0, 0])   # gravity when the event began (raw counts)
            c.yaw0 = 0                     # heading integral when the event began
            c.g0_ok = False
            c.cal_left = 0
            c.cal_max = 0
            self._reset_ch(c)
            c.gsum = 0
            c.lq = 0
            c.warm = self.warm_ticks
            c.bad = 0
            c.fresh = True
            c.valid_from = 0
            c.last_end = 0
            self.chs.append(c)
        self.acc = self.gyro = self.jerk = None
        self.zero = None
        self.lost = bytearray(256)
        self.qual = bytearray(256)
        self.out = Outbox(cfg, self, queue_len)
        self.ctx = CX.Context(cfg, self.clonus.xs)
        self.gv = array("i", [0, 0, 0])
        self.posture_ticks = cfg.posture_ms // 10
        if not 0 <= cfg.posture_64 <= 255:
            raise ValueError("posture_64 must be 0..255 (products < 2**30)")
        # raw accelerometer counts per g, from the board's mg conversion; gravity is compared
        # at <= 512 per g (components clamped to +-2 g) so every product stays < 2**30
        # (None: these coeffs carry no accelerometer scale; raw axes cannot be bound then)
        self.g_shift = None
        if hasattr(coeffs, "ACC_K"):
            cpg = ((1000 << coeffs.ACC_S) // coeffs.ACC_K) << coeffs.ACC_PRE
            self.g_shift = 0
            while (cpg >> self.g_shift) > 512:
                self.g_shift += 1
            self.ctx.g_sh = 6 + self.g_shift
        # the turn rule's threshold in the heading integral's units (context._heading: per
        # tick (rate counts . gravity at cpg >> g_shift per g) >> 8; counts << GYRO_PRE are
        # GYRO_K / 2**GYRO_S of 0.1 dps; a tick is 10 ms), or None without a gyro scale
        self.turn_units = None
        if self.g_shift is not None and hasattr(coeffs, "GYRO_K"):
            if not 0 <= cfg.turn_deg <= 360:
                raise ValueError("turn_deg must be 0..360")
            gpc = cpg >> self.g_shift
            self.turn_units = ((cfg.turn_deg * 1000 * gpc // coeffs.GYRO_K) << coeffs.GYRO_S >> 8) \
                >> coeffs.GYRO_PRE
            self.ctx.g_gate = ((2 * cfg.move_ddps << coeffs.GYRO_S) // coeffs.GYRO_K) >> coeffs.GYRO_PRE
        self.gp = array("i", [0, 0, CL.LAGS - 1, CL.SX])   # gait-check autocorrelation
        # the tick clock: tick of the latest block and the device ms (mod 2**30) at that tick
        self.tick = 0
        self.ms_at_tick = 0
        self.tick_ms0 = 0          # the tick of device ms 0 (before the first wrap)
        self.wrapped = False    # the device ms have wrapped at 2**30 since the first block
        self.last_jerk = _T_FAR
        self.leadoff = 0

    # -- configuration -------------------------------------------------------------------
    def bind(self, ch, env, lf, rmin, rmax, fast=None):
        """Bind channel ``ch`` to its chain's output arrays (array('i'), >= block ticks)."""
        c = self.chs[ch]
        c.env, c.lf, c.rmin, c.rmax = env, lf, rmin, rmax
        c.fast = fast if fast is not None else env
        c.bound = True
        chain = FastEnv.chains.get(id(c.fast)) if fast is not None else None
        c.auto = getattr(chain, "auto", None)     # the chain's automatic mains notch, if any
        c.auto_seen = c.auto.switches if c.auto is not None else 0
        if self.zero is None or len(self.zero) < len(env):
            self.zero = array("i", bytes(4 * len(env)))
        if len(self.lost) < len(env):
            self.lost = bytearray(len(env))
            self.qual = bytearray(len(env))

    def bind_imu(self, acc, gyro, jerk, ax=None, ay=None, az=None, gx=None, gy=None, gz=None):
        """Bind the ImuChain outputs (one value per envelope tick: the IMU runs at 100 Hz)
        and, optionally, its raw accelerometer axes (counts): with them the detector sees
        posture changes (gravity turning) and applies the posture rule; with the raw gyro
        axes (counts) as well, turns about the vertical (the turn rule)."""
        if ax is not None and self.g_shift is None:
            raise ValueError("raw accelerometer axes need coeffs with an accelerometer scale (ACC_K)")
        if gx is not None and (ax is None or self.turn_units is None):
            raise ValueError("raw gyro axes need the raw accelerometer axes and coeffs with a gyro scale (GYRO_K)")
        self.acc, self.gyro, self.jerk = acc, gyro, jerk
        x = self.ctx
        x.ax, x.ay, x.az = ax, ay, az
        x.gx, x.gy, x.gz = gx, gy, gz

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
        o = self.out
        if dropped_samples:
            o.dropped += dropped_samples
            if o.dropped > _MS_MASK:
                o.dropped = _MS_MASK
        if jitter_us is not None and jitter_us > o.jitter_us:
            o.jitter_us = min(jitter_us, 0xFFFF)
        if battery_pct is not None:
            o.battery_pct = battery_pct

    def threshold_cuv(self, ch):
        """(floor, onset threshold, offset threshold) of channel ``ch`` now (0.01 uV)."""
        fl = self.chs[ch].fl
        return fl[FL.FLOOR], fl[FL.ON], fl[FL.OFF]

    @property
    def overflow(self):
        """Events or summaries that found their queue full (the app must pop every block)."""
        return self.out.overflow

    # -- queues --------------------------------------------------------------------------
    def pop_event(self):
        return self.out.pop_event()

    def pop_summary(self):
        return self.out.pop_summary()

    # -- clock ---------------------------------------------------------------------------
    def ms(self, tick):
        """Device ms (mod 2**30) of a tick near the current one (within +-2**29 ms)."""
        return wrap_add_ms(self.ms_at_tick, (tick - self.tick) * 10)

    def _advance(self, t_ms):
        """The tick of a block starting at device ms ``t_ms`` (0..2**30-1, wrapping)."""
        if not self.out.started:
            self.tick = t_ms // 10
            self.tick_ms0 = self.tick - t_ms // 10
            self.ms_at_tick = self.tick * 10
            self.out.start(self.tick)
            return self.tick
        adv = ((t_ms - self.ms_at_tick) & _MS_MASK) // 10
        self._move(adv)
        if self.tick > _T_REBASE:
            self._rebase()
        return self.tick

    def _move(self, adv):
        """The clock moves on by adv ticks (adv * 10 < 2**29)."""
        ms = wrap_add_ms(self.ms_at_tick, adv * 10)
        if ms < self.ms_at_tick:
            self.wrapped = True
        self.ms_at_tick = ms
        self.tick += adv
        if self.tick > _T_REBASE:
            self._rebase()

    def _rebase(self):
        """Move every held tick back by _T_STEP (ring positions unchanged: a multiple of 256)."""
        s = _T_STEP
        self.tick -= s
        self.tick_ms0 -= s
        self.last_jerk = self.last_jerk - s if self.last_jerk > _T_FAR + s else _T_FAR
        self.out.rebase(s)
        self.ctx.rebase(s)
        for c in self.chs:
            c.onset -= s
            c.last_above -= s
            c.last_strong -= s
            c.last_win -= s
            c.pk_tick -= s
            c.d_tick -= s
            c.pend_on -= s
            c.pend_until -= s
            c.last_end = c.last_end - s if c.last_end > _T_FAR + s else _T_FAR
            c.valid_from = c.valid_from - s if c.valid_from > _T_FAR + s else _T_FAR

    # -- per channel state ---------------------------------------------------------------
    def _reset_ch(self, c):
        c.state = _IDLE
        c.cand = 0
        c.onset = 0
        c.last_above = 0
        c.last_strong = 0
        c.below = 0
        c.peak = 0
        c.pk_tick = 0
        c.ron = False      # the peak-relative onset has been decided
        c.s_lo = 0
        c.s_hi = 0
        c.n = 0
        c.snap_lo = 0
        c.snap_hi = 0
        c.snap_n = 0
        c.mot = 0
        c.mot_snap = 0
        c.gpk = 0
        c.rot = 0
        c.n_mv = 0         # event ticks with the limb rotating (gyro > move_ddps)
        c.mv_lead = 0      # ticks the limb had been moving when the EMG rose
        c.act0 = 0         # mean acceleration (mg) and jerk (0.01 g/s) before the onset
        c.vib0 = 0
        c.apk = 0
        c.clip = False
        c.rough = 0
        c.fsum = 0
        c.on_at_peak = 0
        CL.Clonus.reset(c)
        CX.reset(c)

    # -- per block -----------------------------------------------------------------------
    def feed(self, m, t_ms):
        """Process ``m`` envelope ticks of every bound channel; ``t_ms`` = device ms of the
        block's first sample (from the sample count, wrapping at 2**30). Allocates nothing."""
        tick0 = self._advance(t_ms)
        lost = self.lost
        for i in range(m):
            lost[i] = 0
        jk = self.jerk
        if jk is not None:
            thr = self.cfg.jerk_cgs
            for i in range(m):
                if jk[i] > thr:
                    self.last_jerk = tick0 + i
            self.ctx.feed(self.acc, self.gyro, jk, m, tick0)
        any_lost = False
        for c in self.chs:
            if c.bound:
                if self._run_ch(c, m, tick0):
                    any_lost = True
        self._move(m)
        for c in self.chs:
            if c.pend and self.tick >= c.pend_until:
                self._finish(c)
        self.out.account(tick0, m, lost, any_lost)
        self.out.maybe_emit(self.tick, self.chs, _ACTIVE)

    def _run_ch(self, c, m, tick0):
        cfg = self.cfg
        env = c.env
        lf = c.lf
        fast = c.fast
        hist = c.hist
        fring = c.fring
        lost = self.lost
        qual = self.qual
        acc = self.acc if self.acc is not None else self.zero
        gyro = self.gyro if self.gyro is not None else self.zero
        fl = c.fl
        rest = FL.rest
        track = CX.track
        lead_pause = cfg.lead_pause_ms // 10
        lead_max = cfg.lead_burst_ms // 10
        lead_age = cfg.lead_age_ms // 10
        qp = c.qp
        qp[Q.P_M] = m
        qp[Q.P_FORCED] = (self.leadoff >> c.idx) & 1
        Q.scan(c.rmin, c.rmax, qual, qp)
        state = c.state
        a = c.auto
        if a is not None and a.switches != c.auto_seen:
            c.auto_seen = a.switches
            if state == _ACTIVE and tick0 - c.onset <= self.void_ticks:
                # the notch switched: an event that began just before was the hum's onset
                self._dropped(c.onset, c.n * 10, "mains")
                state = _IDLE
                c.state = _IDLE
                c.last_end = tick0
                self.n_steps += 1
        warm = c.warm
        bad = c.bad
        mr = cfg.motion_ratio_64
        mvt = cfg.move_ddps
        any_lost = False
        gap = self.gap_ticks
        half_gap = (gap + 1) >> 1
        gsum = c.gsum
        lq = c.lq          # lf baseline in 1/64 of 0.01 uV
        stale = self.stale_ticks
        dipmax = self.dip_ticks
        smooth = self.smooth_ticks
        rough_pm = cfg.rough_min_pm
        lds = cfg.lf_down_shift
        lus = cfg.lf_up_shift
        for i in range(m):
            tick = tick0 + i
            e = env[i]
            hp = tick & _HMASK
            if e > _FCLAMP:
                e = _FCLAMP
            elif e < 0:
                e = 0
            gsum += e - hist[(tick - gap) & _HMASK]
            hist[hp] = e
            c.dsum += e
            c.dn += 1
            if c.dn == 5:
                c.dring[c.didx & _HMASK] = c.dsum // 5
                c.didx = (c.didx + 1) & 0xFFFFF
                c.d_tick = tick
                c.dsum = 0
                c.dn = 0
            v = fast[i]
            fring[hp] = v if v < _RCLAMP else _RCLAMP
            qv = qual[i]
            if qv == Q.LOST:
                # lost signal: close what is open, hold off, then relearn the floor
                if state == _ACTIVE:
                    self._close(c, c.last_above + 1 if c.below else tick, R.FLAG_PARTIAL_LEADOFF)
                state = _IDLE
                c.cand = 0
                bad = self.hold_ticks
                warm = self.warm_ticks
                lost[i] = 1
                any_lost = True
                continue
            if qv == Q.CLIPPED:
                c.clip = True
            if bad > 0:
                bad -= 1
                lost[i] = 1
                any_lost = True
                continue
            if warm > 0:
                # fast floor learning after start or lost signal; no detection yet
                w = lf[i]
                if w > _FCLAMP:
                    w = _FCLAMP
                if c.fresh:
                    FL.warm(fl, e, 1)
                    lq = w << 6
                    c.fresh = False
                else:
                    FL.warm(fl, e, 0)
                    lq += ((w << 6) - lq) >> cfg.warmup_shift
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
                if c.n < smooth:     # (sums of <= smooth_ms ticks of <= 2**20: below 2**30)
                    v = fring[hp] - fring[(tick - 1) & _HMASK]
                    c.rough += v if v > 0 else -v
                    c.fsum += fring[hp]
                elif c.n == smooth:
                    r = c.rough
                    s = c.fsum
                    while r > 1048575 or s > 1048575:   # keep r*1000 and s*rough_pm < 2**30
                        r >>= 1
                        s >>= 1
                    if r * 1000 < s * rough_pm:
                        self._dropped(c.onset, c.n * 10, "smooth")
                        c.state = _IDLE
                        state = _IDLE
                        c.last_end = tick
                        FL.set_floor(fl, gsum // gap)
                        self.n_steps += 1
                        continue
                c.n += 1
                c.s_lo += e
                if c.s_lo >= 1048576:
                    c.s_hi += c.s_lo >> 20
                    c.s_lo &= 1048575
                if e > c.peak:
                    c.peak = e
                    c.pk_tick = tick
                    c.on_at_peak = fl[FL.ON]
                v = lf[i]
                if v > _FCLAMP:
                    v = _FCLAMP
                # motion-like tick: the 1-20 Hz band rose more than the envelope (both bounded
                # to 10 mV so that the products stay below 2**30)
                v -= lq >> 6
                d = e - fl[FL.FLOOR]
                if v > _DCLAMP:
                    v = _DCLAMP
                if d > _DCLAMP:
                    d = _DCLAMP
                elif d < -_DCLAMP:
                    d = -_DCLAMP
                if v * 64 > d * mr:
                    c.mot += 1
                v = gyro[i]
                if v > c.gpk:
                    c.gpk = v
                if c.rot < 536870912 and v > 0:    # rotation travelled (0.001 deg), < 2**30
                    c.rot += v if v < 65535 else 65535
                if v > mvt:
                    c.n_mv += 1
                v = acc[i]
                if v > c.apk:
                    c.apk = v
                if (tick & 63) == 0:
                    FL.creep(fl)
                    if not c.ron and tick - c.onset >= self.ron_ticks:
                        self._peak_onset(c, tick)
                    if self._gait(c, tick):
                        # the 'event' is the EMG of walking or pushing, locked to the IMU's
                        # rhythm (bursts on co-contraction): not a spasm; the floor moves up
                        # to the activity's tonic level
                        self._reject(c.onset, (tick - c.onset) * 10, "gait")
                        state = _IDLE
                        c.state = _IDLE
                        c.last_end = tick
                        continue
                on_thr = fl[FL.ON]
                if gsum >= on_thr * gap:
                    c.last_strong = tick
                elif tick - c.last_strong >= stale and c.rrun < 2 and (c.max_rrun < 3 or c.nrun >= 2):
                    # the mean over the merge gap not above the onset threshold for stale_ms:
                    # the background rose under the event (hum, contact), which the frozen
                    # floor cannot follow: end the event at its last strong tick, re-baseline
                    c.below = 1
                    self._close(c, c.last_strong + 1, 0)
                    FL.set_floor(fl, gsum // gap)
                    state = _IDLE
                    continue
                if e > on_thr:
                    if c.s_run == 0 and c.s_pause >= lead_pause and c.s_max < lead_max \
                            and tick - c.onset <= lead_age:
                        # the event so far was one or two short blips above the onset threshold
                        # (an ECG beat, a tap) and a pause: the episode begins with this burst
                        self._reonset(c, tick, fl[FL.MID])
                    c.s_run += 1
                    c.s_pause = 0
                    if c.s_run > c.s_max:
                        c.s_max = c.s_run
                else:
                    c.s_run = 0
                    c.s_pause += 1
                if e >= fl[FL.MID]:
                    # still active: above the middle of the two thresholds (rest noise seldom is)
                    track(c, 1, tick)
                    c.below = 0
                    c.last_above = tick
                    c.snap_lo = c.s_lo
                    c.snap_hi = c.s_hi
                    c.snap_n = c.n
                    c.mot_snap = c.mot
                    if tick - c.onset >= cfg.clonus_win and tick - c.last_win >= cfg.clonus_hop:
                        c.last_win = tick
                        self.clonus.window(c, tick + 1, cfg.clonus_win)
                    if tick + 1 - c.onset >= self.max_ticks:
                        self._close(c, tick + 1, R.FLAG_TRUNCATED)
                        self._start(c, tick + 1)
                else:
                    track(c, 0, tick)
                    c.below += 1
                    # end: half a merge gap of ticks below the middle threshold AND the mean over
                    # the last merge gap below it too (a dip of a weak, fluctuating spasm or the
                    # pauses of a weak clonus do not split it), or three merge gaps all below
                    # (during a clonic run a skipped or weak burst is part of the clonus: the
                    # pause must last two merge gaps)
                    need = 2 * gap if self.clonus.clonic_run(c) else half_gap
                    if (c.below >= need and gsum < fl[FL.OFF] * gap) or c.below >= 3 * gap:
                        self._close(c, c.last_above + 1, 0)
                        state = _IDLE
                continue
            on_thr = fl[FL.ON]
            if e > on_thr:
                c.cand += 1
                if c.cand >= self.persist or gsum >= on_thr * gap:
                    # confirmed (a run above the onset threshold, or the merge-gap mean above it,
                    # as for bursty clonus): backtrack to the first tick above the offset
                    # threshold, bridging dips of up to dip_max ticks between bursts that rise
                    # above the middle threshold
                    mid = fl[FL.MID]
                    off_thr = fl[FL.OFF]
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
                            c.pk_tick = j
                            c.on_at_peak = on_thr
                        track(c, 1 if v >= mid else 0, j)
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
            rest(fl, e)
        c.gsum = gsum
        c.lq = lq
        c.state = state
        c.warm = warm
        c.bad = bad
        return any_lost

    def _start(self, c, onset):
        if c.pend:
            self._finish(c)
        st = c.state
        self._reset_ch(c)
        c.g0_ok = self.ctx.gravity(c.g0)
        c.yaw0 = self.ctx.yaw
        c.state = _ACTIVE
        c.onset = onset
        c.last_win = onset
        c.last_above = onset
        c.last_strong = onset
        c.ctx = self.ctx.state       # the activity context in force at the onset
        x = self.ctx
        c.mv_lead = x.move_lead(onset)
        c.act0 = x.act >> 7          # mg
        c.vib0 = x.vib >> 7          # 0.01 g/s
        if st == _ACTIVE:
            c.below = 0

    def _gait(self, c, tick):
        """True when the IMU moves with a rhythm (walking, pushing) and channel c's event of at
        least gait_min_ms has a 20 Hz envelope whose autocorrelation at the IMU's period
        reaches gait_r_min and exceeds that at half the period by as much; the floor is then
        set to the lowest envelope of the last second (the tonic level)."""
        x = self.ctx
        per = x.period
        if not x.rhythm or x.state == CX.REST or per < 4 or per > CL.LAGS - 3:
            return False
        if c.n_win and c.n_rh * 2 >= c.n_win:
            return False       # clonic: a 3-10 Hz rhythm of its own (it moves the limb too)
        age = tick - c.onset
        if age < (self.gait_ticks if c.act0 >= self.cfg.moved_mg else self.gait_still_ticks):
            # a limb still before the EMG rose moves because of the event (a spasm that
            # waxes and wanes swings it at its own rhythm): checked only once it has gone on
            # for gait_still_ms (the first steps of a walk that starts with the event)
            return False
        n = age // 5
        if n > 128:
            n = 128
        p = self.gp
        p[0] = c.didx
        p[1] = n
        CL.acorr(c.dring, self.clonus.xs, p, x.ac)
        r = x.ac
        # at the IMU's period or twice it (the acceleration magnitude of a swing repeats
        # twice per cycle); a rhythm, not a slow wander: a peak there and a valley at half
        lag = per
        ok = False
        while lag <= CL.LAGS - 3 and not ok:
            v = r[lag]
            if r[lag - 1] > v:
                v = r[lag - 1]
            if r[lag + 1] > v:
                v = r[lag + 1]
            ok = v >= self.cfg.gait_r_min and v - r[lag >> 1] >= self.cfg.gait_r_min
            lag += per
            if lag > 2 * per:
                break
        if not ok:
            return False
        lo = _FCLAMP
        k = 1
        while k <= 20:
            w = c.dring[(c.didx - k) & _HMASK]
            if w < lo:
                lo = w
            k += 1
        FL.set_floor(c.fl, lo)
        return True

    def _moved(self, c):
        """Channel c's event began while the limb was already moving (``moved_mg`` of mean
        acceleration, rotating for ``moved_lead_ms`` before the EMG rose): a response to the
        movement (a passive stretch's reflex, a correction), not what moved the limb."""
        return c.act0 >= self.cfg.moved_mg and c.mv_lead * 10 >= self.cfg.moved_lead_ms

    def _peak_onset(self, c, now):
        """The episode's own onset (docs/detector.md): where the run of activity that holds
        its peak first rose above ``onset_peak_1024``/1024 of that peak, dips shorter than a
        merge gap bridged; earlier, weaker activity (tone rising, a stretch reflex, the first
        seconds of a crescendo below a tenth of its peak) is not part of the episode. Moves
        ``c.onset`` on by at least ``reonset_min_ms`` and at most ``reonset_max_ms``; read
        from the 20 Hz ring (50 ms steps), refined to 10 ms from the 100 ms one."""
        c.ron = True
        cfg = self.cfg
        pk = c.peak if c.peak < _CLAMP else _CLAMP
        base = c.fl[FL.FLOOR]
        if pk <= base or c.didx < 2:
            return
        # a tenth of the peak above the noise floor (the floor is the noise the EMG adds to)
        thr = base + (((pk - base) * cfg.onset_peak_1024) >> 10)
        if thr <= c.fl[FL.OFF]:
            return
        # 20 Hz sample k back from the newest covers ticks d_tick - 5k - 4 .. d_tick - 5k
        k = (c.d_tick - c.pk_tick) // 5
        if k < 0:
            k = 0
        dip = 0
        start = c.onset
        gap = self.gap_ticks
        ring = c.dring
        while k < _HN - 2:
            end_t = c.d_tick - 5 * k
            if end_t < c.onset:
                break
            if ring[(c.didx - 1 - k) & _HMASK] >= thr:
                start = end_t - 4
                dip = 0
            else:
                dip += 5
                if dip > gap:
                    break
            k += 1
        if start <= c.onset:
            return
        # to 10 ms: back over ticks still above the threshold, forward over ticks below it
        hist = c.hist
        if now - start < _HN - 8:
            j = 0
            while j < 5 and start - 1 > c.onset and hist[(start - 1) & _HMASK] >= thr:
                start -= 1
                j += 1
            j = 0
            while j < 4 and start < c.pk_tick and hist[start & _HMASK] < thr:
                start += 1
                j += 1
        mv = start - c.onset
        if mv * 10 < cfg.reonset_min_ms or mv * 10 > cfg.reonset_max_ms:
            return
        c.onset = start
        c.last_win = start if c.last_win < start else c.last_win

    def _reonset(self, c, tick, mid):
        """Move channel c's onset to the burst that rises above the onset threshold at
        ``tick`` (backtracked over at most 100 ms above the middle threshold); the earlier
        blips are not counted."""
        hist = c.hist
        first = tick
        k = 1
        while k <= 10 and hist[(tick - k) & _HMASK] > mid:
            first = tick - k
            k += 1
        c.onset = first
        c.last_win = first
        c.b_n = 0
        c.b_max = 0
        c.s_max = 0
        c.n = 0
        c.s_lo = 0
        c.s_hi = 0
        c.peak = 0
        c.mot = 0
        j = first
        while j < tick:
            v = hist[j & _HMASK]
            c.n += 1
            c.s_lo += v if v < _CLAMP else _CLAMP
            if v > c.peak:
                c.peak = v
                c.pk_tick = j
            j += 1
        c.snap_n = c.n
        c.snap_lo = c.s_lo
        c.snap_hi = 0

    def _close(self, c, end_tick, flags):
        """Finish channel c's event at end_tick (exclusive); emit it unless too short or motion."""
        cfg = self.cfg
        if not c.ron:
            self._peak_onset(c, end_tick)
        onset = c.onset
        state_n = c.snap_n if c.snap_n > 0 else c.n
        c.state = _IDLE
        c.last_end = end_tick          # a later onset is never backtracked into this event
        c.cand = 0
        on_ms = -cfg.onset_adj_ms      # relative to the onset tick
        dur = (end_tick - onset) * 10 - cfg.offset_adj_ms + cfg.onset_adj_ms
        if flags & (R.FLAG_PARTIAL_LEADOFF | R.FLAG_TRUNCATED):
            dur = (end_tick - onset) * 10 + cfg.onset_adj_ms
        if dur < cfg.min_duration_ms:
            self._dropped(onset, dur, "short")
            return
        clo = self.clonus
        # clonus decision; short events get one window at the end
        if c.n_win == 0 and end_tick - onset >= 2 * cfg.clonus_lag_max + 10:
            n = end_tick - onset
            if n > cfg.clonus_win:
                n = cfg.clonus_win
            clo.window(c, end_tick, n)
        kind = clo.kind(c)
        if kind != R.KIND_SPASM and dur < cfg.clonus_min_ms:
            kind = R.KIND_SPASM      # too few beats for clonus: a burst train unless sustained
        # burst structure: an episode needs one sustained burst unless it is all clonus (a
        # tonic part is a sustained burst)
        if kind == R.KIND_SPASM_WITH_CLONUS and c.b_max * 10 < cfg.burst_min_ms \
                and c.n_rh * 2 >= c.n_win:
            kind = R.KIND_CLONUS     # no tonic burst after all: mostly rhythmic, clonus
        if kind != R.KIND_CLONUS and c.b_max * 10 < cfg.burst_min_ms:
            self._reject(onset, dur, "burst")
            return
        # motion artifacts
        jerk_near = self.last_jerk >= onset - self.jerk_near
        mot = c.mot_snap if c.snap_n > 0 else c.mot
        moving = c.ctx == CX.VIBRATION or c.ctx == CX.RHYTHMIC
        if (jerk_near or moving) and mot * 1000 >= state_n * cfg.motion_frac_pm \
                and (dur <= cfg.motion_max_ms or moving):
            # a motion artifact: a transient with a jerk, or any length while the body shakes
            # or swings (cable sway, electrode rub)
            self._reject(onset, dur, "motion")
            return
        if kind == R.KIND_SPASM and dur < cfg.moved_max_ms and self._moved(c):
            # the limb was already moving when the EMG rose (a passive stretch and its reflex,
            # a correction during a movement): a short burst that answers a movement, not a
            # spasm, which starts the movement itself
            self._reject(onset, dur, "moved")
            return
        if jerk_near or mot * 4 >= state_n or c.ctx != CX.REST:
            flags |= R.FLAG_MOTION       # (also: the wearer was moving when it began)
        if c.clip:
            flags |= R.FLAG_CLIPPED
        if c.peak * 64 < c.on_at_peak * cfg.near_thr_64:
            flags |= R.FLAG_NEAR_THRESHOLD
        hi = c.snap_hi
        lo = c.snap_lo
        if c.snap_n == 0:
            hi = c.s_hi
            lo = c.s_lo
        if hi > 1000:   # beyond realistic envelopes: saturate (hi * 2**20 < 2**30 below)
            mean = min(_CLAMP, (hi // state_n) << 20)
            area = 0x3FFFFFFF
        else:
            mean = (hi * 1048576 + lo) // state_n
            area = hi * 104857 + (hi * 6 + lo) // 10
        self._features(c, dur, kind, mean, state_n, mot)
        # onset ms: the onset tick's device ms minus the ARV rise (0 for an onset before the
        # clock's 0 that has not wrapped yet: a negative time cannot be stored)
        t_on = self.ms(onset)
        if not self.wrapped and (onset < self.tick_ms0 or t_on < cfg.onset_adj_ms):
            on_ms = 0
        else:
            on_ms = wrap_add_ms(t_on, on_ms)
        # the posture rule needs the limb's orientation after the event: hold it back
        posture = c.g0_ok and kind == R.KIND_SPASM and cfg.posture_64 > 0
        a = c.pend_ev
        a[R.EV_BOOT] = self.boot
        a[R.EV_ONSET_MS] = on_ms
        a[R.EV_DURATION_MS] = dur
        a[R.EV_KIND] = kind
        a[R.EV_CHANNEL] = c.idx
        a[R.EV_FLAGS] = flags
        a[R.EV_PEAK_CUV] = c.peak
        a[R.EV_MEAN_CUV] = mean
        a[R.EV_AREA_UVMS] = area
        a[R.EV_CLONUS_CHZ] = clo.hz(c) if kind != R.KIND_SPASM else 0
        a[R.EV_GYRO_PEAK_DDPS] = c.gpk if c.gpk < 0xFFFF else 0xFFFF
        a[R.EV_ACC_PEAK_MG] = c.apk if c.apk < 0xFFFF else 0xFFFF
        if c.mvc > 0:
            pm = (c.peak * 1000) // c.mvc if c.peak < 1000000 else c.peak // (c.mvc // 1000 + 1)
            a[R.EV_MVC_PM] = pm if pm < 0xFFFE else 0xFFFE
        else:
            a[R.EV_MVC_PM] = R.MVC_UNCALIBRATED
        a[R.EV_CONFIG_VERSION] = self.version
        c.pend_on = onset
        c.pend_kind = kind
        c.pend_dur = dur
        if posture:
            c.pend = True
            c.pend_until = end_tick + self.posture_ticks
        else:
            self._release(c)

    def _finish(self, c):
        """Emit channel c's held-back event unless the body's posture changed over it: the
        gravity vector posture_ms after its end turned from the one at its onset by more
        than posture_64 (a transfer, rolling over in bed: voluntary movements that leave
        the body turned; a spasm's excursion ends when it relaxes)."""
        c.pend = False
        g = self.gv
        x = self.ctx
        if x.gravity(g) and self._turned(c.g0, g):
            self._reject(c.pend_on, c.pend_dur, "posture")
            return
        u = self.turn_units
        if u and x.gx is not None and c.pend_dur <= self.cfg.turn_max_ms:
            t = x.turn(c.yaw0)
            if t >= u or -t >= u:
                # the body turned about the vertical by turn_deg or more and stayed turned (a
                # sitting-pivot transfer between seats, a vehicle cornering): the tilt is
                # unchanged, so the posture test cannot see it; a spasm's excursion returns
                self._reject(c.pend_on, c.pend_dur, "turn")
                return
        self._release(c)

    def _reject(self, onset, dur, why):
        """Count a dropped candidate (in the summary's n_motion_rejected) and trace it."""
        self.out.count_rejected(onset)
        self._dropped(onset, dur, why)

    def _dropped(self, onset, dur, why):
        """Replay tools only (``rtrace`` set): which rule dropped the activity from tick
        ``onset`` (``why``: the rule's name, an interned string, so nothing allocates on the
        device, where ``rtrace`` is None)."""
        if self.rtrace is not None:
            self.rtrace.append((wrap_add_ms(self.ms(onset), -self.cfg.onset_adj_ms), dur, why))

    def _release(self, c):
        """The last stage: the learned screen keeps or drops channel c's event (its features
        in c.feat, its record in c.pend_ev); a kept one goes to the queue."""
        keep = SC.walk(self.screen, c.feat) if self.screen is not None else 1
        if self.trace is not None:
            self.trace.append((wrap_add_ms(self.ms(c.pend_on), -self.cfg.onset_adj_ms), c.pend_dur, keep,
                               c.idx, tuple(c.feat)))
        if not keep:
            self._reject(c.pend_on, c.pend_dur, "screen")
            return
        a = self.out.ev_slot()
        p = c.pend_ev
        for i in range(R.EV_N):
            a[i] = p[i]
        self.out.count_event(c.pend_on, c.pend_kind, c.pend_dur)

    def _turned(self, g0, g1):
        """|g1 - g0|**2 * 64 > |g0|**2 * posture_64 (12 ~ 25 degrees), components scaled to
        <= 512 per g and clamped to +-2 g."""
        sh = self.g_shift
        d2 = 0
        n2 = 0
        for k in range(3):
            a = g0[k] >> sh
            b = g1[k] >> sh
            a = 1023 if a > 1023 else (-1023 if a < -1023 else a)
            b = 1023 if b > 1023 else (-1023 if b < -1023 else b)
            d2 += (a - b) * (a - b)
            n2 += a * a
        return n2 > 0 and d2 * 64 > n2 * self.cfg.posture_64

    def _features(self, c, dur, kind, mean, n, mot):
        """Fill ``c.feat`` (screen.FEATURES) for channel c's candidate. Every product stays
        below 2**30."""
        f = c.feat
        cl = SC.clamp
        fl = c.fl[FL.FLOOR]
        pk = c.peak if c.peak < _CLAMP else _CLAMP
        f[0] = cl(dur)
        f[1] = cl(c.b_max * 10)
        f[2] = cl(c.b_n)
        f[3] = (c.n_rh * 1000) // c.n_win if c.n_win else 0
        f[4] = kind
        f[5] = cl((pk * 16) // (fl if fl > 0 else 1))
        f[6] = cl((mean * 64) // (pk if pk > 0 else 1)) if mean < _CLAMP else 64
        f[7] = (mot * 1000) // n if n > 0 and mot < 1000000 else 0
        f[8] = c.ctx
        f[9] = cl(c.gpk)
        f[10] = cl(c.apk)
        f[11] = c.mv_lead * 10
        f[12] = cl((c.pk_tick - c.onset) * 10)
        f[13] = cl(c.act0)
        # vibration: jerk against acceleration, defined only while the limb moves (at rest
        # both are sensor noise and their ratio means nothing): 0 at rest
        a0 = c.act0
        v0 = c.vib0 if c.vib0 < 1000000 else 1000000
        f[14] = cl((v0 * 64) // a0) if a0 >= self.cfg.move_mg else 0
        on = c.on_at_peak if c.on_at_peak > 0 else 1
        f[15] = cl((pk * 64) // on)
        f[16] = c.rot // 1000
        f[17] = (f[12] * 1000) // dur if dur > 0 and f[12] < 1000000 else 1000
        f[18] = (c.n_mv * 1000) // c.n if c.n > 0 and c.n_mv < 1000000 else 0

    def flush(self):
        """At shutdown or the end of a replay: close open events (FLAG_TRUNCATED if still
        above threshold) and emit the pending and the current, partial, window summaries
        (the partial one with its real length in ``window_s``). Not for the per-block path."""
        for c in self.chs:
            if c.pend:
                self._finish(c)
            if c.state == _ACTIVE:
                if c.below:
                    self._close(c, c.last_above + 1, 0)
                else:
                    self._close(c, self.tick, R.FLAG_TRUNCATED)
            c.state = _IDLE
            if c.pend:
                self._finish(c)
        self.out.flush(self.tick)
