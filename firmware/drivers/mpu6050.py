"""InvenSense MPU-6050 6-axis IMU over I2C, read through its 1024-byte FIFO.

``init`` checks WHO_AM_I (0x68), resets, wakes the part on the gyro PLL clock and sets
the sample rate (1 kHz / (1 + SMPLRT_DIV) with the DLPF on), DLPF bandwidth, ranges
(accel 2/4/8/16 g, gyro 250/500/1000/2000 dps) and a FIFO of accel + gyro (12 bytes a
sample, big-endian). ``read_fifo`` drains whole samples into the caller's array('i')
buffers as raw counts with one I2C read into a preallocated buffer (no allocation).
An overflowed FIFO has lost frame alignment: it is reset, counted, and reported as -1 so
the caller re-aligns its time base from its own sample clock.
"""
import time

from micropython import const

from drivers import SensorError

_REG_SMPLRT_DIV = const(0x19)
_REG_CONFIG = const(0x1A)
_REG_GYRO_CONFIG = const(0x1B)
_REG_ACCEL_CONFIG = const(0x1C)
_REG_FIFO_EN = const(0x23)
_REG_INT_ENABLE = const(0x38)
_REG_INT_STATUS = const(0x3A)
_REG_USER_CTRL = const(0x6A)
_REG_PWR_MGMT_1 = const(0x6B)
_REG_FIFO_COUNTH = const(0x72)
_REG_FIFO_R_W = const(0x74)
_REG_WHO_AM_I = const(0x75)
_WHO_AM_I = const(0x68)
_DEVICE_RESET = const(0x80)
_CLKSEL_PLL_XGYRO = const(0x01)
_FIFO_EN_ACCEL_GYRO = const(0x78)  # XG, YG, ZG, ACCEL
_USER_FIFO_EN = const(0x40)
_USER_FIFO_RESET = const(0x04)
_INT_FIFO_OFLOW = const(0x10)
_FRAME = const(12)
_FIFO_SIZE = const(1024)

ACCEL_RANGES_G = (2, 4, 8, 16)
GYRO_RANGES_DPS = (250, 500, 1000, 2000)
_DLPF_HZ = (260, 184, 94, 44, 21, 10, 5)  # accel bandwidth of DLPF_CFG 0..6


