"""Register-level simulator of the TI ADS1292R (2-channel 24-bit biopotential AFE), SPI.

From the datasheet (SBAS502): opcodes WAKEUP 0x02, STANDBY 0x04, RESET 0x06, START 0x08,
STOP 0x0A, RDATAC 0x10, SDATAC 0x11, RDATA 0x12, RREG 0x2r + (n-1), WREG 0x4r + (n-1).
The device powers up in RDATAC mode, where RREG/WREG are ignored until SDATAC.
Registers 0x00-0x0B with their reset values; ID = 0x73 (ADS1292R). CONFIG1 DR[2:0]
selects 125 << DR samples/s; CHnSET PD, GAIN[6:4] (6,1,2,3,4,8,12) and MUX[3:0]
(normal, shorted, test signal); CONFIG2 PDB_LOFF_COMP, VREF_4V, INT_TEST, TEST_FREQ;
LOFF_SENS selects the inputs whose lead-off comparators drive LOFF_STAT; RLD_SENS PDB_RLD
and RLD_LOFF_SENS. Data frame: 24-bit status (1100 + LOFF_STAT[4:0] + GPIO[1:0] + 0s)
then CH1, CH2 as 24-bit two's complement, MSB first; full scale +-VREF/gain, codes
clip at 0x7FFFFF / 0x800000. DRDY falls when a conversion is ready, returns high at the
first SCLK of a read and pulses high before the next conversion if the data is not read.
The first conversion after START settles for 4 data periods.
"""
import simhw

ID_ADS1292R = 0x73
_RESET = (0x73, 0x02, 0x80, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x07, 0x0C)
_READONLY = (0x00,)
GAINS = (6, 1, 2, 3, 4, 8, 12, None)
# datasheet: open inputs with the lead-off current on pull to the rail; with it off
# the input floats and picks up mains (sim: 5 mV of 50 Hz), both saturate the channel
_FLOAT_MAINS_UV = 5000.0
_CM_MAINS_UV = 30.0  # residual common-mode mains without the right-leg drive
_TEST_UV_DIV = 2400  # test signal = +-(VREFP - VREFN) / 2400

CONFIG1, CONFIG2, LOFF, CH1SET, CH2SET, RLD_SENS, LOFF_SENS, LOFF_STAT = 1, 2, 3, 4, 5, 6, 7, 8


