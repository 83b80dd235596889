# The device runtime on the virtual board: every board definition against the simulators,
# boot records, faults in tasks, the watchdog.
import json

import asyncio

import flash_storage
import machine
from core import records as R
import simhw
import sources
from device.runtime import Device
from device.hardware import Hardware
from mpunit import assert_raises


def _board(name):
    with open("../../boards/%s/board.json" % name) as f:
        return json.load(f)


def _records(log):
    buf = bytearray(R.MAX_FRAME)
    out = []
    for n in log.read_from(1, buf):
        rt, seq, vals, _ = R.unpack_from(buf, 0, n)
        out.append((rt, vals))
    return out


class _Recorder:
    def __init__(self, emg, a0, a1, got):
        self.emg, self.a0, self.a1, self.got = emg, a0, a1, got

    def irq(self, _):
        self.emg.sample_into(self.a0, self.a1, self.got[0] % 100)
        self.got[0] += 1

    def drdy_irq(self, _):
        self.irq(None)


def _hw_streams(name):
    b = _board(name)
    simhw.setup(b, sources.Sine(40, 300.0, channels=b["emg"]["channels"]))
    hw = Hardware(b)
    got = [0]
    from array import array

    a0 = array("i", bytes(400))
    a1 = array("i", bytes(400))

    simhw.STRICT_IRQ = False  # this recorder is test code; the sampler's own ISR is tested elsewhere
    try:
        hw.start_emg(_Recorder(hw.emg, a0, a1, got))
        simhw.clock.advance(100000)
    finally:
        simhw.STRICT_IRQ = True
    hw.stop_emg()
    return hw, got[0], a0


def test_devkitc_board_definition_drives_ads1292r_and_mpu6050():
    hw, n, a0 = _hw_streams("esp32-devkitc")
    assert 95 <= n <= 97, n
    assert hw.imu.rate_hz == 100 and hw.emg.gain == 6
    assert max(a0) > 0.9 * 300 / hw.emg.uv_per_count()


def test_s3_board_definition_drives_analog_emg_and_lsm6dso():
    hw, n, a0 = _hw_streams("esp32-s3")
    assert n == 100, n  # timer-driven at 1 kHz
    assert hw.imu.rate_hz == 104 and hw.imu_fs == 100
    assert abs(hw.emg.uv_per_count() - 3.1 / 200 / 4096 * 1e6) < 1e-6


def test_xiao_board_definition_drives_ads1292r_and_lsm6dso():
    hw, n, a0 = _hw_streams("xiao-esp32s3")
    assert 95 <= n <= 97 and hw.imu.PART == "LSM6DSO"


def test_board_without_a_needed_pin_fails_before_configuring():
    b = _board("esp32-devkitc")
    simhw.setup(b)
    del b["pins"]["emg_drdy"]
    e = assert_raises(Exception, Hardware, b)
    assert "emg_drdy" in str(e), str(e)


def _device(storage, wdt_ms=8000):
    b = _board("esp32-devkitc")
    b["name"] = "esp32-devkitc"
    simhw.setup(b, sources.Baseline(2, 3.0))
    dev = Device(b, storage, wdt_ms=wdt_ms, console=False)
    dev.start_hardware()
    return dev


def test_boot_records_count_boots_and_carry_the_reset_cause():
    st = flash_storage.RamFlash(4096, 8)
    d1 = _device(st)
    simhw.reset_cause[0] = machine.SOFT_RESET
    d2 = _device(st)
    simhw.reset_cause[0] = machine.PWRON_RESET
    boots = [v for rt, v in _records(d2.log) if rt == R.TYPE_BOOT]
    assert [b[R.BT_BOOT] for b in boots] == [1, 2]
    assert boots[1][R.BT_RESET_CAUSE] == machine.SOFT_RESET


def test_exception_in_a_task_is_logged_as_fault_then_reboots():
    st = flash_storage.RamFlash(4096, 8)
    dev = _device(st)

    def broken():
        raise ValueError("boom")

    dev.app.process = broken
    assert_raises(SystemExit, asyncio.run, dev.run())
    assert simhw.reset_requests == [machine.SOFT_RESET], simhw.reset_requests
    faults = [v for rt, v in _records(dev.log) if rt == R.TYPE_FAULT]
    assert len(faults) == 1, faults
    f = faults[0]
    assert f[R.FT_CAUSE] == R.FAULT_EXCEPTION and f[R.FT_CODE] == R.name_code("ValueError")
    assert f[R.FT_LINE] > 0 and f[R.FT_BOOT] == 1
    kinds = [rt for rt, v in _records(dev.log)]
    assert kinds.count(R.TYPE_SUMMARY) <= 1, kinds  # flushed once on the way down


def test_stalled_pipeline_ends_in_a_watchdog_reset_logged_at_next_boot():
    st = flash_storage.RamFlash(4096, 8)
    dev = _device(st, wdt_ms=300)

    async def stalled(start):
        while True:
            await asyncio.sleep_ms(50)  # alive, but no block ever completes

    dev.app.run = stalled
    assert_raises(SystemExit, asyncio.run, dev.run())
    assert simhw.reset_requests == [machine.WDT_RESET], simhw.reset_requests
    simhw.reset_cause[0] = machine.WDT_RESET
    dev2 = _device(st)
    simhw.reset_cause[0] = machine.PWRON_RESET
    recs = _records(dev2.log)
    kinds = [rt for rt, v in recs]
    assert kinds == [R.TYPE_BOOT, R.TYPE_FAULT, R.TYPE_BOOT], kinds
    f = recs[1][1]
    assert f[R.FT_CAUSE] == R.FAULT_WATCHDOG and f[R.FT_BOOT] == 1
    assert recs[2][1][R.BT_RESET_CAUSE] == machine.WDT_RESET


def test_sensor_fault_at_start_is_a_precise_fault_record():
    st = flash_storage.RamFlash(4096, 8)
    b = _board("esp32-devkitc")
    simhw.setup(b)
    simhw.parts["imu"].regs[0x75] = 0x70
    dev = Device(b, st, console=False)
    e = assert_raises(Exception, dev.start_hardware)
    assert "MPU-6050 at I2C0 0x68: WHO_AM_I reads 0x70 (MPU-6500)" in str(e), str(e)
    dev.fault(e, "hardware")
    f = [v for rt, v in _records(dev.log) if rt == R.TYPE_FAULT][0]
    assert f[R.FT_CODE] == R.name_code("SensorError")


def test_device_time_near_2_30_restarts_into_a_new_boot_without_a_fault():
    from device.app import EPOCH_MS

    st = flash_storage.RamFlash(4096, 8)
    dev = _device(st)
    dev.app.sampler.ms = EPOCH_MS - 300  # 12.4 days of device ms less an hour, less 0.3 s
    # bounded: without the restart the device would simply run on (TimeoutError)
    assert_raises(SystemExit, asyncio.run, asyncio.wait_for_ms(dev.run(), 15000))
    assert simhw.reset_requests == [machine.SOFT_RESET], simhw.reset_requests
    assert EPOCH_MS <= dev.app.t_ms < EPOCH_MS + 5000, dev.app.t_ms
    kinds = [rt for rt, v in _records(dev.log)]
    assert R.TYPE_FAULT not in kinds, kinds
