"""Flash log benchmark: bytes per record, days of a heavy patient in 1 MB, append cost.

Runs the real firmware (firmware/core/records.py, firmware/core/flashlog.py) on the MicroPython unix port
over the sim board's NOR flash (boards/sim/flash_storage.py, 4 KB sectors, 1 MB):

- bytes per EVENT / SUMMARY: flash consumed by one append (frame = 12 bytes of overhead + payload).
- heavy patient: 300 events + 288 five-minute summaries + 6 button marks + a daily reboot
  (BOOT + TIME_ANCHOR) per day, host never syncing: days logged before the first rotation has
  to drop anything, and days still held in steady state once the ring wraps.
- append cost in microseconds per EVENT on the unix port: the log alone (a storage that stores
  nothing) and with the simulated flash.
- time to open (recover) a full 1 MB log.
"""
from __future__ import annotations

import json
import subprocess

from .. import firmware
from . import BenchFigure

DAYS = 45                 # simulated days (the ring wraps after ~37)


def measure(days: int = DAYS) -> dict:
    """Run flashlog_bench.py in MicroPython and return its JSON result."""
    proc = subprocess.run(firmware.unix_command("-c", f"import flashlog_bench; flashlog_bench.main({days})",
                                                heap="4M"),
                          env=firmware.unix_env(), capture_output=True, text=True, timeout=600)
    if proc.returncode:
        raise RuntimeError(f"micropython flash log bench failed:\n{proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run() -> list[BenchFigure]:
    r = measure()
    sz, cap, ap = r["sizes"], r["capacity"], r["append_us"]
    per_day = cap["records_per_day"]
    note_day = (f"{per_day} records/day: 300 EVENT, 288 SUMMARY, 6 MARK, BOOT, TIME_ANCHOR; "
                "1 MB = 256 x 4 KB sectors (2 ack journal, 254 ring), host never acks")
    return [
        BenchFigure("flashlog_bytes_per_event", sz["EVENT"], "bytes",
                    note="flash consumed by one EVENT append (12 B frame overhead + 36 B payload)",
                    extra={"sizes": sz}),
        BenchFigure("flashlog_bytes_per_summary", sz["SUMMARY"], "bytes",
                    note="flash consumed by one SUMMARY append (12 + 33)"),
        BenchFigure("flashlog_heavy_days_per_mb", cap["days_before_first_rotation_loss"], "days",
                    target=">= 30", note="days logged before rotation must drop anything; " + note_day,
                    extra={"rotations": cap["rotations"], "loss_records": cap["loss_records"]}),
        BenchFigure("flashlog_heavy_days_retained", round(cap["days_retained_steady_state"], 2), "days",
                    target=">= 30", note="days still held once the ring has wrapped (rotation "
                    "slack: one sector); " + note_day),
        BenchFigure("flashlog_append_us", round(ap["log_only"], 2), "us/record",
                    note="EVENT append on the MicroPython unix port, log alone (no-op storage), "
                    "best of 3 x 2000", extra={"with_sim_flash_us": ap["with_sim_flash"]}),
        BenchFigure("flashlog_open_full_ms", round(cap["open_full_log_ms"], 2), "ms",
                    note="recovery on open of a full 1 MB log (unix port, sim flash in RAM)",
                    extra={"reopen_last_seq_ok": cap["reopen_last_seq_ok"]}),
    ]
