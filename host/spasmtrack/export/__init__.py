"""Exports of one patient's period: CSV tables and a FHIR R4 (R4B models) JSON Bundle."""
from .csvout import write_csv  # noqa: F401
from .fhir import build_bundle, write_fhir  # noqa: F401
