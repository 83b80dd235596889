"""Run the real firmware's flash log and BLE peripheral on the sim board (for tests, bench, demo).

:class:`SimBleDevice` starts ``micropython`` with the sim board's hardware layer and
``boards/sim/programs/ble_devmain.py`` in a flash folder, attached to a :class:`VirtualRadio`
through its bridge. The device's console is read by a thread: :meth:`passkey` returns the
passkey the device shows while a host pairs (its LED code) and :meth:`press_pair_button`
is the patient's long press that opens the pairing window (``pair_window_s``: a window
already open at boot). ``kill()`` is a power cut (SIGKILL: the radio's watchdog ends the link
like a supervision timeout); ``start()`` again is the next boot on the same flash.
:func:`device_frames` reads the device's flash log from CPython (the firmware's own
``flashlog.py``) so a test can compare the database with what the device holds.
"""
from __future__ import annotations

import signal
import queue
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .. import FIRMWARE_DIR, firmware
from ..firmware import SIM_BOARD_DIR, micropython
from .radio import VirtualRadio

if TYPE_CHECKING:
    from .bumble_backend import BumbleRadio

DEVICE_ADDR = "F0:5A:5A:00:00:01"


#: The heap an ESP32 has left with BLE active (about 96 KB), as this 64-bit unix port needs it
#: for the same .mpy firmware: 169.0 KB here against 124.8 KB on a 32-bit build
#: (docs/firmware-integrity.md "Memory"), so 96 x 169.0 / 124.8 = 130 KB.
ESP32_FREE_HEAP_ON_THIS_PORT = "130K"


