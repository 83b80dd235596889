# MicroPython (unix port) side of bench/memory.py: the heap cost of each firmware module
# imported from .mpy, of the sim board's simulated parts, and of the objects the device
# runtime allocates at start, measured as gc.mem_alloc() after gc.collect() around each step.
# Run in a scratch flash folder (cwd) with MICROPYPATH = <mpy build dir>:boards/sim:.frozen
#   micropython memory_probe.py RUN_MS [ble|-] [lean]
# Prints "ROW kind|name|bytes" + the qstr_info() line per step, then "MEM <json>".
import gc
import json
import sys

import micropython

if sys.path and sys.path[0] != "":
    sys.path[0] = ""  # the flash folder first, as on the sim board

gc.collect()
_BASE = gc.mem_alloc()
_rows = []


def _used():
    gc.collect()
    return gc.mem_alloc()


def step(kind, name, fn):
    a = _used()
    r = fn()
    b = _used()
    _rows.append((kind, name, b - a))
    print("ROW %s|%s|%d" % (kind, name, b - a))
    micropython.qstr_info()  # next line: "qstr pool: ... n_total_bytes=N" (host pairs them)
    return r


def imp(kind, name):
    return step(kind, name, lambda: __import__(name))


RUN_MS = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
WITH_BLE = len(sys.argv) > 2 and sys.argv[2] == "ble"
LEAN = len(sys.argv) > 3 and sys.argv[3] == "lean"  # min-heap runs: skip the buffer walk

# the interpreter's own frozen asyncio (frozen on the ESP32 build too)
imp("runtime", "asyncio")
# -- the sim board's hardware layer (not on a device) --------------------------------------
for m in ("simhw", "machine", "sources", "ads1292r_sim", "mpu6050_sim", "flash_storage"):
    imp("sim", m)
if WITH_BLE:
    imp("sim", "bluetooth")
import simhw  # noqa: E402

board = simhw.load_board_json(simhw._here() + "/board.json")
step("sim", "parts (simhw.setup)", lambda: simhw.setup(board))
# -- the firmware, leaves first (each row: that module alone) --------------------------------
for m in ("core", "core.records", "core.fwinfo", "core.dsp", "coeffs", "core.dspchain",
          "core.detconfig", "core.detector", "drivers", "drivers.ads1292r", "drivers.mpu6050",
          "device", "device.sampler", "core.flashlog", "device.button", "device.hardware",
          "device.app", "device.runtime"):
    imp("firmware", m)
if WITH_BLE:
    for m in ("core.racp", "device.ble_peripheral"):
        imp("firmware", m)
# -- the runtime's objects at start ---------------------------------------------------------
from device import runtime as device  # noqa: E402
import flash_storage  # noqa: E402

store = step("sim", "flash storage file", lambda: flash_storage.FileFlash("spasmlog.bin", 4096, 256))
dev = step("objects", "Device (flash log open, BOOT record)",
           lambda: device.Device(board, store, console=False))
step("objects", "hardware + app (drivers, sampler rings, chains, detector, button)",
     dev.start_hardware)
_sizes = {}


def _buffers(obj, seen, depth=0):
    """Bytes of array/bytearray payloads reachable from obj (same size on 32 and 64 bit)."""
    if depth > 6 or id(obj) in seen:
        return 0
    seen[id(obj)] = 1
    t = type(obj)
    if t is bytearray:
        return len(obj)
    if t.__name__ == "array":
        return len(obj) * len(bytes(memoryview(obj)[0:1])) if len(obj) else 0  # items * itemsize
    if t in (list, tuple):
        return sum(_buffers(x, seen, depth + 1) for x in obj)
    if t is dict:
        return sum(_buffers(x, seen, depth + 1) for x in obj.values())
    if t.__name__ in ("module", "type", "function", "bound_method", "closure", "generator"):
        return 0
    d = getattr(obj, "__dict__", None)
    if d is not None:
        return sum(_buffers(x, seen, depth + 1) for x in d.values())
    return 0


_seen = {id(store): 1}  # not the sim's file storage (an esp32.Partition on a device)
if not LEAN:
    _sizes["log_buffer_bytes"] = _buffers(dev.log, _seen)
    _sizes["app_buffer_bytes"] = _buffers(dev.app, _seen)
    _sizes["hw_buffer_bytes"] = _buffers(dev.hw, _seen)
    if dev.button is not None:
        _sizes["button_buffer_bytes"] = _buffers(dev.button, _seen)

peak = [0]


async def _probe():
    import asyncio

    t = asyncio.create_task(dev.run())
    ticks = RUN_MS // 250
    for _ in range(ticks):
        await asyncio.sleep_ms(250)
        u = _used()
        if u > peak[0]:
            peak[0] = u
    if dev.ble is not None and not LEAN:
        _sizes["ble_buffer_bytes"] = _buffers(dev.ble, _seen)
    t.cancel()
    try:
        await t
    except BaseException:  # noqa: CancelledError
        pass


if not WITH_BLE:
    dev._start_ble = lambda: None  # the device runs without a radio
before_run = _used()
import asyncio  # noqa: E402

asyncio.run(_probe())
print("MEM " + json.dumps({"base": _BASE, "rows": _rows, "sizes": _sizes,
                           "run_peak_live": peak[0], "before_run": before_run, "after_run": _used(),
                           "blocks": dev.app.blocks, "ble": dev.ble is not None,
                           "heap_total": gc.mem_alloc() + gc.mem_free()}))
