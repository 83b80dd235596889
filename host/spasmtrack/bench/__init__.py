"""Benchmarks behind ``make bench``.

Every module in this package that defines ``run() -> list[BenchFigure]`` is a benchmark.
``python -m spasmtrack.bench`` runs them all (or those named on the command line), prints
one table and merges the figures into ``build/bench.json`` (figure name -> value). Figures
are measured, never hard-coded; each carries its unit, its target (if the project has one)
and a note on how it was measured.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BenchFigure:
    name: str                 # key in build/bench.json, e.g. "dsp_ns_per_sample"
    value: float
    unit: str                 # "ns/sample", "bytes", "x", "s", ...
    target: str = ""          # e.g. "<= 8", ">= 30", "== 0"; empty when there is none
    note: str = ""            # how it was measured
    extra: dict = field(default_factory=dict)   # further detail written beside the value

    def meets_target(self) -> bool | None:
        if not self.target:
            return None
        op, _, num = self.target.partition(" ")
        limit = float(num)
        return {"<=": self.value <= limit, ">=": self.value >= limit, "==": self.value == limit,
                "<": self.value < limit, ">": self.value > limit}[op]