class SimBleDevice:
    def __init__(self, flash_dir: Path, radio: VirtualRadio, *, events: int = 0,
                 summaries: int = 0, trickle_ms: int = 0, heapsize: str | None = None,
                 txbuf: int | None = None, mac: str = DEVICE_ADDR, compiled: bool = False,
                 pair_window_s: int = 600) -> None:
        """``compiled``: run the firmware as .mpy (as deployed; mpy-cross) so that
        ``heapsize=ESP32_FREE_HEAP_ON_THIS_PORT`` measures what the device has left, not the compiler's needs.
        The sim board's ``bluetooth`` stand-in (Python here, C in NimBLE on the ESP32) gets
        its own measured heap on top of ``heapsize`` (:meth:`sim_stack_heap`)."""
        self.flash_dir = Path(flash_dir)
        self.radio = radio
        self.events = events
        self.summaries = summaries
        self.trickle_ms = trickle_ms
        self.heapsize = heapsize
        self.txbuf = txbuf
        self.mac = mac
        self.compiled = compiled
        self.pair_window_s = pair_window_s
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._out: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self.ready_line = ""
        self.output = ""

    def start(self, timeout_s: float = 60.0) -> str:
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        compiled = self._compile() if self.compiled else None
        path = firmware.micropypath(*([compiled] if compiled is not None else []))
        env = firmware.unix_env(path, SPASMTRACK_BLE_BRIDGE=self.radio.bridge_addr,
                   SPASMTRACK_SIM_MAC=self.mac, BLEDEV_EVENTS=str(self.events),
                   BLEDEV_SUMMARIES=str(self.summaries), BLEDEV_TRICKLE_MS=str(self.trickle_ms),
                   BLEDEV_EXIT_WITH_STDIN="1", BLEDEV_PAIR_WINDOW_S=str(self.pair_window_s))
        if self.txbuf:
            env["SPASMTRACK_SIM_TXBUF"] = str(self.txbuf)
        cmd = [micropython()]
        if self.heapsize:
            kib = int(self.heapsize.rstrip("Kk"))
            if compiled is not None:
                kib += self.sim_stack_heap(str(compiled), env) // 1024 + 1
            cmd += ["-X", f"heapsize={kib}K"]
        cmd += ["-c", "import ble_devmain; ble_devmain.main()"]
        # stdin is a pipe that only this process holds: if it dies (a test killed by the
        # timeout, a crashed worker) the device sees EOF and exits instead of lingering
        self.proc = subprocess.Popen(cmd, cwd=self.flash_dir, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        lines: list[str] = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.kill()
                raise RuntimeError("sim device exited before it was ready:\n" + "".join(lines))
            lines.append(line)
            if line.startswith("BLEDEV READY"):
                self.ready_line = line.strip()
                self._lines = queue.Queue()
                self._reader = threading.Thread(target=self._read_console, args=(self.proc,),
                                                daemon=True)
                self._reader.start()
                return self.ready_line

    def _read_console(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._out.append(line)
            if line.startswith("BLEDEV PASSKEY") or line.startswith("BLEDEV PAIRING"):
                self._lines.put(line.strip())

    def passkey(self, timeout_s: float = 10.0) -> int:
        """The next passkey the device shows (what the patient reads off its LED)."""
        deadline = timeout_s
        while True:
            line = self._lines.get(timeout=deadline)
            if line.startswith("BLEDEV PASSKEY"):
                return int(line.split()[2])

    def press_pair_button(self, timeout_s: float = 10.0) -> None:
        """The patient's long press: the pairing window opens."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write("PAIR\n")
        self.proc.stdin.flush()
        while self._lines.get(timeout=timeout_s) != "BLEDEV PAIRING OPEN":
            pass

    @staticmethod
    def sim_stack_heap(path0: str, env: dict[str, str]) -> int:
        """Bytes of heap the sim board's Python BLE stack (``bluetooth`` + ``simwire``, its
        ``BLE()`` object, activated: socket, poller and reader thread to the bridge) takes:
        on the ESP32 this is NimBLE's C and the binding's state, outside the MicroPython
        heap."""
        code = ("import gc\ngc.collect()\na=gc.mem_alloc()\nimport bluetooth\n"
                "b=bluetooth.BLE()\nb.active(True)\ngc.collect()\nprint(gc.mem_alloc()-a)")
        out = subprocess.run([micropython(), "-c", code], env=env, capture_output=True,
                             text=True, check=True, cwd=path0, timeout=30)
        return int(out.stdout.strip().splitlines()[-1])

    def _compile(self) -> Path:
        out = self.flash_dir.parent / (self.flash_dir.name + "-mpy")
        out.mkdir(parents=True, exist_ok=True)
        cross = firmware.mpy_cross()
        march = f"-march={firmware.host_arch()}"  # records.py has viper code: native arch needed
        srcs = [(FIRMWARE_DIR / f"{m}.py", f"{m}.mpy") for m in
                ("core/__init__", "core/records", "core/flashlog", "core/racp", "core/fwinfo",
                 "device/__init__", "device/ble_peripheral")]
        srcs += [(SIM_BOARD_DIR / "bluetooth.py", "bluetooth.mpy"),
                 (SIM_BOARD_DIR / "simwire.py", "simwire.mpy"),
                 (SIM_BOARD_DIR / "flash_storage.py", "flash_storage.mpy"),
                 (firmware.program("ble_devmain"), "ble_devmain.mpy")]
        for src, rel in srcs:
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([cross, march, "-o", str(dst), str(src)], check=True)
        return out

    def kill(self) -> None:
        """Power cut: no goodbye on the link. What the device printed is kept in ``output``."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
            if self._reader is not None:
                self._reader.join(5)
                self._reader = None
            elif self.proc.stdout is not None:
                self._out.append(self.proc.stdout.read())
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.output += "".join(self._out)
            self._out = []
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        self.proc = None

    def stats(self) -> list[dict[str, int]]:
        """The peripheral's counters printed after each report (``BLEDEV STATS``)."""
        out = []
        for line in self.output.splitlines():
            if line.startswith("BLEDEV STATS "):
                out.append({k: int(v) for k, v in (kv.split("=") for kv in line.split()[2:])})
        return out

    stop = kill

    def __enter__(self) -> "SimBleDevice":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


async def pair_sim(device: "SimBleDevice", radio: "BumbleRadio | None" = None, name: str = "ST-sim",
                   timeout_s: float = 10.0) -> str:
    """What the patient does once: find the device in its pairing window (it advertises a
    private address and, in the window, a neutral name), pair over ``radio`` (the host's
    Bumble stack and bond store; None: :meth:`BumbleRadio.from_env`) with the passkey it shows. Returns the identity address
    the bond is stored under (what sync connects to)."""
    return await pair_by_name(name, device.passkey, radio, timeout_s)


async def pair_by_name(name: str, passkey: Callable[[], int], radio: "BumbleRadio | None" = None,
                       timeout_s: float = 10.0) -> str:
    """Scan ``radio`` for ``name``, connect to the private address it advertises from and
    pair, typing ``passkey()`` (blocking: called in a thread) when asked; the identity address."""
    import asyncio

    from bleak import BleakClient, BleakScanner

    from . import bumble_backend as bb

    async def shown() -> int:
        return await asyncio.get_running_loop().run_in_executor(None, passkey)

    scanner: dict[str, Any] = {"backend": bb.BumbleScanner, "radio": radio}   # passed on to the backend
    found = await BleakScanner.find_device_by_name(name, timeout=timeout_s, **scanner)
    if found is None:
        raise RuntimeError(f"no device named {name!r} advertises (pairing window closed?)")
    previous = bb.passkey_source
    bb.passkey_source = shown
    try:
        c = BleakClient(found.address, backend=bb.BumbleClient, pair=True, timeout=timeout_s,
                        radio=radio)
        await c.connect()
        try:
            return str(c._backend.identity_address)   # type: ignore[attr-defined]
        finally:
            await c.disconnect()
    finally:
        bb.passkey_source = previous


def device_frames(flash_dir: Path, blocks: int = 256) -> tuple[list[bytes], int]:
    """Every record frame in the sim device's flash log (oldest first) and its acked seq."""
    from .. import records as R
    fl = firmware.core("flashlog")
    fs = firmware.board_module("sim", "flash_storage")
    st = fs.FileFlash(str(Path(flash_dir) / "spasmlog.bin"), 4096, blocks)
    try:
        log = fl.FlashLog(st)
        buf = bytearray(R.MAX_FRAME)
        frames = [bytes(buf[:n]) for n in log.read_from(1, buf)]
        return frames, log.acked_seq
    finally:
        if hasattr(st, "close"):
            st.close()
