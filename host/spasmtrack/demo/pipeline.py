"""Runs the demo's stages in order, times them and writes the figures (``demo.json``)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import device, doses, report, score, simboard, simulate, sync
from .run import DemoRun, StageResult
from .summary import print_stage, print_summary

Stage = Callable[[DemoRun], StageResult]

#: (name, title, function) in run order; the names are the keys of demo.json's ``time_s``.
STAGES: list[tuple[str, str, Stage]] = [
    ("simulate", simulate.TITLE, simulate.stage_simulate),
    ("device", device.TITLE, device.stage_device),
    ("simboard", simboard.TITLE, simboard.stage_simboard),
    ("sync", sync.TITLE, sync.stage_sync),
    ("doses", doses.TITLE, doses.stage_doses),
    ("report", report.TITLE, report.stage_report),
    ("score", score.TITLE, score.stage_score),
]
#: Stages whose output the later ones need: when one fails, those after it are skipped
#: (except the ones that need only the simulation).
FEEDS_LATER = ("simulate", "device", "sync")
NEEDS_ONLY_SIMULATION = ("simboard", "doses")


def run_demo(run: DemoRun, json_path: Path | None = None) -> dict[str, Any]:
    """Run every stage; returns (and writes to ``json_path``) the demo's figures."""
    run.out.mkdir(parents=True, exist_ok=True)
    db = run.out / "demo.sqlite"
    db.unlink(missing_ok=True)
    run.db_url = f"sqlite:///{db}"
    t_all = time.perf_counter()
    run.say(f"spasmtrack demo: {run.days * 24:g} simulated hours, seed {run.seed}, regimen {run.regimen}, "
            f"board {run.board}, output {run.out}")
    blocked = ""
    for i, (name, title, fn) in enumerate(STAGES, 1):
        run.say(f"[{i}/{len(STAGES)}] {title}")
        t = time.perf_counter()
        if blocked and name not in NEEDS_ONLY_SIMULATION:
            r = StageResult(name, title, status="skipped", detail=f"stage {blocked} did not complete")
        else:
            try:
                r = fn(run)
            except Exception as exc:  # noqa: BLE001 - reported as this stage's failure, the rest go on
                r = StageResult(name, title, status="failed", detail=f"{type(exc).__name__}: {exc}")
        r.seconds = round(time.perf_counter() - t, 3)
        run.stages.append(r)
        print_stage(run, r)
        if name in FEEDS_LATER and r.status != "ok" and not blocked:
            blocked = name
    summary = figures(run, time.perf_counter() - t_all)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary, indent=1))
    print_summary(run, summary, json_path)
    return summary


def figures(run: DemoRun, demo_s: float) -> dict[str, Any]:
    """The demo's figures, as ``demo.json`` holds them."""
    m = run.metrics
    return {
        "demo_s": round(demo_s, 2),
        "simulated_hours": round(run.days * 24, 3),
        "events_simulated": m.get("events_simulated"),
        "events_simulated_observable": m.get("events_simulated_observable"),
        "events_detected": m.get("events_detected"),
        "detection_f1": m.get("detection_f1"),
        "records_logged": run.records_logged,
        "records_synced": run.records_synced,
        "report_path": run.report_path,
        "coverage": m.get("coverage"),
        "score": m.get("score"),
        "score_utc": m.get("score_utc"),
        "placement_ms": m.get("placement"),
        "simboard": m.get("simboard"),
        "truth_vs_measured": m.get("truth_vs_measured"),
        "seed": run.seed,
        "regimen": run.regimen,
        "board": run.board,
        "truth_dir": str(run.out / "truth"),
        "db": run.db_url,
        "time_s": {r.name: r.seconds for r in run.stages},
        "device_detail": dict(run.device_info),
        "sync_detail": dict(run.sync_info),
        "stages": [{"name": r.name, "title": r.title, "status": r.status, "seconds": r.seconds,
                    "provider": r.provider, "detail": r.detail} for r in run.stages],
    }
