"""`mpremote` against the virtual board while its main.py runs, as against an ESP32:
soft-reset, reset and exec without `resume` work; `df` reports the board's 2 MiB
filesystem and `fs ls` the files' real sizes (real mpremote, real unix port, real pty)."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from spasmtrack import REPO_ROOT
from spasmtrack.simboard import serve

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="socat missing (make setup)")

MPREMOTE = str(REPO_ROOT / ".venv" / "bin" / "mpremote")

# A firmware stand-in that never returns (like the real main.py) and counts its starts.
MAIN = """\
import time
try:
    n = int(open('starts').read())
except OSError:
    n = 0
open('starts', 'w').write(str(n + 1))
print('main: start', n + 1)
while True:
    time.sleep_ms(20)
"""


def mpr(pty: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MPREMOTE, "connect", str(pty), *args], capture_output=True, text=True,
                          timeout=40)


def count_starts(flash: Path) -> int:
    try:
        return int((flash / "starts").read_text())
    except (OSError, ValueError):      # not written yet, or being rewritten
        return 0


def wait_booted(flash: Path, more_than: int, timeout: float = 60.0) -> None:
    """Wait until main.py has started more than ``more_than`` times: the board has booted, as
    one waits for a board to come up before connecting. Connecting earlier is a race on a board
    too: mpremote's Ctrl-C interrupts main.py before it gets to count its start."""
    t0 = time.monotonic()
    while count_starts(flash) <= more_than:
        assert time.monotonic() - t0 < timeout, f"main.py did not start within {timeout} s"
        time.sleep(0.05)


def test_mpremote_soft_reset_reset_df_and_ls(tmp_path: Path) -> None:
    pty, flash = tmp_path / "tty", tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(MAIN)
    (flash / "data.bin").write_bytes(bytes(5000))
    sock = serve(pty, flash, "384K")
    try:
        wait_booted(flash, 0)
        r = mpr(pty, "exec", "import machine; print('cause', machine.reset_cause())")   # no resume
        assert r.returncode == 0 and "cause 5" in r.stdout, r.stdout + r.stderr
        assert "could not enter raw repl" not in r.stderr
        starts = int((flash / "starts").read_text())
        r = mpr(pty, "soft-reset")
        assert r.returncode == 0, r.stdout + r.stderr
        # a soft reset from the raw REPL skips main.py, as on a board
        r = mpr(pty, "resume", "exec", "print('alive')")
        assert r.returncode == 0 and "alive" in r.stdout
        assert int((flash / "starts").read_text()) == starts
        r = mpr(pty, "reset")
        assert r.returncode == 0, r.stdout + r.stderr
        # `mpremote reset` returns while the board still sleeps 100 ms before machine.reset();
        # a Ctrl-C sent in that window would cancel the reset on an ESP32 (and be lost on the
        # sim board): wait until the board is back, as a user does
        wait_booted(flash, starts)
        r = mpr(pty, "exec", "print('after reset')")     # a hard reset runs main.py again
        assert r.returncode == 0 and "after reset" in r.stdout
        assert int((flash / "starts").read_text()) > starts
        r = mpr(pty, "resume", "df")
        m = re.search(r"<SimFlash>\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+/", r.stdout)
        assert m, r.stdout
        size, used, avail, pct = map(int, m.groups())
        files = [p for p in flash.rglob("*") if p.is_file()]
        blocks = sum(-(-p.stat().st_size // 4096) for p in files) + 1
        assert size == 2 * 1024 * 1024 and used == blocks * 4096 and avail == size - used
        r = mpr(pty, "resume", "fs", "ls")
        sizes = {m.group(2): int(m.group(1)) for m in re.finditer(r"^\s*(\d+) (\S+)$", r.stdout, re.M)}
        assert sizes["data.bin"] == 5000 and sizes["main.py"] == len(MAIN)
    finally:
        sock.terminate()
        sock.wait(10)


def test_ctrl_c_at_power_on_waits_for_the_board(tmp_path: Path) -> None:
    """A Ctrl-C sent the moment the pty appears (mpremote on a slow machine) reaches the board
    once MicroPython runs; it must not kill the unix port's start-up (a CPython shim) and
    reboot the board under the host."""
    import os
    import select
    import termios
    import time
    import tty
    pty, flash = tmp_path / "tty", tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(MAIN)
    sock = serve(pty, flash, "384K")
    try:
        fd = os.open(pty, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        termios.tcflush(fd, termios.TCIFLUSH)
        os.write(fd, b"\r\x03\x03")                 # at once: the board is still starting
        out, t0 = b"", time.monotonic()
        while b">>> " not in out and time.monotonic() - t0 < 20:
            if select.select([fd], [], [], 0.5)[0]:
                out += os.read(fd, 4096)
        os.close(fd)
        text = out.decode(errors="replace")
        assert "KeyboardInterrupt" not in text and "Fatal Python error" not in text, text
        assert "MPY: soft reboot" not in text, text            # the board did not restart
        assert text.count("sim board: hardware layer") == 1, text
        assert "main.py interrupted; REPL ready" in text and text.rstrip().endswith(">>>"), text
    finally:
        sock.terminate()
        sock.wait(10)
