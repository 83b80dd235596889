"""Analog EMG module (MyoWare 2.0 class, RAW output) sampled by an ADC.

The module's RAW output is the electrode signal times a fixed gain, centred on half the
supply; ``sample_into`` (called from a timer interrupt at the EMG rate) reads the ADC
with ``read_u16`` and stores signed counts around the mid-scale offset, so the DSP chain
sees the same signed counts as from the ADS1292R. ``uv_per_count`` = ADC span / gain /
2**bits * 1e6 (electrode-referred microvolts per count).
"""
from micropython import const

from drivers import STATUS_RAILED, SensorError

_RAIL_MARGIN = const(8)  # counts from either end of the ADC range that count as railed


class AnalogEMG:
    PART = "analog EMG"

    def __init__(self, adc, bits=12, span_v=3.1, gain=200, offset=None, where="ADC"):
        if not 8 <= bits <= 16:
            raise SensorError(self.PART, where, "bad-argument", "bits must be 8..16")
        self._adc = adc
        self._shift = 16 - bits
        self.bits = bits
        self.span_v = span_v
        self.gain = gain
        self.where = where
        self._mid = (1 << (bits - 1)) if offset is None else offset
        self._lo = -self._mid + _RAIL_MARGIN
        self._hi = (1 << bits) - 1 - self._mid - _RAIL_MARGIN
        self.status = 0

    def init(self):
        """Check the module is there: its RAW output idles near mid-supply, so a reading
        pinned at 0 V means it is unpowered or unconnected (leads off only rails it)."""
        code = self._adc.read_u16() >> self._shift
        if code == 0:
            raise SensorError(self.PART, self.where, "no-response",
                              "ADC reads 0 V: the module is unpowered or not connected "
                              "(its output idles at half the supply)")
        return self

    def uv_per_count(self):
        return self.span_v / self.gain / (1 << self.bits) * 1e6

    def start(self):
        pass

    def stop(self):
        pass

    def sample_into(self, a0, a1, i):
        """Store one signed sample in a0[i] (a1 unused: one channel); return status."""
        v = (self._adc.read_u16() >> self._shift) - self._mid
        a0[i] = v
        if v <= self._lo or v >= self._hi:
            self.status = STATUS_RAILED
            return STATUS_RAILED
        self.status = 0
        return 0
