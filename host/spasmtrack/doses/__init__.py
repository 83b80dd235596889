"""Dose log: single doses (oral, intrathecal bolus), intrathecal pump programs, button marks.

Entries are never overwritten: a correction inserts a new row that supersedes the old one,
a retraction flips the status; each change writes who, when and what to the audit log.
"""
from .log import (DoseLog, DoseInput, PumpStep, ImportReport, MAX_PUMP_STEPS_PER_DAY)  # noqa: F401
from .parse import DoseInputError  # noqa: F401
