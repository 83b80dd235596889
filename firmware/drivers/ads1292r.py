"""TI ADS1292R 2-channel 24-bit biopotential front end over SPI (mode 1), with DRDY.

Configuration (``init``) happens in SDATAC mode and is read back; streaming runs in
RDATAC mode, where each DRDY falling edge is answered by ``sample_into`` (9-byte frame:
status, CH1, CH2) reading into a preallocated buffer: no allocation per sample.
Samples are ADC counts: 24-bit two's complement, full scale +-VREF/gain
(``uv_per_count`` = VREF / gain / 2**23 * 1e6 microvolts per count).
"""
import time

import micropython
from micropython import const

from drivers import LOFF_MASK, STATUS_BAD_FRAME, STATUS_RAILED, SensorError

_CMD_RESET = const(0x06)
_CMD_START = const(0x08)
_CMD_STOP = const(0x0A)
_CMD_RDATAC = const(0x10)
_CMD_SDATAC = const(0x11)
_CMD_RREG = const(0x20)
_CMD_WREG = const(0x40)
_REG_ID = const(0x00)
_REG_CONFIG1 = const(0x01)
_REG_CONFIG2 = const(0x02)
_REG_LOFF = const(0x03)
_REG_CH1SET = const(0x04)
_REG_CH2SET = const(0x05)
_REG_RLD_SENS = const(0x06)
_REG_LOFF_SENS = const(0x07)
_REG_LOFF_STAT = const(0x08)
_REG_RESP1 = const(0x09)
_REG_RESP2 = const(0x0A)
_ID_ADS1292R = const(0x73)
_CONFIG2_BASE = const(0x80)  # bit 7 must be written 1
_PDB_LOFF_COMP = const(0x40)
_PDB_REFBUF = const(0x20)
_VREF_4V = const(0x10)
_INT_TEST = const(0x02)
_TEST_FREQ_1HZ = const(0x01)
_LOFF_BASE = const(0x10)  # bit 4 must be written 1; 95 % threshold, 6 nA DC lead-off
_MUX_NORMAL = const(0x00)
_MUX_TEST = const(0x05)
_PDB_RLD = const(0x20)
_RLD_LOFF_SENS = const(0x10)
_RESP1_BASE = const(0x02)  # bit 1 must be written 1
_RESP2_RLDREF_INT = const(0x03)  # internal RLD reference; bit 0 must be 1
_POS_FS = const(0x7FFFFF)
_NEG_FS = const(-0x800000)

RATES_HZ = (125, 250, 500, 1000, 2000, 4000, 8000)
GAINS = (6, 1, 2, 3, 4, 8, 12)  # index = GAIN[2:0] code
_OTHER_IDS = {0x50: "ADS1191", 0x51: "ADS1192", 0x52: "ADS1291", 0x53: "ADS1292"}


