"""Register-level simulator of the ST LSM6DSO (6-axis IMU), I2C.

From the datasheet (DS12140 rev 2): WHO_AM_I 0x0F = 0x6C; CTRL1_XL 0x10 ODR_XL[7:4]
(1..10 = 12.5, 26, 52, 104, 208, 416, 833, 1666, 3332, 6664 Hz) FS_XL[3:2] (00 2 g,
01 16 g, 10 4 g, 11 8 g; 0.061/0.488/0.122/0.244 mg per LSB); CTRL2_G 0x11 ODR_G[7:4],
FS_G[3:2] (250/500/1000/2000 dps; 8.75/17.5/35/70 mdps per LSB), FS_125 (bit 1);
CTRL3_C 0x12 (reset 0x04: IF_INC) SW_RESET (bit 0, self-clearing); FIFO_CTRL1..4
0x07-0x0A: watermark WTM[8:0], BDR_GY[7:4] / BDR_XL[3:0] of FIFO_CTRL3 (same codes as
ODR), FIFO_MODE[2:0] of FIFO_CTRL4 (0 bypass: FIFO cleared and off; 1 FIFO: stops when
full; 6 continuous: the newest word overwrites the oldest). FIFO_STATUS1/2 0x3A/0x3B:
DIFF_FIFO[9:0] unread words, FIFO_WTM_IA (bit 7), FIFO_OVR_IA (6), FIFO_FULL_IA (5),
FIFO_OVR_LATCHED (3, cleared when STATUS2 is read). FIFO words are read at 0x78-0x7E:
TAG byte (TAG_SENSOR[7:3]: 0x01 gyro, 0x02 accel; TAG_CNT[2:1] time slot; TAG_PARITY
bit 0) and X, Y, Z little-endian 16-bit; a burst past 0x7E rolls back to 0x78, so one
read of 7*n bytes returns n words. Output registers are little-endian.
"""
import simhw

WHO_AM_I_VALUE = 0x6C
FIFO_WORDS = 512
ODR_HZ = (0, 12.5, 26, 52, 104, 208, 416, 833, 1666, 3332, 6664)
_XL_LSB_MG = (0.061, 0.488, 0.122, 0.244)
_G_LSB_MDPS = (8.75, 17.5, 35.0, 70.0)
_TAG_GYRO = 0x01
_TAG_ACCEL = 0x02


