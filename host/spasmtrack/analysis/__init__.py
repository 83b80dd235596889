"""Dose-timing analysis: spasm rate around doses, time of day, nights, concentration
models and concentration-response fit, tolerance trend, clinical-scale equivalents.

``load(store, patient, from_ms, to_ms)`` -> :class:`PatientData`; ``analyse(data, Params())``
-> :class:`Analysis`. Everything is measured on the device's events and summaries; nothing
here gives or implies dosing advice.
"""
from .core import Analysis, Params, analyse, concentration  # noqa: F401
from .data import PatientData, load, pump_rate_fn  # noqa: F401
