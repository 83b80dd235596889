"""Heap budget of the firmware on the sim board, and what it maps to on a 32-bit ESP32.

Measured on the MicroPython unix port (64-bit) by boards/sim/programs/memory_probe.py: every
firmware module imported from ``.mpy`` (``mpy-cross -march=x64``, as ``make deploy BOARD=sim``
builds it), leaves first so each row is that module alone, as ``gc.mem_alloc()`` after
``gc.collect()`` around the import; then the objects the device allocates at start
(``Device``: flash log; ``start_hardware``: drivers, sampler rings, DSP chains, detector,
button) and the growth while the whole firmware runs for a few seconds (with the BLE
peripheral on the virtual radio when the BLE parts are there). The sim board's own
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

Measured instead of estimated when unix-port builds are named in the environment
(boards/README.md "Memory" shows how to build them): SPASMTRACK_MP32 (32-bit, the
firmware as .mpy compiled -march=x86), SPASMTRACK_MP32_FROZEN (32-bit with
boards/sim/manifest.py frozen in: the ESP32 configuration), SPASMTRACK_MP64_FROZEN.
``min_heap_kb`` bisects ``-X heapsize`` for the smallest heap that starts and runs it all.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from . import BenchFigure
from .. import BOARDS_DIR, FIRMWARE_DIR, REPO_ROOT, firmware
from ..mpybuild import build
from ..firmware import micropython

PROBE = firmware.PROGRAMS_DIR / "memory_probe.py"
#: What a plain ESP32 leaves free with BLE active (ARCHITECTURE.md "Memory").
ESP32_BUDGET_KB = 96
RUN_MS = 3000
_QI = re.compile(r"n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)")


def _ble_available() -> bool:
    return (FIRMWARE_DIR / "device" / "ble_peripheral.py").exists() and (BOARDS_DIR / "sim" / "bluetooth.py").exists()


def probe(exe: str, mpy_dir: Path | None, work: Path, ble: bool, heap_kb: int | None = None,
          lean: bool = False) -> dict:
    """Run the probe with the unix-port binary ``exe``: the firmware from ``mpy_dir``
    (compiled .mpy files), or frozen into ``exe`` when ``mpy_dir`` is None. Returns the
    probe's JSON plus per-step qstr counts (``steps``)."""
    flash = work / "flash"
    if flash.exists():
        shutil.rmtree(flash)
    flash.mkdir(parents=True)
    if mpy_dir:
        path = firmware.micropypath(mpy_dir, firmware=False, programs=False)
    else:                                   # the firmware frozen into exe comes first
        path = firmware.micropypath(".frozen", firmware=False, programs=False, frozen=False)
    env = firmware.unix_env(path)
    cmd = [exe] + (["-X", f"heapsize={heap_kb}K"] if heap_kb else []) + [str(PROBE), str(RUN_MS)]
    cmd += ["ble" if ble else "-"] + (["lean"] if lean else [])
    if ble:
        from ..ble.radio import VirtualRadio

        with VirtualRadio(work / "radio") as radio:
            env["SPASMTRACK_BLE_BRIDGE"] = radio.bridge_addr
            proc = subprocess.run(cmd, cwd=flash, env=env, capture_output=True, text=True, timeout=120)
    else:
        proc = subprocess.run(cmd, cwd=flash, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or "MEM " not in proc.stdout:
        raise RuntimeError(f"memory probe failed ({exe}): {(proc.stdout + proc.stderr)[-1500:]}")
    lines = proc.stdout.splitlines()
    steps: list[dict[str, Any]] = []
    for i, ln in enumerate(lines):
        if ln.startswith("ROW "):
            kind, name, nbytes = ln[4:].split("|")
            m = _QI.search(lines[i + 1])
            if m is None:
                raise RuntimeError(f"memory probe: no qstr line after {ln!r}")
            steps.append({"kind": kind, "name": name, "bytes": int(nbytes),
                          "n_qstr": int(m.group(1)), "qstr_text": int(m.group(2)),
                          "qstr_pool": int(m.group(3))})
    out = json.loads(next(ln for ln in lines if ln.startswith("MEM "))[4:])
    prev: dict[str, Any] | None = None
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


def min_heap_kb(exe: str, mpy_dir: Path | None, work: Path, ble: bool, lo: int = 64, hi: int = 512) -> int:
    """Smallest ``-X heapsize`` (KB, to 8 KB) with which the probe (sim parts + firmware
    start + running) completes: the heap the whole sim board really needs."""
    while hi - lo > 8:
        mid = (lo + hi) // 2 // 8 * 8
        try:
            probe(exe, mpy_dir, work, ble, heap_kb=mid, lean=True)
            hi = mid
        except RuntimeError:
            lo = mid
    return hi


def _summary(r: dict) -> dict:
    """Firmware import / start objects / growth while running / sim parts, in bytes."""
    by = lambda kind: {s["name"]: s["bytes"] for s in r["steps"] if s["kind"] == kind}  # noqa: E731
    fw, obj, sim, rt = by("firmware"), by("objects"), by("sim"), by("runtime")
    growth = max(r["run_peak_live"] - r["before_run"], 0)
    runtime = sum(obj.values()) + growth
    return {"modules": fw, "import": sum(fw.values()), "objects": obj, "run_growth": growth,
            "runtime": runtime, "asyncio": sum(rt.values()), "sim": sim, "sim_total": sum(sim.values()),
            "firmware_total": sum(fw.values()) + runtime + sum(rt.values()),
            "blocks": r["blocks"], "ble": r["ble"], "buffers": r["sizes"]}


def _mpy_sizes(out: Path) -> dict[str, int]:
    sizes = {}
    for p in out.rglob("*.mpy"):
        mod = ".".join(p.relative_to(out).with_suffix("").parts)
        sizes[mod.removesuffix(".__init__")] = p.stat().st_size
    return sizes


def _estimate_32(r: dict, xt: dict[str, int], x64: dict[str, int]) -> tuple[list[dict], float, float]:
    """Per-module ESP32 estimates from the 64-bit run (see the module docstring)."""
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
    sm = _summary(r)
    buffers = sum(sm["buffers"].values())
    rt32 = buffers + (sm["runtime"] - buffers) // 2 + sm["asyncio"] // 2
    return (mods, (sum(m["esp32_mpy_est"] for m in mods) + rt32) / 1024,
            (sum(m["esp32_frozen_est"] for m in mods) + rt32) / 1024)


#: Optional unix-port builds for measured (not estimated) figures, see boards/README.md:
#: env var -> (label, mpy-cross -march for .mpy files or None when the firmware is frozen in)
OPTIONAL_BUILDS = {
    "SPASMTRACK_MP32": ("unix32_mpy", "x86"),
    "SPASMTRACK_MP32_FROZEN": ("unix32_frozen", None),
    "SPASMTRACK_MP64_FROZEN": ("unix64_frozen", None),
}


def measure() -> dict:
    work = REPO_ROOT / "build" / "bench-memory"
    sim = build("sim", work / "mpy")                     # x64, as deployed to the sim board
    dev = build("esp32-devkitc", work / "mpy")           # xtensawin: the device's .mpy sizes
    x64 = _mpy_sizes(sim.out)
    xt = _mpy_sizes(dev.out)
    ble = _ble_available()
    r = probe(micropython(), sim.out, work, ble)
    mods, mpy_kb, frozen_kb = _estimate_32(r, xt, x64)
    res = {"unix64_mpy": _summary(r), "modules": mods, "ble": ble,
           "esp32_mpy_est_kb": mpy_kb, "esp32_frozen_est_kb": frozen_kb, "peak_live64": r["run_peak_live"],
           "min_heap_kb": {"unix64_mpy": min_heap_kb(micropython(), sim.out, work, ble)}}
    for var, (label, arch) in OPTIONAL_BUILDS.items():
        exe = os.environ.get(var)
        if not exe:
            continue
        mpy_dir = build("sim", work / f"mpy-{arch}", arch=arch).out if arch else None
        res[label] = _summary(probe(exe, mpy_dir, work, ble))
        res["min_heap_kb"][label] = min_heap_kb(exe, mpy_dir, work, ble)
    return res


def run() -> list[BenchFigure]:
    m = measure()
    u = m["unix64_mpy"]
    ble = "with the BLE peripheral on the virtual radio" if m["ble"] else "without BLE (its parts are missing)"
    table = {x["module"]: {k: v for k, v in x.items() if k != "module"} for x in m["modules"]}
    for label in ("unix32_mpy", "unix32_frozen", "unix64_frozen"):
        if label in m:
            for mod, nbytes in m[label]["modules"].items():
                table.setdefault(mod, {})[label] = nbytes
    kb = lambda b: round(b / 1024, 1)  # noqa: E731
    measured = {k: {kk: v[kk] for kk in ("import", "runtime", "asyncio", "firmware_total", "sim_total")}
                for k, v in m.items() if k.startswith("unix") and isinstance(v, dict)}
    figs = [
        BenchFigure("firmware_import_heap_kb", kb(u["import"]), "KB",
                    note=f"unix port 64-bit: sum over firmware modules imported from .mpy (x64), {ble}",
                    extra={"per_module": table}),
        BenchFigure("firmware_runtime_heap_kb", kb(u["runtime"]), "KB",
                    note=f"unix port 64-bit: objects at start (flash log, drivers, rings, chains, detector, "
                         f"button) + growth while running {RUN_MS} ms ({u['blocks']} blocks), {ble}",
                    extra={"steps": u["objects"], "run_growth_bytes": u["run_growth"],
                           "buffer_bytes": u["buffers"], "asyncio_bytes": u["asyncio"]}),
        BenchFigure("sim_parts_heap_kb", kb(u["sim_total"]), "KB",
                    note="boards/sim hardware layer (from source, as the sim board runs it): "
                         "simulators, machine, file storage" + (", bluetooth bridge" if m["ble"] else ""),
                    extra={"steps": u["sim"]}),
        BenchFigure("sim_board_min_heap_kb", m["min_heap_kb"]["unix64_mpy"], "KB",
                    note=f"smallest -X heapsize (8 KB steps) with which the sim board as deployed "
                         f"(64-bit, .mpy, sim parts, {ble}) starts and runs {RUN_MS} ms; make sim-board uses 384K",
                    extra={"min_heap_kb": m["min_heap_kb"]}),
    ]
    for label, est_key, how in (("unix32_mpy", "esp32_mpy_est_kb", ".mpy files (make deploy)"),
                                ("unix32_frozen", "esp32_frozen_est_kb", "frozen (boards/<b>/manifest.py)")):
        name = "esp32_firmware_heap_" + ("mpy" if "mpy" in label else "frozen") + "_kb"
        if label in m:
            figs.append(BenchFigure(name, kb(m[label]["firmware_total"]), "KB", f"<= {ESP32_BUDGET_KB}",
                                    note=f"measured on a 32-bit unix-port build, firmware as {how}, {ble} "
                                         "(32-bit objects as on the ESP32)",
                                    extra={"estimate_from_64bit_kb": round(m[est_key], 1), "builds": measured}))
        else:
            figs.append(BenchFigure(name, round(m[est_key], 1), "KB", f"<= {ESP32_BUDGET_KB}",
                                    note=f"estimate from the 64-bit run, firmware as {how}: bytecode and "
                                         "buffers kept, pointer-sized objects halved (module docstring)",
                                    extra={"builds": measured}))
    return figs


def _print(m: dict) -> None:
    print(f"{'module':<18}{'heap64':>8}{'mpy x64':>9}{'mpy xt':>8}{'qstrs':>6}{'esp32 mpy':>10}{'frozen':>8}")
    for x in m["modules"]:
        print(f"{x['module']:<18}{x['heap64']:>8}{x['mpy_x64']:>9}{x['mpy_xtensawin']:>8}{x['new_qstr']:>6}"
              f"{x['esp32_mpy_est']:>10}{x['esp32_frozen_est']:>8}")
    print("min heap KB", m["min_heap_kb"])
    print(f"estimates: ESP32 .mpy {m['esp32_mpy_est_kb']:.1f} KB, frozen {m['esp32_frozen_est_kb']:.1f} KB")
    for k, v in m.items():
        if k.startswith("unix"):
            print(k, {kk: v[kk] for kk in ("import", "runtime", "run_growth", "asyncio", "firmware_total",
                                          "sim_total", "blocks")})
            print("   modules", v["modules"])
            print("   objects", v["objects"], v["buffers"])
            print("   sim", v["sim"])


if __name__ == "__main__":
    _print(measure())
