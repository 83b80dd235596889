# Sampler, IMU staging and the app pipeline on the virtual board (virtual time).
import gc
import math

import micropython

import coeffs
import machine
import simhw
import sources
from device.app import App
from drivers import ads1292r, lsm6dso, mpu6050
from mpunit import assert_raises
from device.sampler import EmgSampler, ImuStage
from simboard import ads_bus, i32, imu_arrays, power_on


def _ads(src=None, imu_src=None, **kw):
    b = power_on(emg_source=src, imu_source=imu_src, **kw)
    spi, cs, drdy = ads_bus(b)
    d = ads1292r.ADS1292R(spi, cs, drdy).init(rate_hz=1000, gain=6)
    return d, drdy


def _start(d, drdy, handler):
    drdy.irq(handler, machine.Pin.IRQ_FALLING)
    d.start()


def test_blocks_arrive_whole_with_sample_clock_indices():
    d, drdy = _ads(sources.Sine(7, 1000.0))
    s = EmgSampler(d, 2, 1000, 100, 8, simhw.clock.ticks_us)
    _start(d, drdy, s.irq)
    simhw.clock.advance(800000)  # 797 samples: 7 blocks, what a ring of 8 can hold
    r0, r1 = i32(100), i32(100)
    starts = []
    while True:
        k = s.next_block(r0, r1)
        if k < 0:
            break
        starts.append(k)
    assert starts == [0, 100, 200, 300, 400, 500, 600], starts
    assert s.dropped == 0 and s.overruns == 0
    # the last block holds samples 600..699 of a 7 Hz sine sampled from t = 4 ms
    uvpc = d.uv_per_count()
    for i in (0, 37, 99):
        t = (4 + 600 + i) * 1e-3
        want = 1000.0 * math.sin(2 * math.pi * 7 * t) / uvpc
        assert abs(r0[i] - want) < 3, (i, r0[i], want)


def test_irq_runs_under_heap_lock_and_allocating_handlers_fail():
    d, drdy = _ads()
    s = EmgSampler(d, 2, 1000, 100, 8, simhw.clock.ticks_us)
    _start(d, drdy, s.irq)
    simhw.clock.advance(300000)  # 297 interrupts, each with the heap locked
    assert s.irqs == 297, s.irqs
    bad = []

    def allocating(_p):
        bad.append(bytearray(8))  # a new object: allocates

    drdy.irq(allocating, machine.Pin.IRQ_FALLING)
    assert_raises(MemoryError, simhw.clock.advance, 2000)


class _Counter:
    """A sample source without a simulator behind it: only the sampler's own code runs."""

    def __init__(self):
        self.k = 0

    def sample_into(self, a0, a1, i):
        self.k += 1
        a0[i] = self.k
        a1[i] = -self.k
        return 0


def test_irq_allocates_nothing_by_gc_count():
    t = [0]

    def ticks():
        t[0] += 1000
        return t[0]

    s = EmgSampler(_Counter(), 2, 1000, 100, 16, ticks)
    s.irq(None)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(1000):
        s.irq(None)
    assert gc.mem_alloc() == before, gc.mem_alloc() - before
    r0, r1 = i32(100), i32(100)
    assert s.next_block(r0, r1) == 0 and r0[0] == 1 and r1[99] == -100


def test_late_drdy_reads_are_filled_and_keep_the_sample_index():
    s = EmgSampler(_Counter(), 2, 1000, 10, 4, lambda: 0)
    for _ in range(3):  # three conversions read on time
        s.drdy_irq(None)
        s.read(0)
    s._sched = True  # the scheduler is busy: the next edges queue no read
    micropython.heap_lock()
    try:
        for _ in range(4):
            s.drdy_irq(None)
        s.read(0)  # one read for four conversions: three frames were overwritten
    finally:
        micropython.heap_unlock()
    assert s.missed == 3, s.missed
    for _ in range(3):
        s.drdy_irq(None)
        s.read(0)
    r0, r1 = i32(10), i32(10)
    assert s.next_block(r0, r1) == 0
    # samples 3, 4, 5 hold sample 2's value; sample 6 is the next real read
    assert list(r0) == [1, 2, 3, 3, 3, 3, 4, 5, 6, 7], list(r0)
    assert s.status & 0x80