class MPU6050:
    PART = "MPU-6050"

    def __init__(self, i2c, addr=0x68, max_samples=40, where=None):
        self._i2c = i2c
        self.addr = addr
        self.where = where or "I2C 0x%02X" % addr
        self.max_samples = max_samples
        self._buf = bytearray(_FRAME * max_samples)
        mv = memoryview(self._buf)
        self._views = [mv[:_FRAME * k] for k in range(max_samples + 1)]
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)
        self._w = bytearray(1)
        self.overflows = 0
        self.discarded = 0  # samples thrown away by FIFO resets
        self.rate_hz = 0

    # -- configuration
    def _write(self, reg, value):
        self._w[0] = value
        self._i2c.writeto_mem(self.addr, reg, self._w)

    def _read1(self, reg):
        self._i2c.readfrom_mem_into(self.addr, reg, self._b1)
        return self._b1[0]

    def _bus(self, fn, *args):
        try:
            return fn(*args)
        except OSError as e:
            code = e.args[0] if e.args else 0
            what = {19: "no ACK (ENODEV): nothing at this address - check wiring, power "
                        "and AD0 (0x68 low, 0x69 high)",
                    110: "bus timeout (ETIMEDOUT): SDA/SCL held low or missing pull-ups"}
            raise SensorError(self.PART, self.where, "bus-error",
                              what.get(code, "I2C error %r" % (code,)))

    def check_id(self):
        who = self._bus(self._read1, _REG_WHO_AM_I)
        if who != _WHO_AM_I:
            hint = {0x70: " (MPU-6500)", 0x71: " (MPU-9250)", 0x19: " (MPU-6886)",
                    0x6C: " (LSM6DSO: wrong driver for this board?)", 0x98: " (clone)"}
            raise SensorError(self.PART, self.where, "wrong-id",
                              "WHO_AM_I reads 0x%02X%s, expected 0x%02X"
                              % (who, hint.get(who, ""), _WHO_AM_I))
        return who

    def init(self, rate_hz=100, accel_range_g=8, gyro_range_dps=1000, dlpf_hz=44):
        """Configure; ``rate_hz`` must divide 1000 (1 kHz gyro rate with the DLPF on)."""
        if accel_range_g not in ACCEL_RANGES_G:
            raise SensorError(self.PART, self.where, "bad-argument",
                              "accel range %r g not one of %s" % (accel_range_g, ACCEL_RANGES_G))
        if gyro_range_dps not in GYRO_RANGES_DPS:
            raise SensorError(self.PART, self.where, "bad-argument",
                              "gyro range %r dps not one of %s" % (gyro_range_dps, GYRO_RANGES_DPS))
        if not 4 <= rate_hz <= 1000 or 1000 % rate_hz:
            raise SensorError(self.PART, self.where, "bad-argument",
                              "rate %r Hz must divide 1000 (1 kHz / (1 + SMPLRT_DIV))" % rate_hz)
        if dlpf_hz not in _DLPF_HZ[1:]:
            raise SensorError(self.PART, self.where, "bad-argument",
                              "DLPF %r Hz not one of %s" % (dlpf_hz, _DLPF_HZ[1:]))
        self.check_id()
        self._bus(self._write, _REG_PWR_MGMT_1, _DEVICE_RESET)
        time.sleep_ms(100)  # register access after reset: 100 ms (datasheet start-up)
        self._bus(self._write, _REG_PWR_MGMT_1, _CLKSEL_PLL_XGYRO)  # wake, PLL clock
        self._bus(self._write, _REG_CONFIG, _DLPF_HZ.index(dlpf_hz))
        self._bus(self._write, _REG_SMPLRT_DIV, 1000 // rate_hz - 1)
        self._bus(self._write, _REG_GYRO_CONFIG, GYRO_RANGES_DPS.index(gyro_range_dps) << 3)
        self._bus(self._write, _REG_ACCEL_CONFIG, ACCEL_RANGES_G.index(accel_range_g) << 3)
        self._bus(self._write, _REG_FIFO_EN, _FIFO_EN_ACCEL_GYRO)
        self._bus(self._write, _REG_INT_ENABLE, _INT_FIFO_OFLOW)
        self._bus(self._write, _REG_USER_CTRL, _USER_FIFO_EN | _USER_FIFO_RESET)
        for reg, want in ((_REG_SMPLRT_DIV, 1000 // rate_hz - 1),
                          (_REG_GYRO_CONFIG, GYRO_RANGES_DPS.index(gyro_range_dps) << 3),
                          (_REG_ACCEL_CONFIG, ACCEL_RANGES_G.index(accel_range_g) << 3),
                          (_REG_FIFO_EN, _FIFO_EN_ACCEL_GYRO)):
            got = self._bus(self._read1, reg)
            if got != want:
                raise SensorError(self.PART, self.where, "config",
                                  "register 0x%02X reads 0x%02X after writing 0x%02X"
                                  % (reg, got, want))
        self.rate_hz = rate_hz
        self.accel_range_g = accel_range_g
        self.gyro_range_dps = gyro_range_dps
        return self

    def start(self):
        self.reset_fifo()

    # -- streaming (no allocation)
    def reset_fifo(self):
        """Empty the FIFO (after an overflow or a failed transfer: frame alignment lost)."""
        self._i2c.readfrom_mem_into(self.addr, _REG_FIFO_COUNTH, self._b2)
        self.discarded += ((self._b2[0] << 8) | self._b2[1]) // _FRAME
        self._write(_REG_USER_CTRL, _USER_FIFO_EN | _USER_FIFO_RESET)

    def read_fifo(self, ax, ay, az, gx, gy, gz, off, cap):
        """Move up to ``cap`` whole samples from the FIFO to the arrays at index ``off``.
        Returns the count, or -1 after an overflow (FIFO reset, samples lost).
        Raises OSError on a bus error (the caller counts it and calls reset_fifo)."""
        i2c = self._i2c
        i2c.readfrom_mem_into(self.addr, _REG_INT_STATUS, self._b1)
        if self._b1[0] & _INT_FIFO_OFLOW:
            self.overflows += 1
            self.discarded += _FIFO_SIZE // _FRAME
            self._write(_REG_USER_CTRL, _USER_FIFO_EN | _USER_FIFO_RESET)
            return -1
        i2c.readfrom_mem_into(self.addr, _REG_FIFO_COUNTH, self._b2)
        n = ((self._b2[0] << 8) | self._b2[1]) // _FRAME
        if n > cap:
            n = cap
        if n > self.max_samples:
            n = self.max_samples
        if n <= 0:
            return 0
        i2c.readfrom_mem_into(self.addr, _REG_FIFO_R_W, self._views[n])
        b = self._buf
        j = 0
        for k in range(off, off + n):
            ax[k] = _s16(b[j], b[j + 1])
            ay[k] = _s16(b[j + 2], b[j + 3])
            az[k] = _s16(b[j + 4], b[j + 5])
            gx[k] = _s16(b[j + 6], b[j + 7])
            gy[k] = _s16(b[j + 8], b[j + 9])
            gz[k] = _s16(b[j + 10], b[j + 11])
            j += _FRAME
        return n


def _s16(hi, lo):
    v = (hi << 8) | lo
    return v - 0x10000 if v & 0x8000 else v