class ADS1292R:
    PART = "ADS1292R"

    def __init__(self, spi, cs, drdy, start=None, where="SPI", frame=None):
        """``cs``: chip select Pin (output, idle high); ``drdy``: DRDY Pin (input);
        ``start``: optional START Pin (output, low) - the START command is used otherwise;
        ``frame``: optional preallocated bytearray(9) for the data frames."""
        self._spi = spi
        self._cs = cs
        self.drdy = drdy
        self._start = start
        self.where = where
        self.frame = frame if frame is not None else bytearray(9)
        if len(self.frame) < 9:
            raise SensorError(self.PART, where, "bad-argument", "frame buffer needs 9 bytes")
        self._cmd = bytearray(1)
        self._hdr = bytearray(2)
        self.rate_hz = 0
        self.gain = 0
        self.vref_v = 2.42
        self.bad_frames = 0
        self.status = 0

    # -- configuration (allocation allowed)
    def _command(self, op):
        self._cmd[0] = op
        self._cs(0)
        self._spi.write(self._cmd)
        self._cs(1)

    def read_regs(self, addr, n):
        self._hdr[0] = _CMD_RREG | addr
        self._hdr[1] = n - 1
        out = bytearray(n)
        self._cs(0)
        self._spi.write(self._hdr)
        self._spi.readinto(out, 0)
        self._cs(1)
        return out

    def write_regs(self, addr, values):
        self._hdr[0] = _CMD_WREG | addr
        self._hdr[1] = len(values) - 1
        self._cs(0)
        self._spi.write(self._hdr)
        self._spi.write(values)
        self._cs(1)

    def check_id(self):
        """Reset the part, leave RDATAC and check the ID register (0x73 = ADS1292R)."""
        self._command(_CMD_RESET)
        time.sleep_us(20)  # 18 tCLK at 2.048 MHz after RESET
        self._command(_CMD_SDATAC)  # the part powers up in RDATAC: registers locked
        chip = self.read_regs(_REG_ID, 1)[0]
        if chip in (0x00, 0xFF):
            raise SensorError(self.PART, self.where, "no-response",
                              "ID register reads 0x%02X: no device answering (check power, "
                              "CS and MISO wiring, SPI mode 1)" % chip)
        if chip != _ID_ADS1292R:
            other = _OTHER_IDS.get(chip)
            raise SensorError(self.PART, self.where, "wrong-id",
                              "ID register reads 0x%02X%s, expected 0x%02X (ADS1292R)"
                              % (chip, " (%s)" % other if other else "", _ID_ADS1292R))
        return chip

    def init(self, rate_hz=1000, gain=6, channels=2, lead_off=True, rld=True,
             test_signal=False, vref_4v=False):
        """Check the ID, configure rate (SPS), PGA gain, lead-off detection, right-leg
        drive and optionally the internal 1 Hz test signal; verify by reading back."""
        if rate_hz not in RATES_HZ:
            raise SensorError(self.PART, self.where, "bad-argument",
                              "rate %r Hz not one of %s" % (rate_hz, RATES_HZ))
        if gain not in GAINS:
            raise SensorError(self.PART, self.where, "bad-argument",
                              "gain %r not one of %s" % (gain, sorted(GAINS)))
        if channels not in (1, 2):
            raise SensorError(self.PART, self.where, "bad-argument", "channels must be 1 or 2")
        self.check_id()
        cfg2 = _CONFIG2_BASE | _PDB_REFBUF
        if lead_off:
            cfg2 |= _PDB_LOFF_COMP
        if vref_4v:
            cfg2 |= _VREF_4V
        if test_signal:
            cfg2 |= _INT_TEST | _TEST_FREQ_1HZ
        mux = _MUX_TEST if test_signal else _MUX_NORMAL
        gcode = GAINS.index(gain) << 4
        ch2 = (gcode | mux) if channels == 2 else 0x81  # channel 2 powered down, shorted
        rld_sens = (_PDB_RLD | 0x03 | (_RLD_LOFF_SENS if lead_off else 0)) if rld else 0
        loff_sens = (0x0F if channels == 2 else 0x03) if lead_off else 0
        regs = bytearray((RATES_HZ.index(rate_hz), cfg2, _LOFF_BASE, gcode | mux, ch2,
                          rld_sens, loff_sens))
        self.write_regs(_REG_CONFIG1, regs)
        self.write_regs(_REG_RESP1, bytearray((_RESP1_BASE, _RESP2_RLDREF_INT)))
        back = self.read_regs(_REG_CONFIG1, len(regs))
        names = ("CONFIG1", "CONFIG2", "LOFF", "CH1SET", "CH2SET", "RLD_SENS", "LOFF_SENS")
        for i in range(len(regs)):
            if back[i] != regs[i]:
                raise SensorError(self.PART, self.where, "config",
                                  "register %s reads 0x%02X after writing 0x%02X (SPI mode "
                                  "must be 1: CPOL=0, CPHA=1)" % (names[i], back[i], regs[i]))
        self.rate_hz = rate_hz
        self.gain = gain
        self.channels = channels
        self.vref_v = 4.033 if vref_4v else 2.42
        self._command(_CMD_RDATAC)
        return self

    def uv_per_count(self):
        return self.vref_v / self.gain / 8388608 * 1e6

    def start(self):
        if self._start is not None:
            self._start(1)
        else:
            self._command(_CMD_START)

    def stop(self):
        if self._start is not None:
            self._start(0)
        else:
            self._command(_CMD_STOP)

    def read_lead_off(self):
        """LOFF_STAT (config time, SDATAC/RDATAC toggled): bits IN1P..IN2N, RLD."""
        self._command(_CMD_SDATAC)
        v = self.read_regs(_REG_LOFF_STAT, 1)[0] & LOFF_MASK
        self._command(_CMD_RDATAC)
        return v

    # -- streaming (no allocation)
    @micropython.native
    def sample_into(self, a0, a1, i):
        """Read one frame (call on DRDY low), store CH1 in a0[i] (and CH2 in a1[i] unless
        a1 is None); return the status bits (lead-off, railed, bad frame)."""
        f = self.frame
        self._cs(0)
        self._spi.readinto(f, 0)
        self._cs(1)
        if f[0] & 0xF0 != 0xC0:  # status word must start 1100
            self.bad_frames += 1
            a0[i] = 0
            if a1 is not None:
                a1[i] = 0
            return STATUS_BAD_FRAME
        st = ((f[0] & 0x0F) << 1 | f[1] >> 7) & LOFF_MASK
        v = (f[3] << 16) | (f[4] << 8) | f[5]
        if v & 0x800000:
            v -= 0x1000000
        a0[i] = v
        if v == _POS_FS or v == _NEG_FS:
            st |= STATUS_RAILED
        if a1 is not None:
            v = (f[6] << 16) | (f[7] << 8) | f[8]
            if v & 0x800000:
                v -= 0x1000000
            a1[i] = v
            if v == _POS_FS or v == _NEG_FS:
                st |= STATUS_RAILED
        self.status = st
        return st
