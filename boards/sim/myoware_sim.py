"""Simulator of an analog EMG module of the MyoWare 2.0 class (RAW output).

The RAW output is the electrode voltage amplified by a fixed gain (200 on the MyoWare
2.0), band-limited in hardware (about 20-500 Hz), centred on half the supply and
clipped near the rails. With an electrode off the input floats: mains pickup drives the
output into the rails. The ADC that samples it is modelled in machine.ADC (ESP32-class,
12 bits over the 11 dB attenuation range).
"""
import math

import simhw

_RAIL_MARGIN_V = 0.02
_FLOAT_MAINS_UV = 20000.0  # a floating high-impedance input picks up tens of mV


class MyoWareSim:
    def __init__(self, source, gain=200, supply_v=3.3):
        self.src = source
        self.gain = gain
        self.supply = supply_v
        self.reads = 0

    def output_v(self):
        t = simhw.clock.now_us
        self.reads += 1
        if self.src.leads_off(t) & 0x03:
            uv = _FLOAT_MAINS_UV * math.sin(2 * math.pi * 50 * t * 1e-6)
        else:
            uv = self.src.uv(t, 0)
        v = self.supply / 2 + uv * 1e-6 * self.gain
        lo, hi = _RAIL_MARGIN_V, self.supply - _RAIL_MARGIN_V
        return lo if v < lo else hi if v > hi else v