def test_overrun_counts_dropped_samples_and_keeps_the_time_base():
    d, drdy = _ads()
    s = EmgSampler(d, 2, 1000, 100, 4, simhw.clock.ticks_us)
    _start(d, drdy, s.irq)
    simhw.clock.advance(1004000)  # 10 complete blocks, ring of 4: 7 lost
    r0, r1 = i32(100), i32(100)
    k = s.next_block(r0, r1)
    assert s.dropped == 700 and s.overruns == 1, (s.dropped, s.overruns)
    assert k == 700, k  # block 7 starts at sample 700: time did not shift
    assert s.next_block(r0, r1) == 800 and s.next_block(r0, r1) == 900
    assert s.next_block(r0, r1) == -1
    simhw.clock.advance(100000)
    assert s.next_block(r0, r1) == 1000
    assert s.ms == 1100  # device ms of the sample after that block


def test_jitter_is_the_largest_interval_error():
    d, drdy = _ads()
    s = EmgSampler(d, 2, 1000, 100, 8, simhw.clock.ticks_us)
    simhw.clock.irq_latency_fn = lambda n: 150 if n % 7 == 0 else 0
    _start(d, drdy, s.irq)
    simhw.clock.advance(200000)
    simhw.clock.irq_latency_fn = None
    assert s.take_jitter() == 150
    simhw.clock.advance(100000)
    assert s.take_jitter() == 0


def test_imu_stage_hands_out_exact_blocks_and_pads_after_overflow():
    power_on()
    m = mpu6050.MPU6050(machine.I2C(0)).init(rate_hz=100)
    m.start()
    st = ImuStage(m, 100, 100, per_block=10)
    out = imu_arrays(10)
    simhw.clock.advance(100000)
    st.poll()
    assert st.take(out, 10) == 10 and st.padded == 0 and abs(out[2][9] - 4096) < 40
    simhw.clock.advance(1000000)  # the task stalled 1 s: the 1024-byte FIFO overflowed
    st.poll()
    assert st.overflows == 1
    st.take(out, 10)
    assert st.padded == 10 and abs(out[2][0] - 4096) < 40  # held value, not zeros
    simhw.clock.advance(100000)
    st.poll()
    st.take(out, 10)
    assert st.padded == 10, st.padded


def test_imu_stage_survives_a_bus_error():
    power_on()
    m = mpu6050.MPU6050(machine.I2C(0)).init(rate_hz=100)
    m.start()
    st = ImuStage(m, 100, 100, per_block=10)
    out = imu_arrays(10)
    simhw.clock.advance(100000)
    simhw.inject_i2c_error(0, 0x68, 110)
    st.poll()
    assert st.bus_errors == 1
    simhw.clock.advance(100000)
    st.poll()
    assert st.n == 10, st.n


def test_imu_stage_resamples_104_to_100_hz():
    power_on(imu_part="lsm6dso", imu_source=sources.Shake(1.0, 0.5, 50.0))
    m = lsm6dso.LSM6DSO(machine.I2C(0)).init(rate_hz=104)
    m.start()
    st = ImuStage(m, 100, 104, per_block=10)
    out = imu_arrays(10)
    for _ in range(50):
        simhw.clock.advance(100000)
        st.poll()
        st.take(out, 10)
    # 5 s: 520 sensor samples -> 500 outputs; the elastic stage neither pads nor trims
    assert 515 <= st.received <= 521, st.received
    assert st.padded <= 10 and st.trimmed == 0, (st.padded, st.trimmed)
    # interpolation keeps values: z is 1 g (8 g range: 4098 counts per g)
    assert all(abs(v - 4098) < 5 for v in out[2]), out[2]


def _burst(t_us, ch):
    # 3 s quiet, then 1.5 s of broadband "EMG" at 150 uV, then quiet
    t = t_us * 1e-6
    base = 3.0 * math.sin(t * 2 * math.pi * 90)
    if 6.0 <= t < 7.5:
        return base + 150.0 * (math.sin(t * 2 * math.pi * 83) + math.sin(t * 2 * math.pi * 131))
    return base


