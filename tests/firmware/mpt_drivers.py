# Drivers against the register-level simulators of the virtual board.
import micropython

import machine
import simhw
import sources
from drivers import LOFF_IN1P, LOFF_IN2N, STATUS_BAD_FRAME, STATUS_RAILED, SensorError
from drivers import ads1292r, analog_emg, lsm6dso, mpu6050
from mpunit import assert_raises
from simboard import ads_bus, i32, imu_arrays, power_on

UVPC = 2.42 / 6 / 8388608 * 1e6  # uV per count at gain 6, VREF 2.42 V


def _ads(src=None, **kw):
    b = power_on(emg_source=src)
    spi, cs, drdy = ads_bus(b)
    d = ads1292r.ADS1292R(spi, cs, drdy)
    d.init(**kw)
    return d, drdy


def _stream(d, drdy, ms, a0=None, a1=None):
    n = ms + 10
    a0 = a0 or i32(n)
    a1 = a1 or i32(n)
    cnt = [0, 0]

    def irq(_p):
        cnt[1] |= d.sample_into(a0, a1, cnt[0])
        cnt[0] += 1

    drdy.irq(irq, machine.Pin.IRQ_FALLING)
    d.start()
    simhw.clock.advance(ms * 1000)
    return a0, a1, cnt[0], cnt[1]


# -- ADS1292R ---------------------------------------------------------------------------
def test_ads_streams_a_sine_in_counts_of_its_gain():
    d, drdy = _ads(sources.Sine(50, 2000.0), rate_hz=1000, gain=6)
    a0, a1, n, st = _stream(d, drdy, 200)
    assert n == 197, n  # first DRDY 4 periods after START, then every 1 ms
    peak = max(a0[:n])
    want = 2000.0 / UVPC
    assert abs(peak - want) < 0.01 * want, (peak, want)
    assert min(a1[:n]) < -0.98 * want
    assert st == 0, st
    assert abs(d.uv_per_count() - UVPC) < 1e-9


def test_ads_gain_and_rate_reach_the_registers():
    d, drdy = _ads(sources.Sine(10, 1000.0), rate_hz=500, gain=12)
    sim = simhw.parts["emg"]
    assert sim.rate_hz() == 500 and sim.gain(0) == 12 and sim.gain(1) == 12
    a0, a1, n, st = _stream(d, drdy, 1000)
    assert n == 497, n
    want = 1000.0 * 12 / 2.42 * 8388608 / 1e6
    assert abs(max(a0[:n]) - want) < 0.01 * want


def test_ads_clips_at_full_scale_and_flags_railed():
    d, drdy = _ads(sources.Sine(5, 600000.0), rate_hz=1000, gain=6)  # 0.6 V > 0.403 V FS
    a0, a1, n, st = _stream(d, drdy, 100)
    assert max(a0[:n]) == 0x7FFFFF
    assert st & STATUS_RAILED


def test_ads_internal_test_signal_is_vref_over_2400():
    d, drdy = _ads(sources.Baseline(2, 0.0), rate_hz=1000, gain=1, test_signal=True)
    a0, a1, n, st = _stream(d, drdy, 1200)
    want = 2.42 / 2400 / 2.42 * 8388608  # counts at gain 1
    assert abs(max(a0[:n]) - want) < 2 and abs(min(a0[:n]) + want) < 2, (max(a0[:n]), want)


def test_ads_lead_off_sets_status_and_rails_the_channel():
    src = sources.Baseline(2, 2.0)
    d, drdy = _ads(src, rate_hz=1000, gain=6)
    src.off_mask = LOFF_IN1P | LOFF_IN2N
    a0, a1, n, st = _stream(d, drdy, 50)
    assert st & LOFF_IN1P and st & LOFF_IN2N, st
    assert a0[n - 1] == 0x7FFFFF and a1[n - 1] == -0x800000
    assert d.read_lead_off() == LOFF_IN1P | LOFF_IN2N


def test_ads_lead_off_without_comparators_reports_nothing():
    src = sources.Baseline(2, 2.0)
    d, drdy = _ads(src, rate_hz=1000, gain=6, lead_off=False)
    src.off_mask = LOFF_IN1P
    a0, a1, n, st = _stream(d, drdy, 50)
    assert st & 0x1F == 0, st


