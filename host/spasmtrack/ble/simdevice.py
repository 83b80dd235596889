"""Run the real firmware's flash log and BLE peripheral on the sim board (for tests, bench, demo).

:class:`SimBleDevice` starts ``micropython`` with the sim board's hardware layer and
``boards/sim/programs/ble_devmain.py`` in a flash folder, attached to a :class:`VirtualRadio`
through its bridge. ``kill()`` is a power cut (SIGKILL: the radio's watchdog ends the link
like a supervision timeout); ``start()`` again is the next boot on the same flash.
:func:`device_frames` reads the device's flash log from CPython (the firmware's own
``flashlog.py``) so a test can compare the database with what the device holds.
"""
from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from .. import FIRMWARE_DIR, firmware
from ..firmware import SIM_BOARD_DIR, micropython
from .radio import VirtualRadio

DEVICE_ADDR = "F0:5A:5A:00:00:01"


class SimBleDevice:
    def __init__(self, flash_dir: Path, radio: VirtualRadio, *, events: int = 0,
                 summaries: int = 0, trickle_ms: int = 0, heapsize: str | None = None,
                 txbuf: int | None = None, mac: str = DEVICE_ADDR, compiled: bool = False) -> None:
        """``compiled``: run the firmware as .mpy (as deployed; mpy-cross) so that
        ``heapsize="96K"`` measures what the device has left, not the compiler's needs."""
        self.flash_dir = Path(flash_dir)
        self.radio = radio
        self.events = events
        self.summaries = summaries
        self.trickle_ms = trickle_ms
        self.heapsize = heapsize
        self.txbuf = txbuf
        self.mac = mac
        self.compiled = compiled
        self.proc: subprocess.Popen[str] | None = None
        self.ready_line = ""
        self.output = ""

    def start(self, timeout_s: float = 60.0) -> str:
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        path = firmware.micropypath(*([self._compile()] if self.compiled else []))
        env = firmware.unix_env(path, SPASMTRACK_BLE_BRIDGE=self.radio.bridge_addr,
                   SPASMTRACK_SIM_MAC=self.mac, BLEDEV_EVENTS=str(self.events),
                   BLEDEV_SUMMARIES=str(self.summaries), BLEDEV_TRICKLE_MS=str(self.trickle_ms),
                   BLEDEV_EXIT_WITH_STDIN="1")
        if self.txbuf:
            env["SPASMTRACK_SIM_TXBUF"] = str(self.txbuf)
        cmd = [micropython()]
        if self.heapsize:
            cmd += ["-X", f"heapsize={self.heapsize}"]
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
                return self.ready_line

    def _compile(self) -> Path:
        out = self.flash_dir.parent / (self.flash_dir.name + "-mpy")
        out.mkdir(parents=True, exist_ok=True)
        cross = firmware.mpy_cross()
        srcs = [(FIRMWARE_DIR / f"{m}.py", f"{m}.mpy") for m in
                ("core/__init__", "core/records", "core/flashlog", "core/racp", "core/fwinfo",
                 "device/__init__", "device/ble_peripheral")]
        srcs += [(SIM_BOARD_DIR / "bluetooth.py", "bluetooth.mpy"),
                 (SIM_BOARD_DIR / "flash_storage.py", "flash_storage.mpy"),
                 (firmware.program("ble_devmain"), "ble_devmain.mpy")]
        for src, rel in srcs:
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([cross, "-o", str(dst), str(src)], check=True)
        return out

    def kill(self) -> None:
        """Power cut: no goodbye on the link. What the device printed is kept in ``output``."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
            if self.proc.stdout is not None:
                self.output += self.proc.stdout.read()
                self.proc.stdout.close()
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
