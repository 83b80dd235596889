"""Sensor drivers. Each receives its bus, pins and buffers; none creates hardware objects.

Status bits a driver's ``sample_into`` returns for each sample (OR-ed per block by the
sampler): the ADS1292R's LOFF_STAT bits (0-4), then front-end conditions every EMG
driver reports the same way.
"""
from micropython import const

LOFF_IN1P = const(0x01)
LOFF_IN1N = const(0x02)
LOFF_IN2P = const(0x04)
LOFF_IN2N = const(0x08)
LOFF_RLD = const(0x10)
LOFF_MASK = const(0x1F)
STATUS_RAILED = const(0x20)  # the sample sits at the converter's full scale
STATUS_BAD_FRAME = const(0x40)  # a data frame failed its consistency check (SPI glitch)


class SensorError(Exception):
    """A sensor that cannot be used: missing, wrong part, or not taking its configuration.

    ``part`` names the part, ``where`` the bus/address or pin, ``reason`` a short code
    ("no-response", "wrong-id", "bus-error", "config", "bad-argument").
    """

    def __init__(self, part, where, reason, message):
        super().__init__("%s at %s: %s" % (part, where, message))
        self.part = part
        self.where = where
        self.reason = reason
