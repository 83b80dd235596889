"""ST LSM6DSO 6-axis IMU over I2C, read through its tagged FIFO.

``init`` checks WHO_AM_I (0x6C), soft-resets, sets ODR and full scale of accelerometer
(2/4/8/16 g) and gyroscope (125/250/500/1000/2000 dps), batches both into the FIFO at
the ODR in continuous mode. ``read_fifo`` reads FIFO_STATUS1/2, then whole 7-byte words
(tag + X/Y/Z little-endian) in one burst (the address rolls back from 0x7E to 0x78) into
a preallocated buffer, and pairs gyro and accel words of the same time slot (TAG_CNT)
into samples of raw counts. On an overrun (FIFO_OVR_IA / FIFO_OVR_LATCHED) the FIFO is
flushed (bypass, then continuous), counted, and -1 returned so the caller re-aligns.
"""
import time

from micropython import const

from drivers import SensorError

_REG_FIFO_CTRL1 = const(0x07)
_REG_FIFO_CTRL3 = const(0x09)
_REG_FIFO_CTRL4 = const(0x0A)
_REG_WHO_AM_I = const(0x0F)
_REG_CTRL1_XL = const(0x10)
_REG_CTRL2_G = const(0x11)
_REG_CTRL3_C = const(0x12)
_REG_FIFO_STATUS1 = const(0x3A)
_REG_FIFO_DATA_OUT_TAG = const(0x78)
_WHO_AM_I = const(0x6C)
_SW_RESET = const(0x01)
_CTRL3_BDU_IF_INC = const(0x44)
_FIFO_MODE_BYPASS = const(0x00)
_FIFO_MODE_CONTINUOUS = const(0x06)
_STATUS2_OVR = const(0x48)  # FIFO_OVR_IA | FIFO_OVR_LATCHED
_TAG_GYRO = const(0x01)
_TAG_ACCEL = const(0x02)
_WORD = const(7)

ODR_HZ = (12.5, 26, 52, 104, 208, 416, 833, 1666)  # code = index + 1
_ACCEL_FS = {2: 0, 16: 1, 4: 2, 8: 3}
_GYRO_FS = {125: 0x02, 250: 0x00, 500: 0x04, 1000: 0x08, 2000: 0x0C}