def test_ads_wrong_id_names_the_part_found():
    b = power_on()
    simhw.parts["emg"].chip_id = 0x53
    simhw.parts["emg"].regs[0] = 0x53
    d = ads1292r.ADS1292R(*ads_bus(b), where="SPI1 CS=GPIO5")
    e = assert_raises(SensorError, d.init)
    assert e.reason == "wrong-id" and "0x53" in str(e) and "ADS1292)" in str(e), str(e)
    assert "SPI1 CS=GPIO5" in str(e)


def test_ads_missing_part_reads_ff():
    b = power_on()
    spi, cs, drdy = ads_bus(b)
    cs = machine.Pin(33, machine.Pin.OUT, value=1)  # a CS line nothing listens to
    e = assert_raises(SensorError, ads1292r.ADS1292R(spi, cs, drdy).init)
    assert e.reason == "no-response" and "0xFF" in str(e), str(e)


def test_ads_wrong_spi_mode_fails_the_readback():
    b = power_on()
    spi, cs, drdy = ads_bus(b)
    spi.init(baudrate=2000000, polarity=0, phase=0)
    e = assert_raises(SensorError, ads1292r.ADS1292R(spi, cs, drdy).init)
    assert e.reason in ("config", "wrong-id", "no-response"), str(e)


def test_ads_rejects_bad_arguments_before_touching_the_bus():
    b = power_on()
    d = ads1292r.ADS1292R(*ads_bus(b))
    assert "gain 5" in str(assert_raises(SensorError, d.init, gain=5))
    assert "rate 1001" in str(assert_raises(SensorError, d.init, rate_hz=1001))
    assert simhw.parts["emg"].bytes == 0


def test_ads_registers_locked_in_rdatac_until_sdatac():
    # the part powers up in RDATAC: a WREG is ignored there (the driver sends SDATAC)
    b = power_on()
    spi, cs, drdy = ads_bus(b)
    sim = simhw.parts["emg"]
    cs(0)
    spi.write(bytearray((0x41, 0x00, 0x05)))
    cs(1)
    assert sim.regs[1] == 0x02 and sim.ignored_cmds >= 1
    cs(0)
    spi.write(bytearray((0x11, 0x41, 0x00, 0x05)))
    cs(1)
    assert sim.regs[1] == 0x05


def test_ads_unread_frames_are_overwritten_and_drdy_pulses():
    d, drdy = _ads(sources.Baseline(2, 1.0), rate_hz=1000)
    edges = [0]

    def irq(_p):
        edges[0] += 1  # does not read: the next conversion overwrites

    drdy.irq(irq, machine.Pin.IRQ_FALLING)
    d.start()
    simhw.clock.advance(20000)
    sim = simhw.parts["emg"]
    assert edges[0] == 17 and sim.overwritten == 16, (edges[0], sim.overwritten)


def test_ads_sample_into_allocates_nothing():
    d, drdy = _ads(sources.Sine(50, 500.0), rate_hz=1000)
    a0, a1 = i32(4), i32(4)
    d.start()
    simhw.clock.advance(5000)
    micropython.heap_lock()
    try:
        st = d.sample_into(a0, a1, 0)
    finally:
        micropython.heap_unlock()
    assert st & STATUS_BAD_FRAME == 0


# -- analog EMG -------------------------------------------------------------------------
def _analog(src):
    b = power_on(emg_source=src, emg_part="myoware2")
    adc = machine.ADC(machine.Pin(b["pins"]["emg_adc"]), atten=machine.ADC.ATTN_11DB)
    return analog_emg.AnalogEMG(adc, bits=12, span_v=3.1, gain=200).init()


