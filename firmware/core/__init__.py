"""The hardware-free firmware core: record layout, control point, detector config, DSP,
detector and flash-log format. Imports no ``machine`` or ``bluetooth``; modules import each
other relatively (``from . import records``) so the host can load this very package."""
