"""The state one demo run carries from stage to stage, and what each stage reports."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..store import Store
from ..synth.patient import Scenario, Timeline
from ..synth.patient.score import Detection

PATIENT_CODE = "DEMO-001"


@dataclass
class StageResult:
    """``status``: ok | failed | skipped. ``provider``: the code that did the work."""

    name: str
    title: str = ""
    status: str = "ok"
    seconds: float = 0.0
    provider: str = ""
    detail: str = ""


@dataclass
class DemoRun:
    days: float
    out: Path
    seed: int = 1
    regimen: str = "tid"
    board: str = "sim"
    chunk_s: float = 60.0            # s of signal synthesised per chunk
    block: int = 200                 # raw samples per replay block (fits the 96 KB heap)
    start_hour_utc: int = 6          # the scenario starts at this UTC hour (the latest one that has ended)
    heap: str = "96K"                # the device core's heap (what an ESP32 leaves free with BLE up)
    tolerance_pct_per_week: float = 10.0   # the simulated patient's EC50 drift (tolerance)
    simboard_s: float = 120.0        # s of signal run through the whole firmware on the sim board
    progress: Callable[[str], None] = print
    stages: list[StageResult] = field(default_factory=list)
    # filled by the stages
    scenario: Scenario | None = None
    timeline: Timeline | None = None
    truth_paths: dict[str, Any] = field(default_factory=dict)
    dose_log: Path | None = None
    flash_path: Path | None = None
    records_logged: int = 0
    device_info: dict[str, Any] = field(default_factory=dict)
    db_url: str = ""
    device_key: str = "sim-demo-0001"
    records_synced: int = 0
    sync_info: dict[str, Any] = field(default_factory=dict)
    report_path: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    replay_dets: list[Detection] = field(default_factory=list)
    end_ms: int = 0
    boot: int = 1

    def say(self, msg: str) -> None:
        self.progress(msg)

    @property
    def scn(self) -> Scenario:
        """The scenario (set by the simulate stage)."""
        if self.scenario is None:
            raise RuntimeError("no scenario: the simulate stage has not run")
        return self.scenario

    @property
    def tl(self) -> Timeline:
        """The simulated timeline (set by the simulate stage)."""
        if self.timeline is None:
            raise RuntimeError("no timeline: the simulate stage has not run")
        return self.timeline


def ensure_patient(st: Store, run: DemoRun) -> None:
    """The demo patient and device in the store (added once)."""
    try:
        st.patient(PATIENT_CODE)
    except UserError:               # not there yet
        st.add_patient(PATIENT_CODE, run.scn.tz, "Simulated patient (demo)")
    st.device_id(run.device_key, board=run.board)
    st.assign_device(run.device_key, PATIENT_CODE)
