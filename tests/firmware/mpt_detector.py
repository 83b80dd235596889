# mpy-heapsize: 256K  (detector.py compiled from source here; on the device it is a frozen .mpy)
"""Detector rules on MicroPython, fed synthetic chain outputs (one rule per test)."""
import gc
from array import array

import coeffs
from core import detconfig
from core import detector
from core import records as R
from mpunit import assert_raises

M = 10            # ticks per block (100 ms)
REST = 300        # 3 uV resting envelope (0.01 uV)
RAIL = coeffs.ADC_MAX


class Rig:
    """A detector on preallocated chain-output arrays, fed block by block."""

    def __init__(self, cfg=None, imu=True, co=coeffs):
        self.cfg = cfg or detconfig.DEFAULT
        self.env = array("i", [0] * M)
        self.fast = array("i", [0] * M)
        self.lf = array("i", [0] * M)
        self.rmin = array("i", [-2000] * M)
        self.rmax = array("i", [2000] * M)
        self.acc = array("i", [0] * M)
        self.gyro = array("i", [0] * M)
        self.jerk = array("i", [0] * M)
        self.det = detector.Detector(self.cfg, 1, co)
        self.det.bind(0, self.env, self.lf, self.rmin, self.rmax, self.fast)
        if imu:
            self.det.bind_imu(self.acc, self.gyro, self.jerk)
        self.tick = 0
        self.seed = 1
        self.events = []
        self.summaries = []

    def run(self, ticks, env, fast=None, lf=0, lo=-2000, hi=2000, jerk=0, gyro=0):
        """Feed ``ticks`` ticks; env/fast may be ints or functions of the tick index."""
        for _ in range(ticks // M):
            for i in range(M):
                k = self.tick + i
                e = env(k) if callable(env) else env
                self.env[i] = e
                if fast is None:    # EMG's 10 ms envelope is stochastic: +-40 % around env
                    self.seed = (1103515245 * self.seed + 12345) & 0x7FFFFFFF
                    self.fast[i] = e * (60 + (self.seed >> 8) % 81) // 100
                else:
                    self.fast[i] = fast(k) if callable(fast) else fast
                self.lf[i] = lf(k) if callable(lf) else lf
                self.rmin[i] = lo
                self.rmax[i] = hi
                self.jerk[i] = jerk(k) if callable(jerk) else jerk
                self.gyro[i] = gyro
            self.det.feed(M, self.tick * 10)
            self.tick += M
            self.drain()

    def drain(self):
        while True:
            e = self.det.pop_event()
            if e is None:
                break
            self.events.append(list(e))
        while True:
            s = self.det.pop_summary()
            if s is None:
                break
            self.summaries.append(list(s))

    def finish(self):
        self.det.flush()
        self.drain()
        return self.events


def test_spasm_onset_duration_and_fields():
    r = Rig()
    r.run(500, REST)
    r.run(200, 3000)           # 2 s spasm at 30 uV from t = 5.00 s
    r.run(300, REST)
    ev = r.finish()
    assert len(ev) == 1, ev
    e = ev[0]
    assert abs(e[R.EV_ONSET_MS] - 5000) <= 30, e
    assert abs(e[R.EV_DURATION_MS] - 2000) <= 120, e
    assert e[R.EV_KIND] == R.KIND_SPASM
    assert e[R.EV_PEAK_CUV] == 3000 and e[R.EV_MEAN_CUV] == 3000
    assert abs(e[R.EV_AREA_UVMS] - 3000 * 200 // 10) <= 3000, e    # 30 uV * 2000 ms
    assert e[R.EV_CLONUS_CHZ] == 0
    assert e[R.EV_MVC_PM] == R.MVC_UNCALIBRATED
    assert e[R.EV_CONFIG_VERSION] == detconfig.CONFIG_VERSION


def test_smooth_background_step_is_absorbed_not_an_event():
    r = Rig()
    r.run(500, REST)
    r.run(3000, 1500, fast=1500)     # a mains hum switching on: a smooth 10 ms envelope
    assert r.finish() == [], r.events
    assert r.det.n_steps == 1
    assert 1200 <= r.det.threshold_cuv(0)[0] <= 1600     # the floor now includes the hum


def test_short_voluntary_burst_is_not_an_event():
    r = Rig()
    r.run(500, REST)
    r.run(30, 5000)            # 300 ms
    r.run(300, REST)
    assert r.finish() == []


def test_min_duration_is_configurable_and_versioned():
    cfg = detconfig.make(min_duration_ms=200, burst_min_ms=200)
    assert cfg.version != detconfig.CONFIG_VERSION and cfg.version & 0x8000
    r = Rig(cfg)
    r.run(500, REST)
    r.run(30, 5000)
    r.run(300, REST)
    ev = r.finish()
    assert len(ev) == 1 and ev[0][R.EV_CONFIG_VERSION] == cfg.version, ev
    assert_raises(ValueError, detconfig.make, no_such_parameter=1)
    assert_raises(ValueError, detconfig.make, min_duration_ms="500")


def test_merge_gap_joins_short_pauses_only():
    r = Rig()
    r.run(500, REST)
    r.run(100, 3000)
    r.run(10, REST)            # 100 ms pause: same event
    r.run(100, 3000)
    r.run(300, REST)
    r.run(100, 3000)           # 3 s later: a new event
    r.run(300, REST)
    ev = r.finish()
    assert len(ev) == 2, ev
    assert ev[0][R.EV_DURATION_MS] > 2000


def test_floor_follows_slow_drift_but_not_spasms():
    r = Rig()
    r.run(300, REST)
    r.run(12000, lambda k: REST + (k - 300) * 600 // 12000)   # 3 -> 9 uV over 2 min
    assert r.events == [], r.events
    floor = r.det.threshold_cuv(0)[0]
    assert 700 <= floor <= 950, floor
    r.run(1000, 5000)           # 10 s spasm: the floor must not climb onto it
    assert r.det.threshold_cuv(0)[0] < 1100
    r.run(400, 900)
    assert len(r.finish()) == 1


def test_clonus_kind_and_frequency():
    r = Rig()
    r.run(500, REST)
    # 6 Hz bursts: 10 ms envelope on for 40 % of each 166.7 ms period
    burst = lambda k: 6000 if (k * 6) % 100 < 40 else 400
    r.run(500, 2500, fast=burst)
    r.run(300, REST)
    ev = r.finish()
    assert len(ev) == 1, ev
    e = ev[0]
    assert e[R.EV_KIND] == R.KIND_CLONUS, e
    assert abs(e[R.EV_CLONUS_CHZ] - 600) <= 30, e


def test_clonus_frequency_estimate_4_to_9_hz():
    import math
    d = detector.Detector(detconfig.DEFAULT, 1, coeffs)
    c = d.chs[0]
    for f in (4.0, 5.0, 6.0, 6.5, 7.0, 8.0, 9.0):
        for k in range(256):      # Hann-shaped bursts, 45 % duty (no harmonic or lag bias)
            ph = (k * f / 100.0) % 1.0
            c.fring[k] = int(3000 * (math.sin(math.pi * ph / 0.45) ** 2 if ph < 0.45 else 0)) + 300
        c.n_rh = c.f_sum = c.n_win = 0
        d.clonus.window(c, 256, 128)
        assert c.n_rh == 1, f
        assert abs(c.f_sum - int(f * 100)) <= 8, (f, c.f_sum)


def test_spasm_with_clonic_part_is_one_event():
    r = Rig()
    r.run(500, REST)
    r.run(400, 2500)                                               # tonic 4 s
    r.run(500, 2500, fast=lambda k: 6000 if (k * 5) % 100 < 45 else 400)   # clonic 5 s at 5 Hz
    r.run(300, REST)
    ev = r.finish()
    assert len(ev) == 1, ev
    assert ev[0][R.EV_KIND] == R.KIND_SPASM_WITH_CLONUS, ev
    assert abs(ev[0][R.EV_CLONUS_CHZ] - 500) <= 30, ev


def test_tonic_spasm_is_not_clonus():
    r = Rig()
    r.run(500, REST)
    seed = [12345]

    def noisy(k):   # random 10 ms envelope around 25 uV: no rhythm
        seed[0] = (1103515245 * seed[0] + 12345) & 0x7FFFFFFF
        return 1500 + seed[0] % 2000
    r.run(800, 2500, fast=noisy)
    r.run(300, REST)
    ev = r.finish()
    assert len(ev) == 1 and ev[0][R.EV_KIND] == R.KIND_SPASM, ev


def test_rhythm_faster_than_10_hz_is_not_clonus():
    r = Rig()
    r.run(500, REST)
    # a 10 ms envelope repeating every 5 ticks (60 Hz hum beat, or 20 Hz firing): its harmonics
    # fall on clonus lags (10, 15 ticks) but the fundamental is too fast
    pattern = (900, 2600, 4100, 2600, 900)
    r.run(600, 2500, fast=lambda k: pattern[k % 5] + (k * 7919) % 700)
    r.run(300, REST)
    ev = r.finish()
    assert len(ev) == 1 and ev[0][R.EV_KIND] == R.KIND_SPASM, ev


def test_motion_artifact_with_jerk_is_rejected_and_counted():
    cfg = detconfig.make(window_s=20)
    r = Rig(cfg)
    r.run(500, REST, lf=100)
    # band leak of an electrode transient: envelope up a little, 1-20 Hz band up a lot
    r.run(100, 1500, lf=60000, jerk=lambda k: 2000 if k < 520 else 0)
    r.run(1500, REST, lf=100)
    assert r.finish() == []
    assert sum(s[R.SM_N_MOTION_REJECTED] for s in r.summaries) == 1, r.summaries


def test_emg_with_movement_is_kept_and_flagged():
    r = Rig()
    r.run(500, REST, lf=100)
    r.run(200, 4000, lf=300, jerk=lambda k: 2000 if k < 520 else 0, gyro=900)
    r.run(300, REST, lf=100)
    ev = r.finish()
    assert len(ev) == 1, ev
    assert ev[0][R.EV_FLAGS] & R.FLAG_MOTION
    assert ev[0][R.EV_GYRO_PEAK_DDPS] == 900


def test_railed_and_flat_signal_are_lost_never_events():
    cfg = detconfig.make(window_s=60)
    r = Rig(cfg)
    r.run(1000, REST)
    r.run(1000, 40000000, lo=RAIL, hi=RAIL)       # lead off: front end railed, 10 s
    r.run(1000, REST)
    r.run(500, 0, lo=7, hi=7)                      # flat, 5 s
    r.run(2500, REST)
    assert r.finish() == []
    s = r.summaries[0]
    lost = s[R.SM_LOST_DS]
    # 15 s off + (0.5 s hold + 2 s relearn) after each of the two, + 2 s start-up warm-up = 22 s
    assert 215 <= lost <= 225, s
    assert s[R.SM_COVERED_DS] + lost >= 595, s


class S3Coeffs:
    """The scalings the detector reads, of a 12-bit ADC behind a gain-200 analog module."""
    ENV_FS_HZ = 100
    UV_PER_COUNT = 3.784179688
    ADC_MAX = 2048


def test_coarse_adc_quiet_ticks_are_not_lead_off_until_flat_for_flat_q_ms():
    # one count is 3.8 uV: a resting muscle (1-3 uV RMS) often spans 0 counts in 10 ms
    cfg = detconfig.make(window_s=30)
    r = Rig(cfg, co=S3Coeffs)
    r.run(300, REST, lo=0, hi=1)
    for _ in range(20):                   # quiet: runs of up to 300 ms in one code
        r.run(30, REST, lo=5, hi=5)
        r.run(10, REST, lo=4, hi=6)
    r.run(100, REST, lo=-1, hi=1)
    r.run(150, 4000, lo=-400, hi=400)      # a 1.5 s spasm
    r.run(200, REST, lo=-1, hi=0)
    r.run(300, REST, lo=3, hi=3)           # really flat for 3 s
    r.run(1100, REST, lo=0, hi=1)
    ev = r.finish()
    assert len(ev) == 1 and abs(ev[0][R.EV_ONSET_MS] - 12000) <= 60, ev
    assert abs(ev[0][R.EV_DURATION_MS] - 1500) <= 150, ev
    assert ev[0][R.EV_FLAGS] & R.FLAG_PARTIAL_LEADOFF == 0, ev
    s = r.summaries[0]
    # 2 s start-up warm-up + (3 s flat - 0.5 s to notice) + 0.5 s hold + 2 s relearn = 7 s
    assert 69 <= s[R.SM_LOST_DS] <= 71, s
    # the same quiet signal with the fine-ADC rule (one flat tick is lead-off) loses most of it
    r2 = Rig(detconfig.make(window_s=30, flat_q_ms=10), co=S3Coeffs)
    r2.run(300, REST, lo=0, hi=1)
    for _ in range(20):
        r2.run(30, REST, lo=5, hi=5)
        r2.run(10, REST, lo=4, hi=6)
    r2.run(2000, REST, lo=0, hi=1)
    r2.finish()
    assert r2.summaries[0][R.SM_LOST_DS] > 100, r2.summaries[0]     # 20 false lead-offs


def test_board_too_coarse_for_emg_is_refused():
    class Coarse(S3Coeffs):
        UV_PER_COUNT = 15.1               # 10 bits behind gain 200
    e = assert_raises(ValueError, detector.Detector, detconfig.DEFAULT, 1, Coarse)
    assert "uV/count" in str(e), str(e)


def test_front_end_lead_off_bits_make_time_lost():
    cfg = detconfig.make(window_s=30)
    r = Rig(cfg)
    r.run(500, REST)
    r.det.set_leadoff(1)           # the AFE says channel 0 is off; the samples look like EMG
    r.run(300, 4000)
    r.det.set_leadoff(0)
    r.run(2200, REST)
    assert r.finish() == []
    s = r.summaries[0]
    # 2 s start-up warm-up + 3 s off + 0.5 s hold + 2 s relearn
    assert 74 <= s[R.SM_LOST_DS] <= 76, s


def test_event_running_into_lead_off_is_flagged_partial():
    r = Rig()
    r.run(500, REST)
    r.run(150, 4000)
    r.run(300, 0, lo=RAIL, hi=RAIL)
    r.run(500, REST)
    ev = r.finish()
    assert len(ev) == 1 and ev[0][R.EV_FLAGS] & R.FLAG_PARTIAL_LEADOFF, ev
    assert abs(ev[0][R.EV_DURATION_MS] - 1500) <= 60, ev


def test_window_summaries_count_and_cover():
    cfg = detconfig.make(window_s=10, summary_grace_ms=1000)
    r = Rig(cfg)
    r.run(300, REST)
    r.run(100, 3000)          # spasm in window 0 (3-4 s)
    r.run(900, REST)
    r.run(150, 3000)          # spasm at 13-14.5 s: window 1
    r.run(1550, REST)
    r.finish()
    sm = r.summaries
    assert len(sm) >= 3, sm
    assert sm[0][R.SM_START_MS] == 0 and sm[1][R.SM_START_MS] == 10000
    assert sm[0][R.SM_N_SPASM] == 1 and sm[1][R.SM_N_SPASM] == 1 and sm[2][R.SM_N_SPASM] == 0
    assert 9 <= sm[0][R.SM_SPASM_DS] <= 11 and 14 <= sm[1][R.SM_SPASM_DS] <= 16, sm
    assert sm[1][R.SM_COVERED_DS] == 100 and sm[1][R.SM_LOST_DS] == 0
    assert sm[0][R.SM_LOST_DS] == 20          # start-up warm-up
    assert all(s[R.SM_CONFIG_VERSION] == cfg.version for s in sm)


def test_mvc_calibration():
    r = Rig()
    r.run(500, REST)
    r.det.calibrate_mvc(0, 1000)
    r.run(100, 10000)          # calibration contraction, 100 uV
    r.run(500, REST)
    r.events = []
    r.run(200, 4000)
    r.run(300, REST)
    ev = r.finish()
    assert ev and ev[-1][R.EV_MVC_PM] == 400, ev


def test_feed_allocates_nothing():
    r = Rig()
    r.run(500, REST)
    r.run(50, 3000)
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        d = r.det
        env = r.env
        for b in range(60):
            v = 3000 if 10 <= b < 40 else REST
            for i in range(M):
                env[i] = v
                r.fast[i] = 6000 if (i & 1) else 200
            d.feed(M, (r.tick + b * M) * 10)
            d.pop_event()
            d.pop_summary()
        after = gc.mem_alloc()
    finally:
        gc.enable()
    assert after == before, (before, after)


def test_fast_env_matches_chain_pre_average():
    from core import dspchain
    n = 100
    c = dspchain.EmgChain(coeffs, n)
    raw = array("i", [((i * 7919) % 4001) - 2000 for i in range(n)])
    outs = [array("i", [0] * (n // 10)) for _ in range(4)]
    c.bind(raw, *outs)
    f = detector.FastEnv(c)
    for _ in range(30):
        c.run(n)
        f.run(n // 10)
    # the 100 ms moving mean of the fast envelope is the chain's envelope
    assert abs(sum(f.buf) // 10 - outs[0][n // 10 - 1]) <= 1, (list(f.buf), list(outs[0]))