def test_app_detects_an_event_with_sample_clock_time_and_logs_it():
    import flash_storage
    from core import flashlog
    from core import records as R

    d, drdy = _ads(sources.Func(_burst))
    m = mpu6050.MPU6050(machine.I2C(0)).init(rate_hz=100)
    log = flashlog.FlashLog(flash_storage.RamFlash(4096, 8))
    app = App(coeffs, d, 2, m, 100, 100, log=log, boot=3, ticks_us=simhw.clock.ticks_us)
    app.sampler.flag = None
    # as on the board: a hard DRDY interrupt that schedules the SPI read
    drdy.irq(app.sampler.drdy_irq, machine.Pin.IRQ_FALLING, hard=True)
    m.start()
    d.start()
    for _ in range(100):
        simhw.clock.advance(100000)
        app.process()
    app.flush()
    assert app.blocks == 99 and app.sampler.dropped == 0 and app.sampler.missed == 0
    assert app.events >= 1, app.status()
    buf = bytearray(R.MAX_FRAME)
    evs = []
    for n in log.read_from(1, buf):
        rt, seq, vals, _ = R.unpack_from(buf, 0, n)
        if rt == R.TYPE_EVENT:
            evs.append(vals)
    assert evs, "no EVENT record in the log"
    onset = evs[0][R.EV_ONSET_MS]
    assert evs[0][R.EV_BOOT] == 3
    # the burst starts at 6.0 s of virtual time = sample 5996 (first DRDY at 4 ms)
    assert 5850 <= onset <= 6150, onset
    assert 1200 <= evs[0][R.EV_DURATION_MS] <= 1800, evs[0][R.EV_DURATION_MS]


def test_app_block_path_allocates_nothing():
    d, drdy = _ads(sources.Func(_burst))
    m = mpu6050.MPU6050(machine.I2C(0)).init(rate_hz=100)
    app = App(coeffs, d, 2, m, 100, 100, log=None, ticks_us=simhw.clock.ticks_us)
    drdy.irq(app.sampler.irq, machine.Pin.IRQ_FALLING)
    m.start()
    d.start()
    simhw.clock.advance(300000)
    app.process()  # first blocks prime the chains
    for _ in range(3):
        simhw.clock.advance(100000)
        micropython.heap_lock()
        try:
            n = app.process()
        finally:
            micropython.heap_unlock()
        assert n == 1


def test_lead_off_reaches_the_summary_as_lost_signal():
    import flash_storage
    from core import flashlog
    from core import records as R

    src = sources.Baseline(2, 3.0)
    d, drdy = _ads(src)
    log = flashlog.FlashLog(flash_storage.RamFlash(4096, 8))
    app = App(coeffs, d, 2, None, log=log, ticks_us=simhw.clock.ticks_us)
    drdy.irq(app.sampler.drdy_irq, machine.Pin.IRQ_FALLING, hard=True)
    d.start()
    for k in range(60):
        if k == 30:
            src.off_mask = 0x01  # IN1P electrode falls off at 3 s
        simhw.clock.advance(100000)
        app.process()
    app.flush()
    assert app.leadoff_blocks >= 29, app.leadoff_blocks
    buf = bytearray(R.MAX_FRAME)
    sums = []
    for n in log.read_from(1, buf):
        rt, seq, vals, _ = R.unpack_from(buf, 0, n)
        if rt == R.TYPE_SUMMARY:
            sums.append(vals)
    assert sums, "no summary"
    lost = sum(v[R.SM_LOST_DS] for v in sums)
    assert lost >= 25, lost  # ~3 s of lost signal, in 0.1 s


def test_timer_sampled_analog_board_runs_the_pipeline():
    import json

    from device.hardware import Hardware

    with open("../../boards/esp32-s3/board.json") as f:
        b = json.load(f)
    simhw.setup(b, sources.Sine(60, 200.0, channels=1), sources.Shake(1.0, 0.3, 30.0))
    hw = Hardware(b)
    import coeffs as cf  # the sim board's coefficients: same rates and decimation

    app = App(cf, hw.emg, 1, hw.imu, hw.imu_fs, hw.imu_odr, log=None,
              ticks_us=simhw.clock.ticks_us)
    hw.start_emg(app.sampler)
    for _ in range(20):
        simhw.clock.advance(100000)
        app.process()
    st = app.status()
    assert st["blocks"] == 20 and st["dropped"] == 0 and st["missed"] == 0, st
    assert 200 <= st["imu_received"] <= 210 and st["imu_padded"] <= 10, st
