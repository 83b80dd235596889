"""Heap budget of the firmware on the sim board, and what it maps to on a 32-bit ESP32.

Measured on the MicroPython unix port (64-bit) by bench/mpy/memory_probe.py: every
firmware module imported from ``.mpy`` (``mpy-cross -march=x64``, as ``make deploy BOARD=sim``
builds it), leaves first so each row is that module alone, as ``gc.mem_alloc()`` after
``gc.collect()`` around the import; then the objects the device allocates at start
(``Device``: flash log; ``start_hardware``: drivers, sampler rings, DSP chains, detector,
button) and the growth while the whole firmware runs for a few seconds (with the BLE
peripheral on the virtual radio when H-ble's parts are there). The sim board's own
hardware layer (boards/sim: simulators, machine, file storage, the ``bluetooth`` bridge)
is measured apart and is not firmware.

Mapping to the ESP32 (32-bit; no PSRAM), a stated estimate, not a measurement:
- object headers, pointers, dict slots, tuple/list items, function and class objects
  halve (8 -> 4 bytes per word);
- bytecode, qstr text and array/bytearray payloads do not: a module's ``.mpy`` size is
  taken as its arch-independent part (capped at what it measured here), and the
  array/bytearray payloads reachable from the runtime objects are counted in full;
- frozen into the firmware image (boards/<board>/manifest.py) a module's bytecode, qstrs
  and constant objects stay in flash: the RAM left per module is estimated as
  (heap here - .mpy bytes - 8 bytes per new qstr) / 2, at least 12 bytes per new name
  (globals dict, function and class objects, tables built at import).
Viper/native code is not in the GC heap on either port (exec memory), so it counts nowhere.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import BenchFigure
from .. import BOARDS_DIR, FIRMWARE_DIR, REPO_ROOT
from ..mpybuild import build
from ..simboard import micropython

PROBE = Path(__file__).parent / "mpy" / "memory_probe.py"
#: What a plain ESP32 leaves free with BLE active (ARCHITECTURE.md "Memory").
ESP32_BUDGET_KB = 96
RUN_MS = 3000
_QI = re.compile(r"n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)")


def _ble_available() -> bool:
    return (FIRMWARE_DIR / "ble_peripheral.py").exists() and (BOARDS_DIR / "sim" / "bluetooth.py").exists()


def probe(mpy_dir: Path, work: Path, ble: bool) -> dict:
    """Run the probe on the unix port; returns its JSON plus per-step qstr counts."""
    flash = work / "flash"
    if flash.exists():
        shutil.rmtree(flash)
    flash.mkdir(parents=True)
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(mpy_dir), str(BOARDS_DIR / "sim"), ".frozen"])
    cmd = [micropython(), str(PROBE), str(RUN_MS)] + (["ble"] if ble else [])
    if ble:
        from ..ble.radio import VirtualRadio

        with VirtualRadio(work / "radio") as radio:
            env["SPASMTRACK_BLE_BRIDGE"] = radio.bridge_addr
            proc = subprocess.run(cmd, cwd=flash, env=env, capture_output=True, text=True, timeout=120)
    else:
        proc = subprocess.run(cmd, cwd=flash, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or "MEM " not in proc.stdout:
        raise RuntimeError(f"memory probe failed: {(proc.stdout + proc.stderr)[-1500:]}")
    lines = proc.stdout.splitlines()
    steps = []
    for i, ln in enumerate(lines):
        if ln.startswith("ROW "):
            kind, name, nbytes = ln[4:].split("|")
            m = _QI.search(lines[i + 1])
            steps.append({"kind": kind, "name": name, "bytes": int(nbytes),
                          "n_qstr": int(m.group(1)), "qstr_text": int(m.group(2)),
                          "qstr_pool": int(m.group(3))})
    out = json.loads(next(ln for ln in lines if ln.startswith("MEM "))[4:])
    prev = None
    for s in steps:
        # The qstr pool grows in doubling chunks, charged to whichever step triggers it:
        # replace that lump by the step's own qstrs (text + a pool slot of 8+2 bytes each).
        p = prev or {"n_qstr": 0, "qstr_text": 0, "qstr_pool": 0}
        s["new_qstr"] = s["n_qstr"] - p["n_qstr"]
        s["raw_bytes"] = s["bytes"]
        s["bytes"] = (s["bytes"] - (s["qstr_pool"] - p["qstr_pool"])
                      + (s["qstr_text"] - p["qstr_text"]) + 10 * s["new_qstr"])
        prev = s
    out["steps"] = steps
    return out


def _mpy_sizes(out: Path) -> dict[str, int]:
    sizes = {}
    for p in out.rglob("*.mpy"):
        mod = ".".join(p.relative_to(out).with_suffix("").parts)
        sizes[mod.removesuffix(".__init__")] = p.stat().st_size
    return sizes


def measure() -> dict:
    work = REPO_ROOT / "build" / "bench-memory"
    sim = build("sim", work / "mpy")                     # x64, as deployed to the sim board
    dev = build("esp32-devkitc", work / "mpy")           # xtensawin: the device's .mpy sizes
    x64 = _mpy_sizes(sim.out)
    xt = _mpy_sizes(dev.out)
    ble = _ble_available()
    r = probe(sim.out, work, ble)
    mods = []
    for s in r["steps"]:
        if s["kind"] != "firmware":
            continue
        h = s["bytes"]
        bc = min(xt.get(s["name"], x64.get(s["name"], 0)), h)
        mods.append({"module": s["name"], "heap64": h, "mpy_x64": x64.get(s["name"], 0),
                     "mpy_xtensawin": xt.get(s["name"], 0), "new_qstr": s["new_qstr"],
                     "esp32_mpy_est": bc + (h - bc) // 2,
                     # floor: a dict slot and a small object per new name (viper modules'
                     # .mpy holds native code, which would drive the difference below 0)
                     "esp32_frozen_est": max((h - x64.get(s["name"], 0) - 8 * s["new_qstr"]) // 2,
                                             12 * s["new_qstr"])})
    sim_rows = {s["name"]: s["bytes"] for s in r["steps"] if s["kind"] == "sim"}
    obj_rows = {s["name"]: s["bytes"] for s in r["steps"] if s["kind"] == "objects"}
    rt_rows = {s["name"]: s["bytes"] for s in r["steps"] if s["kind"] == "runtime"}
    sizes = r["sizes"]
    buffers = sum(v for k, v in sizes.items() if k != "ble_buffer_bytes")
    start_objs = sum(obj_rows.values())
    run_growth = max(r["run_peak_live"] - r["before_run"], 0)
    ble_buf = sizes.get("ble_buffer_bytes", 0)
    imp64 = sum(m["heap64"] for m in mods)
    rt64 = start_objs + run_growth
    asyncio64 = sum(rt_rows.values())
    rt32 = buffers + ble_buf + (rt64 - buffers - ble_buf) // 2
    return {"modules": mods, "sim": sim_rows, "objects": obj_rows, "sizes": sizes, "ble": ble,
            "import64": imp64, "runtime64": rt64, "start_objects64": start_objs,
            "run_growth64": run_growth, "asyncio64": asyncio64,
            "sim64": sum(sim_rows.values()), "buffers": buffers + ble_buf,
            "esp32_mpy_kb": (sum(m["esp32_mpy_est"] for m in mods) + rt32 + asyncio64 // 2) / 1024,
            "esp32_frozen_kb": (sum(m["esp32_frozen_est"] for m in mods) + rt32 + asyncio64 // 2) / 1024,
            "runtime32": rt32, "blocks": r["blocks"], "base": r["base"],
            "peak_live64": r["run_peak_live"]}


def run() -> list[BenchFigure]:
    m = measure()
    ble = "with the BLE peripheral on the virtual radio" if m["ble"] else "without BLE (H-ble parts missing)"
    table = {x["module"]: {k: v for k, v in x.items() if k != "module"} for x in m["modules"]}
    kb = lambda b: round(b / 1024, 1)  # noqa: E731
    return [
        BenchFigure("firmware_import_heap_kb", kb(m["import64"]), "KB",
                    note=f"unix port 64-bit: sum over firmware modules imported from .mpy (x64), {ble}",
                    extra={"per_module": table}),
        BenchFigure("firmware_runtime_heap_kb", kb(m["runtime64"]), "KB",
                    note=f"unix port 64-bit: objects at start (flash log, drivers, rings, chains, detector, "
                         f"button) + growth while running {RUN_MS} ms ({m['blocks']} blocks), {ble}",
                    extra={"steps": m["objects"], "run_growth_bytes": m["run_growth64"],
                           "buffer_bytes": m["sizes"], "asyncio_bytes": m["asyncio64"]}),
        BenchFigure("sim_parts_heap_kb", kb(m["sim64"]), "KB",
                    note="boards/sim hardware layer (from source, as the sim board runs it): "
                         "simulators, machine, file storage" + (", bluetooth bridge" if m["ble"] else ""),
                    extra={"steps": m["sim"]}),
        BenchFigure("esp32_heap_est_mpy_kb", round(m["esp32_mpy_kb"], 1), "KB", f"<= {ESP32_BUDGET_KB}",
                    note="estimate, ESP32 32-bit with the firmware as .mpy files (make deploy): bytecode "
                         "and buffers kept, pointer-sized objects halved (see module docstring)"),
        BenchFigure("esp32_heap_est_frozen_kb", round(m["esp32_frozen_kb"], 1), "KB", f"<= {ESP32_BUDGET_KB}",
                    note="estimate, ESP32 32-bit with the firmware frozen (boards/<b>/manifest.py): "
                         "bytecode, qstrs and constants in flash"),
    ]


def _print(m: dict) -> None:
    print(f"{'module':<18}{'heap64':>8}{'mpy x64':>9}{'mpy xt':>8}{'qstrs':>6}{'esp32 mpy':>10}{'frozen':>8}")
    for x in m["modules"]:
        print(f"{x['module']:<18}{x['heap64']:>8}{x['mpy_x64']:>9}{x['mpy_xtensawin']:>8}{x['new_qstr']:>6}"
              f"{x['esp32_mpy_est']:>10}{x['esp32_frozen_est']:>8}")
    for k in ("import64", "runtime64", "start_objects64", "run_growth64", "buffers", "runtime32",
              "asyncio64", "sim64", "peak_live64", "esp32_mpy_kb", "esp32_frozen_kb", "blocks"):
        print(f"{k:<18}{m[k]:>10.1f}" if isinstance(m[k], float) else f"{k:<18}{m[k]:>8}")
    print("sim", m["sim"])
    print("objects", m["objects"], m["sizes"])


if __name__ == "__main__":
    _print(measure())