class LSM6DSO:
    PART = "LSM6DSO"

    def __init__(self, i2c, addr=0x6A, max_samples=40, where=None):
        self._i2c = i2c
        self.addr = addr
        self.where = where or "I2C 0x%02X" % addr
        self.max_samples = max_samples
        words = 2 * max_samples
        self._buf = bytearray(_WORD * words)
        mv = memoryview(self._buf)
        self._views = [mv[:_WORD * k] for k in range(words + 1)]
        self._st = bytearray(2)
        self._w = bytearray(1)
        self._pend = [0, 0, 0, 0, -1]  # x, y, z, tag, tag_cnt of an unpaired word
        self.overflows = 0
        self.unpaired = 0
        self.rate_hz = 0

    def _write(self, reg, value):
        self._w[0] = value
        self._i2c.writeto_mem(self.addr, reg, self._w)

    def _read1(self, reg):
        self._i2c.readfrom_mem_into(self.addr, reg, self._w)
        return self._w[0]

    def _bus(self, fn, *args):
        try:
            return fn(*args)
        except OSError as e:
            code = e.args[0] if e.args else 0
            what = {19: "no ACK (ENODEV): nothing at this address - check wiring, power "
                        "and SA0 (0x6A low, 0x6B high)",
                    110: "bus timeout (ETIMEDOUT): SDA/SCL held low or missing pull-ups"}
            raise SensorError(self.PART, self.where, "bus-error",
                              what.get(code, "I2C error %r" % (code,)))

    def check_id(self):
        who = self._bus(self._read1, _REG_WHO_AM_I)
        if who != _WHO_AM_I:
            hint = {0x6A: " (LSM6DSL)", 0x6B: " (LSM6DSR)", 0x69: " (LSM6DS3)",
                    0x68: " (MPU-6050 at this address? wrong driver for this board)"}
            raise SensorError(self.PART, self.where, "wrong-id",
                              "WHO_AM_I reads 0x%02X%s, expected 0x%02X"
                              % (who, hint.get(who, ""), _WHO_AM_I))
        return who

    def init(self, rate_hz=104, accel_range_g=8, gyro_range_dps=1000):
        """Configure accel and gyro at ODR ``rate_hz`` (one of ODR_HZ) into the FIFO."""
        if rate_hz not in ODR_HZ:
            raise SensorError(self.PART, self.where, "bad-argument",
                              "ODR %r Hz not one of %s" % (rate_hz, ODR_HZ))
        if accel_range_g not in _ACCEL_FS:
            raise SensorError(self.PART, self.where, "bad-argument",
                              "accel range %r g not one of 2, 4, 8, 16" % (accel_range_g,))
        if gyro_range_dps not in _GYRO_FS:
            raise SensorError(self.PART, self.where, "bad-argument",
                              "gyro range %r dps not one of 125, 250, 500, 1000, 2000"
                              % (gyro_range_dps,))
        self.check_id()
        self._bus(self._write, _REG_CTRL3_C, _SW_RESET)
        time.sleep_ms(1)
        odr = ODR_HZ.index(rate_hz) + 1
        xl = (odr << 4) | (_ACCEL_FS[accel_range_g] << 2)
        g = (odr << 4) | _GYRO_FS[gyro_range_dps]
        self._bus(self._write, _REG_CTRL3_C, _CTRL3_BDU_IF_INC)
        self._bus(self._write, _REG_CTRL1_XL, xl)
        self._bus(self._write, _REG_CTRL2_G, g)
        self._bus(self._write, _REG_FIFO_CTRL3, (odr << 4) | odr)
        self._bus(self._write, _REG_FIFO_CTRL4, _FIFO_MODE_CONTINUOUS)
        for reg, want in ((_REG_CTRL1_XL, xl), (_REG_CTRL2_G, g),
                          (_REG_FIFO_CTRL3, (odr << 4) | odr)):
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

    def reset_fifo(self):
        self._write(_REG_FIFO_CTRL4, _FIFO_MODE_BYPASS)
        self._write(_REG_FIFO_CTRL4, _FIFO_MODE_CONTINUOUS)
        self._pend[4] = -1

    def read_fifo(self, ax, ay, az, gx, gy, gz, off, cap):
        """Move up to ``cap`` paired samples into the arrays at ``off``; -1 after an
        overrun (FIFO flushed). Raises OSError on a bus error (caller: reset_fifo)."""
        i2c = self._i2c
        i2c.readfrom_mem_into(self.addr, _REG_FIFO_STATUS1, self._st)
        s2 = self._st[1]
        if s2 & _STATUS2_OVR:
            self.overflows += 1
            self.reset_fifo()
            return -1
        words = self._st[0] | ((s2 & 0x03) << 8)
        lim = 2 * (cap if cap < self.max_samples else self.max_samples)
        if words > lim:
            words = lim
        if words <= 0:
            return 0
        i2c.readfrom_mem_into(self.addr, _REG_FIFO_DATA_OUT_TAG, self._views[words])
        b = self._buf
        p = self._pend
        n = 0
        j = 0
        for _ in range(words):
            tag = b[j] >> 3
            cnt = (b[j] >> 1) & 3
            x = _s16(b[j + 1], b[j + 2])
            y = _s16(b[j + 3], b[j + 4])
            z = _s16(b[j + 5], b[j + 6])
            j += _WORD
            if tag != _TAG_GYRO and tag != _TAG_ACCEL:
                continue  # temperature, timestamp, config-change words: not batched here
            if p[4] == cnt and p[3] != tag:
                k = off + n
                if tag == _TAG_ACCEL:
                    ax[k] = x
                    ay[k] = y
                    az[k] = z
                    gx[k] = p[0]
                    gy[k] = p[1]
                    gz[k] = p[2]
                else:
                    gx[k] = x
                    gy[k] = y
                    gz[k] = z
                    ax[k] = p[0]
                    ay[k] = p[1]
                    az[k] = p[2]
                n += 1
                p[4] = -1
            else:
                if p[4] >= 0:
                    self.unpaired += 1
                p[0] = x
                p[1] = y
                p[2] = z
                p[3] = tag
                p[4] = cnt
        return n


def _s16(lo, hi):
    v = (hi << 8) | lo
    return v - 0x10000 if v & 0x8000 else v
