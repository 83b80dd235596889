"""Simulator of an analog EMG module of the MyoWare 2.0 class (RAW output).

The RAW output is the electrode voltage amplified by a fixed gain (200 on the MyoWare
2.0), band-limited in hardware (about 20-500 Hz: first-order corners at ``band_hz``, from
board.json emg.frontend_band_hz), centred on half the supply and clipped near the rails.
The high-pass (AC coupling) keeps the electrodes' DC offset, tens of mV and so volts after
the gain, out of the output. With an electrode off the input floats: mains pickup drives the
output into the rails. The ADC that samples it is modelled in machine.ADC (ESP32-class,
12 bits over the 11 dB attenuation range).
"""
import math

import simhw

_RAIL_MARGIN_V = 0.02
_FLOAT_MAINS_UV = 20000.0  # a floating high-impedance input picks up tens of mV


class MyoWareSim:
    def __init__(self, source, gain=200, supply_v=3.3, band_hz=(20.0, 480.0)):
        self.src = source
        self.gain = gain
        self.supply = supply_v
        self.reads = 0
        self.tau_hp = 1.0 / (2 * math.pi * band_hz[0])
        self.tau_lp = 1.0 / (2 * math.pi * band_hz[1])
        self._t = None   # time (s) of the previous read
        self._x = 0.0    # previous input (uV)
        self._h = 0.0    # high-passed (uV)
        self._y = 0.0    # band-passed (uV)

    def _filter(self, uv, t_s):
        if self._t is None:        # powered long before: settled on the first input
            self._t, self._x = t_s, uv
            return 0.0
        dt = t_s - self._t
        self._t = t_s
        if dt <= 0:
            return self._y
        # first-order sections evaluated at the read times only (the ADC's 1 kHz): matched
        # poles; at 50-150 Hz within ~5 % of the continuous module's response
        a = math.exp(-dt / self.tau_hp)
        self._h = a * (self._h + uv - self._x)
        self._x = uv
        self._y += (self._h - self._y) * (1.0 - math.exp(-dt / self.tau_lp))
        return self._y

    def output_v(self):
        t = simhw.clock.now_us
        self.reads += 1
        if self.src.leads_off(t) & 0x03:
            uv = _FLOAT_MAINS_UV * math.sin(2 * math.pi * 50 * t * 1e-6)
        else:
            uv = self.src.uv(t, 0)
        uv = self._filter(uv, t * 1e-6)
        v = self.supply / 2 + uv * 1e-6 * self.gain
        lo, hi = _RAIL_MARGIN_V, self.supply - _RAIL_MARGIN_V
        return lo if v < lo else hi if v > hi else v