class ADS1292RSim:
    def __init__(self, source, cs, drdy, start=None, chip_id=ID_ADS1292R):
        self.src = source
        self.cs = cs
        self.drdy = drdy
        self.chip_id = chip_id
        self.regs = bytearray(_RESET)
        self.regs[0] = chip_id
        self.rdatac = True
        self.running = False
        self.frame = bytearray(9)
        self.out = bytearray(16)
        self.out_n = 0
        self.out_pos = 0
        self.state = 0  # 0 opcode, 1 RREG count, 2 WREG count, 3 WREG data
        self.reg_addr = 0
        self.reg_left = 0
        self.fresh = False  # a conversion not yet read
        self.ev = None
        self.conv_index = 0
        # counters tests and benchmarks look at
        self.ignored_cmds = 0
        self.frames_read = 0
        self.conversions = 0
        self.overwritten = 0
        self.bytes = 0
        simhw.drive(drdy, 1)
        simhw.watch(cs, self._cs_changed)
        if start is not None:
            simhw.watch(start, self._start_pin)

    # -- serial interface
    def _cs_changed(self, value):
        # CS high resets the serial interface (a multi-byte command in progress is lost)
        if value:
            self.state = 0
            self.out_n = 0
            self.out_pos = 0
        elif self.rdatac and self.fresh:
            self._load_frame()

    def _load_frame(self):
        self.out[0:9] = self.frame
        self.out_n = 9
        self.out_pos = 0

    def xfer(self, b):
        """One byte in on DIN, one byte out on DOUT (the SPI bus calls this with CS low)."""
        self.bytes += 1
        if self.out_pos < self.out_n:
            o = self.out[self.out_pos]
            if self.out_pos == 0 and self.fresh:
                # first SCLK of a data read: DRDY returns high, the frame is taken
                self.fresh = False
                self.frames_read += 1
                simhw.drive(self.drdy, 1)
            self.out_pos += 1
        else:
            o = 0
        self._command(b)
        return o

    def _command(self, b):
        st = self.state
        if st == 1:  # RREG count
            n = (b & 0x1F) + 1
            self._refresh_loff(simhw.clock.now_us)
            for i in range(n):
                a = self.reg_addr + i
                self.out[i] = self.regs[a] if a < len(self.regs) else 0
            self.out_n = n
            self.out_pos = 0
            self.state = 0
            return
        if st == 2:  # WREG count
            self.reg_left = (b & 0x1F) + 1
            self.state = 3
            return
        if st == 3:  # WREG data
            self._write_reg(self.reg_addr, b)
            self.reg_addr += 1
            self.reg_left -= 1
            if self.reg_left == 0:
                self.state = 0
            return
        if b == 0x00 or b == 0xFF:  # dummy bytes clocked during reads
            return
        if b == 0x11:  # SDATAC
            self.rdatac = False
        elif b == 0x10:  # RDATAC
            self.rdatac = True
        elif b == 0x08:  # START
            self._start()
        elif b == 0x0A:  # STOP
            self._stop()
        elif b == 0x06:  # RESET
            self._reset()
        elif b in (0x02, 0x04, 0x1A):  # WAKEUP, STANDBY, OFFSETCAL: accepted, no effect here
            pass
        elif b == 0x12:  # RDATA
            if self.rdatac:
                self.ignored_cmds += 1
            else:
                if self.fresh:
                    self.fresh = False
                    self.frames_read += 1
                    simhw.drive(self.drdy, 1)
                self._load_frame()
        elif 0x20 <= b <= 0x2F or 0x40 <= b <= 0x4F:
            if self.rdatac:  # datasheet: ignored in RDATAC mode; SDATAC first
                self.ignored_cmds += 1
                return
            self.reg_addr = b & 0x0F
            self.state = 1 if b < 0x40 else 2
        else:
            self.ignored_cmds += 1

    def _write_reg(self, a, v):
        if a >= len(self.regs) or a in _READONLY:
            return
        if a == LOFF_STAT:  # only CLK_DIV (bit 6) is writable
            self.regs[a] = (self.regs[a] & ~0x40) | (v & 0x40)
            return
        self.regs[a] = v

    def _reset(self):
        self._stop()
        self.regs[:] = bytearray(_RESET)
        self.regs[0] = self.chip_id
        self.rdatac = True
        self.state = 0

    def _start_pin(self, value):
        if value:
            self._start()
        else:
            self._stop()

    # -- conversions
    def rate_hz(self):
        dr = self.regs[CONFIG1] & 0x07
        return 125 << dr if dr < 7 else 0

    def gain(self, ch):
        return GAINS[(self.regs[CH1SET + ch] >> 4) & 0x07]

    def vref_v(self):
        return 4.033 if self.regs[CONFIG2] & 0x10 else 2.42

    def _start(self):
        if self.running:
            return
        rate = self.rate_hz()
        if rate == 0:
            return
        self.running = True
        self.period_us = 1000000 // rate
        self.conv_index = 0
        c = simhw.clock
        self.next_us = c.now_us + 4 * self.period_us
        self.ev = c.at(self.next_us, self._convert)

    def _stop(self):
        if self.ev is not None:
            simhw.clock.cancel(self.ev)
            self.ev = None
        self.running = False

    def _refresh_loff(self, t_us):
        self.regs[LOFF_STAT] = (self.regs[LOFF_STAT] & 0x40) | self.loff_stat(t_us)

    def loff_stat(self, t_us):
        off = self.src.leads_off(t_us)
        st = 0
        if self.regs[CONFIG2] & 0x40:  # PDB_LOFF_COMP: comparators powered
            st = off & self.regs[LOFF_SENS] & 0x0F
        if off & 0x10 and self.regs[RLD_SENS] & 0x10:  # RLD_LOFF_SENS
            st |= 0x10
        return st

    def channel_code(self, ch, t_us, off):
        reg = self.regs[CH1SET + ch]
        if reg & 0x80:  # powered down
            return 0
        gain = GAINS[(reg >> 4) & 0x07] or 6
        vref = self.vref_v()
        mux = reg & 0x0F
        if mux == 0x1:  # input shorted
            uv = 0.0
        elif mux == 0x5:  # test signal
            if not self.regs[CONFIG2] & 0x02:
                uv = 0.0
            else:
                amp = vref * 1e6 / _TEST_UV_DIV
                if self.regs[CONFIG2] & 0x01:  # 1 Hz square
                    uv = amp if (t_us // 500000) % 2 == 0 else -amp
                else:
                    uv = amp
        else:
            uv = self.src.uv(t_us, ch)
            pbit, nbit = 1 << (2 * ch), 2 << (2 * ch)
            sens = self.regs[LOFF_SENS]
            if off & pbit:
                uv = 1e7 if sens & pbit else _mains(t_us, _FLOAT_MAINS_UV)
            if off & nbit:
                uv = -1e7 if sens & nbit else _mains(t_us, _FLOAT_MAINS_UV)
            if not (self.regs[RLD_SENS] & 0x20) or off & 0x10:
                uv += _mains(t_us, _CM_MAINS_UV)
        code = int(uv * 1e-6 * gain / vref * 8388608)
        if code > 0x7FFFFF:
            code = 0x7FFFFF
        elif code < -0x800000:
            code = -0x800000
        return code

    def _convert(self, _):
        t = simhw.clock.now_us
        self.conversions += 1
        self.conv_index += 1
        off = self.src.leads_off(t)
        self._refresh_loff(t)
        st = (0xC << 20) | ((self.regs[LOFF_STAT] & 0x1F) << 15) | ((self.regs[0x0B] & 0x03) << 13)
        f = self.frame
        _put24(f, 0, st)
        _put24(f, 3, self.channel_code(0, t, off))
        _put24(f, 6, self.channel_code(1, t, off))
        if self.regs[CONFIG1] & 0x80:  # single shot: one conversion per START
            self.running = False
            self.ev = None
        else:
            self.next_us += self.period_us
            self.ev = simhw.clock.at(self.next_us, self._convert)
        if self.fresh:
            self.overwritten += 1
        self.fresh = True
        # DRDY pulses high before new data if the last frame was not read, then falls
        if simhw.pin(self.drdy).value == 0:
            simhw.drive(self.drdy, 1)
        if simhw.pin(self.cs).value == 0 and self.rdatac:
            self._load_frame()
        simhw.drive(self.drdy, 0)


def _mains(t_us, amp_uv):
    import math

    return amp_uv * math.sin(2 * math.pi * 50 * t_us * 1e-6)


def _put24(buf, off, v):
    v &= 0xFFFFFF
    buf[off] = v >> 16
    buf[off + 1] = (v >> 8) & 0xFF
    buf[off + 2] = v & 0xFF
