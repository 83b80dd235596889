"""Benchmark of the demo chain: the patient simulator's speed and a whole 24 h demo.

Figures: ``patient_sim_x_realtime`` (raw EMG + IMU synthesis, 2 channels, 1 kHz),
``demo_24h_s`` (``spasmtrack demo --days 1``: simulate, firmware, sync, store, report;
target 300 s) and ``demo_24h_f1`` (detection F1 against the simulator's truth).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from . import BenchFigure


def _sim_speed(hours: float = 6.0) -> float:
    from ..synth.patient import PatientSignal, Scenario, build_timeline
    tl = build_timeline(Scenario(days=hours / 24, seed=2))
    t = time.perf_counter()
    n = 0
    for ch in PatientSignal(tl).chunks(60.0):
        n += ch.n
    return hours * 3600 / (time.perf_counter() - t)


def run() -> list[BenchFigure]:
    from ..demo import DemoRun, run_demo
    x = _sim_speed()
    with tempfile.TemporaryDirectory(prefix="spasmtrack-bench-demo-") as d:
        lines: list[str] = []
        s = run_demo(DemoRun(days=1.0, out=Path(d) / "demo", progress=lines.append), Path(d) / "demo.json")
    not_real = [f"{st['name']}={st['status']}" for st in s["stages"] if st["status"] != "ok"]
    note = "stages not end to end: " + (", ".join(not_real) if not_real else "none")
    return [
        BenchFigure("patient_sim_x_realtime", round(x, 1), "x", ">= 300",
                    "6 simulated hours, 2 EMG channels at 1 kHz + IMU at 100 Hz, streamed in 60 s chunks"),
        BenchFigure("demo_24h_s", s["demo_s"], "s", "<= 300", note, {"time_s": s["time_s"]}),
        BenchFigure("demo_24h_f1", s["detection_f1"] or 0.0, "", "", "events vs the simulator's truth, "
                    "one-to-one, onset within 0.5 s", {"score": s["score"]}),
    ]