class LSM6DSOSim:
    DEFAULT_ADDR = 0x6A

    def __init__(self, source, who_am_i=WHO_AM_I_VALUE):
        self.src = source
        self.who = who_am_i
        self.regs = bytearray(128)
        self.fifo = bytearray(7 * FIFO_WORDS)
        self.word = bytearray(7)
        self.overruns = 0
        self.words_lost = 0
        self._reset_regs()

    def _reset_regs(self):
        self.regs[:] = bytearray(128)
        self.regs[0x0F] = self.who
        self.regs[0x12] = 0x04
        self.head = 0
        self.count = 0
        self.next_xl = None
        self.next_g = None
        self.slot_t = -1
        self.tag_cnt = 0
        self.ovr_latched = False
        self.ovr = False

    # -- sampling
    def _period(self, code):
        hz = ODR_HZ[code] if 0 < code < len(ODR_HZ) else 0
        return int(1000000 / hz) if hz else 0

    def _catch_up(self):
        now = simhw.clock.now_us
        r = self.regs
        odr_xl, odr_g = r[0x10] >> 4, r[0x11] >> 4
        bdr_xl, bdr_g = r[0x09] & 0x0F, r[0x09] >> 4
        p_xl = self._period(min(odr_xl, bdr_xl)) if odr_xl and bdr_xl else 0
        p_g = self._period(min(odr_g, bdr_g)) if odr_g and bdr_g else 0
        if not p_xl:
            self.next_xl = None
        elif self.next_xl is None:
            self.next_xl = now + p_xl
        if not p_g:
            self.next_g = None
        elif self.next_g is None:
            self.next_g = now + p_g
        while True:
            tg = self.next_g if self.next_g is not None and self.next_g <= now else None
            tx = self.next_xl if self.next_xl is not None and self.next_xl <= now else None
            if tg is None and tx is None:
                break
            if tg is not None and (tx is None or tg <= tx):
                self._batch(_TAG_GYRO, tg)
                self.next_g += p_g
            else:
                self._batch(_TAG_ACCEL, tx)
                self.next_xl += p_xl

    def _batch(self, tag, t):
        if t != self.slot_t:
            if self.slot_t >= 0:
                self.tag_cnt = (self.tag_cnt + 1) & 3
            self.slot_t = t
        ax, ay, az, gx, gy, gz = self.src.imu(t)
        r = self.regs
        if tag == _TAG_GYRO:
            lsb = 4.375 if r[0x11] & 0x02 else _G_LSB_MDPS[(r[0x11] >> 2) & 3]
            v = (_c16(gx * 1000 / lsb), _c16(gy * 1000 / lsb), _c16(gz * 1000 / lsb))
            base = 0x22
        else:
            lsb = _XL_LSB_MG[(r[0x10] >> 2) & 3]
            v = (_c16(ax * 1000 / lsb), _c16(ay * 1000 / lsb), _c16(az * 1000 / lsb))
            base = 0x28
        for i in range(3):
            r[base + 2 * i] = v[i] & 0xFF
            r[base + 2 * i + 1] = (v[i] >> 8) & 0xFF
        mode = r[0x0A] & 0x07
        if mode == 0:
            return
        if self.count == FIFO_WORDS:
            if mode == 1:  # FIFO mode: stop collecting when full
                return
            self.head = (self.head + 1) % FIFO_WORDS  # continuous: overwrite the oldest
            self.count -= 1
            self.words_lost += 1
            if not self.ovr:
                self.overruns += 1
            self.ovr = True
            self.ovr_latched = True
        tb = (tag << 3) | (self.tag_cnt << 1)
        tb |= _parity(tb)
        o = ((self.head + self.count) % FIFO_WORDS) * 7
        f = self.fifo
        f[o] = tb
        for i in range(3):
            f[o + 1 + 2 * i] = v[i] & 0xFF
            f[o + 2 + 2 * i] = (v[i] >> 8) & 0xFF
        self.count += 1

    # -- I2C
    def read(self, reg, buf, n):
        self._catch_up()
        r = self.regs
        inc = r[0x12] & 0x04
        for i in range(n):
            if reg == 0x3A:
                buf[i] = self.count & 0xFF
            elif reg == 0x3B:
                wtm = r[0x07] | ((r[0x08] & 1) << 8)
                v = (self.count >> 8) & 0x03
                if wtm and self.count >= wtm:
                    v |= 0x80
                if self.ovr:
                    v |= 0x40
                if self.count == FIFO_WORDS:
                    v |= 0x20
                if self.ovr_latched:
                    v |= 0x08
                self.ovr_latched = False
                buf[i] = v
            elif reg == 0x78:
                if self.count:
                    o = self.head * 7
                    self.word[:] = self.fifo[o:o + 7]
                    self.head = (self.head + 1) % FIFO_WORDS
                    self.count -= 1
                    self.ovr = False
                else:
                    self.word[:] = bytes(7)
                buf[i] = self.word[0]
            elif 0x79 <= reg <= 0x7E:
                buf[i] = self.word[reg - 0x78]
            else:
                buf[i] = r[reg]
            if inc:
                reg = 0x78 if reg == 0x7E else (reg + 1) & 0x7F

    def write(self, reg, buf, n):
        self._catch_up()
        inc = self.regs[0x12] & 0x04
        for i in range(n):
            v = buf[i]
            if reg == 0x12 and v & 0x01:  # SW_RESET
                self._reset_regs()
                return
            if reg in (0x0F, 0x3A, 0x3B) or reg >= 0x78:
                pass  # read-only
            else:
                self.regs[reg] = v
                if reg == 0x0A and v & 0x07 == 0:  # bypass: FIFO cleared
                    self.head = 0
                    self.count = 0
                    self.ovr = False
                if reg in (0x09, 0x10, 0x11):
                    self.next_xl = None
                    self.next_g = None
            if inc:
                reg = (reg + 1) & 0x7F
        self._catch_up()


def _parity(b):
    p = 0
    b >>= 1
    while b:
        p ^= b & 1
        b >>= 1
    return p


def _c16(x):
    v = int(x)
    if v > 32767:
        return 32767
    if v < -32768:
        return -32768
    return v