def test_analog_emg_counts_follow_gain_and_offset():
    e = _analog(sources.Sine(50, 1000.0, channels=1))
    a = i32(100)
    tim = machine.Timer(0)
    n = [0]

    def tick(_t):
        e.sample_into(a, None, n[0])
        n[0] += 1

    tim.init(mode=machine.Timer.PERIODIC, freq=1000, callback=tick)
    simhw.clock.advance(100000)
    tim.deinit()
    # 1 mV * 200 = 0.2 V at the ADC = 264 counts of 3.1 V / 4096, times the module's
    # first-order 20-480 Hz band-pass at 50 Hz (0.92; the simulator evaluates it at the
    # 1 kHz reads, within 6 %); mid-supply 1.65 V sits 132 counts above the ADC's
    # mid-scale (1.55 V). Measured after the high-pass has settled.
    g = (50 / 20) / (1 + (50 / 20) ** 2) ** 0.5 / (1 + (50 / 480) ** 2) ** 0.5
    want = 0.2 / 3.1 * 4095 * g
    mid = (1.65 / 3.1 * 4095) - 2048
    hi, lo = max(a[n[0] - 40:n[0]]), min(a[n[0] - 40:n[0]])
    assert abs((hi - lo) / 2 - want) < 0.06 * want, (hi, lo, want)
    assert abs((hi + lo) / 2 - mid) < 3, (hi, lo, mid)
    assert abs(e.uv_per_count() - 3.1 / 200 / 4096 * 1e6) < 1e-9


def test_analog_emg_electrode_offset_is_ac_coupled():
    # a 20 mV electrode offset (x200 = 4 V) would rail a DC-coupled input; the module's
    # high-pass keeps it out, so a 200 uV signal stays centred on mid-supply
    e = _analog(sources.Sine(100, 200.0, offset_uv=20000.0, channels=1))
    a = i32(60)
    sts = 0
    for i in range(60):
        simhw.clock.advance(1000)
        sts |= e.sample_into(a, None, i)
    mid = (1.65 / 3.1 * 4095) - 2048
    assert sts == 0, sts
    assert abs((max(a[20:]) + min(a[20:])) / 2 - mid) < 4, (max(a[20:]), min(a[20:]), mid)


def test_analog_emg_leads_off_rails():
    src = sources.Baseline(1, 5.0)
    e = _analog(src)
    src.off_mask = 0x01
    a = i32(30)
    sts = 0
    for i in range(30):
        simhw.clock.advance(1000)
        sts |= e.sample_into(a, None, i)
    assert sts & STATUS_RAILED


def test_analog_emg_unpowered_module_is_an_error():
    b = power_on(emg_part="myoware2")
    adc = machine.ADC(machine.Pin(2))  # a pin with nothing on it reads 0 V
    e = assert_raises(SensorError, analog_emg.AnalogEMG(adc, where="GPIO2").init)
    assert e.reason == "no-response" and "GPIO2" in str(e)


# -- MPU-6050 ---------------------------------------------------------------------------
def _mpu(src=None, **kw):
    power_on(imu_source=src)
    m = mpu6050.MPU6050(machine.I2C(0), where="I2C0 0x68")
    m.init(**kw)
    m.start()
    return m


def test_mpu_streams_fifo_at_the_configured_rate_and_ranges():
    m = _mpu(sources.Shake(2.0, 0.5, 100.0), rate_hz=100, accel_range_g=8, gyro_range_dps=1000)
    a = imu_arrays(40)
    simhw.clock.advance(300000)
    n = m.read_fifo(*a, 0, 40)
    assert n == 30, n
    assert max(a[2][:n]) - 4096 < 20 and min(a[2][:n]) - 4096 > -20  # 1 g at 8 g range
    assert abs(max(a[0][:n]) - 0.5 * 4096) < 0.05 * 2048
    assert abs(max(a[3][:n]) - 100 * 32.8) < 0.05 * 3280
    sim = simhw.parts["imu"]
    assert sim.period_us() == 10000


def test_mpu_read_fifo_respects_capacity_and_keeps_the_rest():
    m = _mpu(rate_hz=100)
    a = imu_arrays(40)
    simhw.clock.advance(250000)
    assert m.read_fifo(*a, 0, 10) == 10
    assert m.read_fifo(*a, 10, 40) == 15


def test_mpu_fifo_overflow_resets_and_counts():
    m = _mpu(rate_hz=100)
    a = imu_arrays(40)
    simhw.clock.advance(900000)  # 90 samples * 12 bytes > 1024
    assert m.read_fifo(*a, 0, 40) == -1
    assert m.overflows == 1 and simhw.parts["imu"].fifo_overflows == 1
    simhw.clock.advance(100000)
    n = m.read_fifo(*a, 0, 40)
    assert n == 10, n
    assert abs(a[2][0] - 4096) < 40  # frame alignment restored


