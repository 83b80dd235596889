"""Register-level simulator of the InvenSense MPU-6050 (6-axis IMU), I2C.

From the register map (RM-MPU-6000A-00 rev 4.2): WHO_AM_I 0x75 = 0x68; PWR_MGMT_1 0x6B
resets to 0x40 (SLEEP: no sampling), DEVICE_RESET (bit 7) restores every register;
sample rate = gyro output rate / (1 + SMPLRT_DIV), gyro output rate 8 kHz when
DLPF_CFG (CONFIG[2:0]) is 0 or 7, else 1 kHz; GYRO_CONFIG FS_SEL[4:3] = 250/500/1000/2000
dps (131/65.5/32.8/16.4 LSB per dps); ACCEL_CONFIG AFS_SEL[4:3] = 2/4/8/16 g (16384 >>
AFS_SEL LSB per g). FIFO_EN 0x23 selects what is written per sample (TEMP bit 7, XG 6,
YG 5, ZG 4, ACCEL 3) in the order accel, temp, gyro x/y/z, big-endian 16-bit words;
USER_CTRL 0x6A FIFO_EN (bit 6) and FIFO_RESET (bit 2, self-clearing); FIFO_COUNT_H/L
0x72/0x73; FIFO_R_W 0x74 (reads pop bytes, the address does not auto-increment there;
an empty FIFO returns the last byte again). The FIFO holds 1024 bytes: when full the
oldest bytes are overwritten (breaking frame alignment) and INT_STATUS FIFO_OFLOW_INT
(bit 4) is set; INT_STATUS 0x3A clears when read. Bursts auto-increment the address.
"""
import simhw

WHO_AM_I_VALUE = 0x68
FIFO_SIZE = 1024
_REG_SMPLRT_DIV = 0x19
_REG_CONFIG = 0x1A
_REG_GYRO_CONFIG = 0x1B
_REG_ACCEL_CONFIG = 0x1C
_REG_FIFO_EN = 0x23
_REG_INT_STATUS = 0x3A
_REG_ACCEL_XOUT_H = 0x3B
_REG_USER_CTRL = 0x6A
_REG_PWR_MGMT_1 = 0x6B
_REG_FIFO_COUNTH = 0x72
_REG_FIFO_COUNTL = 0x73
_REG_FIFO_R_W = 0x74
_REG_WHO_AM_I = 0x75
_GYRO_LSB = (131.0, 65.5, 32.8, 16.4)


class MPU6050Sim:
    DEFAULT_ADDR = 0x68

    def __init__(self, source, who_am_i=WHO_AM_I_VALUE):
        self.src = source
        self.who = who_am_i
        self.regs = bytearray(128)
        self.fifo = bytearray(FIFO_SIZE)
        self._power_on()
        self.samples = 0
        self.fifo_overflows = 0
        self.bytes_lost = 0

    def _power_on(self):
        self.regs[:] = bytearray(128)
        self.regs[_REG_PWR_MGMT_1] = 0x40
        self.regs[_REG_WHO_AM_I] = self.who
        self.head = 0  # read position
        self.count = 0
        self.last_byte = 0
        self.next_us = None  # time of the next sample while awake

    # -- timing
    def period_us(self):
        dlpf = self.regs[_REG_CONFIG] & 0x07
        base = 8000 if dlpf in (0, 7) else 1000
        return 1000000 * (1 + self.regs[_REG_SMPLRT_DIV]) // base

    def awake(self):
        return not self.regs[_REG_PWR_MGMT_1] & 0x40

    def _catch_up(self):
        now = simhw.clock.now_us
        if not self.awake():
            self.next_us = None
            return
        if self.next_us is None:
            self.next_us = now + self.period_us()
            return
        while self.next_us <= now:
            self._sample(self.next_us)
            self.next_us += self.period_us()

    def _sample(self, t):
        ax, ay, az, gx, gy, gz = self.src.imu(t)
        asens = 16384 >> ((self.regs[_REG_ACCEL_CONFIG] >> 3) & 3)
        gsens = _GYRO_LSB[(self.regs[_REG_GYRO_CONFIG] >> 3) & 3]
        vals = (_c16(ax * asens), _c16(ay * asens), _c16(az * asens), _c16(0.0 * 340),
                _c16(gx * gsens), _c16(gy * gsens), _c16(gz * gsens))
        r = self.regs
        for i in range(7):
            v = vals[i] & 0xFFFF
            r[_REG_ACCEL_XOUT_H + 2 * i] = v >> 8
            r[_REG_ACCEL_XOUT_H + 2 * i + 1] = v & 0xFF
        r[_REG_INT_STATUS] |= 0x01  # DATA_RDY_INT
        self.samples += 1
        if not r[_REG_USER_CTRL] & 0x40:
            return
        en = r[_REG_FIFO_EN]
        if en & 0x08:
            self._push_words(vals, 0, 3)
        if en & 0x80:
            self._push_words(vals, 3, 4)
        for k in range(3):
            if en & (0x40 >> k):
                self._push_words(vals, 4 + k, 5 + k)

    def _push_words(self, vals, a, b):
        for i in range(a, b):
            v = vals[i] & 0xFFFF
            self._push(v >> 8)
            self._push(v & 0xFF)

    def _push(self, byte):
        if self.count == FIFO_SIZE:  # full: overwrite the oldest byte
            self.head = (self.head + 1) % FIFO_SIZE
            self.count -= 1
            self.bytes_lost += 1
            if not self.regs[_REG_INT_STATUS] & 0x10:
                self.fifo_overflows += 1
            self.regs[_REG_INT_STATUS] |= 0x10  # FIFO_OFLOW_INT
        self.fifo[(self.head + self.count) % FIFO_SIZE] = byte
        self.count += 1

    # -- I2C
    def read(self, reg, buf, n):
        self._catch_up()
        r = self.regs
        for i in range(n):
            if reg == _REG_FIFO_R_W:
                if self.count:
                    self.last_byte = self.fifo[self.head]
                    self.head = (self.head + 1) % FIFO_SIZE
                    self.count -= 1
                buf[i] = self.last_byte
                continue  # no auto-increment on FIFO_R_W
            if reg == _REG_FIFO_COUNTH:
                buf[i] = self.count >> 8
            elif reg == _REG_FIFO_COUNTL:
                buf[i] = self.count & 0xFF
            else:
                buf[i] = r[reg]
                if reg == _REG_INT_STATUS:
                    r[reg] = 0  # cleared on read
            reg = (reg + 1) & 0x7F

    def write(self, reg, buf, n):
        self._catch_up()
        for i in range(n):
            v = buf[i]
            if reg == _REG_PWR_MGMT_1 and v & 0x80:
                self._power_on()  # DEVICE_RESET
                return
            if reg == _REG_WHO_AM_I or reg == _REG_INT_STATUS:
                pass  # read-only
            elif reg == _REG_USER_CTRL:
                if v & 0x04:  # FIFO_RESET, self-clearing
                    self.head = 0
                    self.count = 0
                self.regs[reg] = v & ~0x04
            elif reg == _REG_FIFO_R_W:
                self._push(v)
                continue
            else:
                was_awake = self.awake()
                self.regs[reg] = v
                if reg == _REG_PWR_MGMT_1 and self.awake() and not was_awake:
                    self.next_us = None
            reg = (reg + 1) & 0x7F
        self._catch_up()


def _c16(x):
    v = int(x)
    if v > 32767:
        return 32767
    if v < -32768:
        return -32768
    return v
