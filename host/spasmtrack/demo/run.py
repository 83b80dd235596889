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

#: What a plain ESP32 leaves free with BLE active (boards/README.md and
#: docs/firmware-integrity.md "Memory"; bench/memory.py ESP32_BUDGET_KB).
ESP32_FREE_HEAP_KB = 96
#: The same firmware measured in the ESP32's configuration (frozen, 32-bit unix port) and in
#: the demo's (``.mpy`` files on the venv's 64-bit unix port): 54.8 KB and 169.0 KB
#: (docs/firmware-integrity.md "Memory", 2026-12-05). As ``.mpy`` the bytecode, qstrs and
#: constants are loaded into the heap (frozen they stay in flash) and every pointer-sized
#: word doubles on 64 bits, so a byte of the ESP32's heap is about 3.1 bytes here.
ESP32_TO_UNIX64_MPY = 169.0 / 54.8
#: The device core's heap on this port: the ESP32's free heap in this configuration's bytes
#: (296K). The ratio is of two measurements of the whole firmware and stays a fair scale while
#: the firmware grows evenly; the stage fails (no fallback to a bigger heap) when the core does
#: not start in it. On the board the whole firmware, frozen, is estimated at 80.6 KB of the
#: 96 KB (`python -m spasmtrack.bench memory`, esp32_firmware_heap_frozen_kb, 2026-12-05);
#: this heap only bounds the core, it does not prove that.
DEVICE_HEAP = f"{int(ESP32_FREE_HEAP_KB * ESP32_TO_UNIX64_MPY) // 8 * 8}K"


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
    block: int = 200                 # raw samples per replay block
    start_hour_utc: int = 6          # the scenario starts at this UTC hour (the latest one that has ended)
    heap: str = DEVICE_HEAP          # the device core's heap (what an ESP32 leaves free with BLE up, scaled)
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