def test_mpu_wrong_who_am_i():
    power_on()
    simhw.parts["imu"].regs[0x75] = 0x70
    e = assert_raises(SensorError, mpu6050.MPU6050(machine.I2C(0)).init)
    assert e.reason == "wrong-id" and "0x70 (MPU-6500)" in str(e), str(e)


def test_mpu_absent_address_is_a_bus_error_naming_it():
    power_on()
    e = assert_raises(SensorError, mpu6050.MPU6050(machine.I2C(0), addr=0x69).init)
    assert e.reason == "bus-error" and "ENODEV" in str(e) and "0x69" in str(e), str(e)


def test_mpu_bus_error_while_streaming_raises_oserror_then_recovers():
    m = _mpu(rate_hz=100)
    a = imu_arrays(40)
    simhw.clock.advance(100000)
    simhw.inject_i2c_error(0, 0x68, 110)
    e = assert_raises(OSError, m.read_fifo, *a, 0, 40)
    assert e.args[0] == 110
    m.reset_fifo()
    simhw.clock.advance(100000)
    assert m.read_fifo(*a, 0, 40) == 10


def test_mpu_sleeping_after_reset_produces_nothing():
    power_on()
    sim = simhw.parts["imu"]
    simhw.clock.advance(500000)
    assert sim.samples == 0 and sim.regs[0x6B] == 0x40


def test_mpu_read_fifo_allocates_nothing():
    m = _mpu(rate_hz=100)
    a = imu_arrays(40)
    simhw.clock.advance(200000)
    simhw.part_enter()  # the simulator itself may allocate; the driver may not
    simhw.part_leave()
    micropython.heap_lock()
    try:
        n = m._i2c  # noqa: the lock covers the driver's own code below
        n = _locked_read(m, a)
    finally:
        micropython.heap_unlock()
    assert n == 20, n


def _locked_read(m, a):
    return m.read_fifo(a[0], a[1], a[2], a[3], a[4], a[5], 0, 40)


# -- LSM6DSO ----------------------------------------------------------------------------
def _lsm(src=None, **kw):
    power_on(imu_source=src, imu_part="lsm6dso")
    m = lsm6dso.LSM6DSO(machine.I2C(0))
    m.init(**kw)
    m.start()
    return m


def test_lsm_pairs_tagged_words_into_samples():
    m = _lsm(sources.Shake(2.0, 0.5, 100.0), rate_hz=104, accel_range_g=8, gyro_range_dps=1000)
    a = imu_arrays(40)
    simhw.clock.advance(250000)
    n = m.read_fifo(*a, 0, 40)
    assert n == 26, n
    assert abs(a[2][0] - 1000 / 0.244) < 30, a[2][0]
    assert abs(max(a[3][:n]) - 100000 / 35.0) < 0.06 * 2857, max(a[3][:n])
    assert m.unpaired == 0


def test_lsm_overrun_flushes_and_counts():
    m = _lsm(rate_hz=104)
    a = imu_arrays(40)
    simhw.clock.advance(3000000)  # 312 slots * 2 words > 512
    assert m.read_fifo(*a, 0, 40) == -1
    assert m.overflows == 1 and simhw.parts["imu"].overruns == 1
    simhw.clock.advance(100000)
    assert m.read_fifo(*a, 0, 40) == 10


def test_lsm_wrong_who_am_i_hints_at_the_other_imu():
    power_on(imu_part="lsm6dso")
    simhw.parts["imu"].regs[0x0F] = 0x68
    e = assert_raises(SensorError, lsm6dso.LSM6DSO(machine.I2C(0)).init)
    assert e.reason == "wrong-id" and "MPU-6050" in str(e), str(e)


def test_lsm_rejects_an_odr_it_does_not_have():
    power_on(imu_part="lsm6dso")
    e = assert_raises(SensorError, lsm6dso.LSM6DSO(machine.I2C(0)).init, rate_hz=100)
    assert "ODR 100" in str(e)
