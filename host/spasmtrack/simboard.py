"""The virtual board on a pty: ``make sim-board`` / ``python -m spasmtrack.simboard``.

Runs the MicroPython unix port with the sim board's hardware layer (boards/sim) in the
board's flash folder (build/sim-board/flash by default), behind a pty made by socat, so
``mpremote connect PTY resume ...`` reaches it like a USB board. Like a board it runs
``main.py`` from its flash at power-on and leaves the REPL to mpremote (Ctrl-C
interrupts main.py: the pty has ISIG on, so it arrives as SIGINT); ``machine.reset()``
ends the process and the launcher loop powers it on again with the reset cause.

``--loop`` is the part socat executes: power the board on again after each reset.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import BOARDS_DIR, REPO_ROOT, firmware
from .errors import UserError

DEFAULT_DIR = REPO_ROOT / "build" / "sim-board"
#: machine.reset() on the sim board exits with 100 + machine.*_RESET
RESET_EXIT_BASE = 100
SOFT_RESET = 5


def micropython() -> str:
    """The unix-port binary: $SPASMTRACK_MICROPYTHON (e.g. a build with the firmware frozen
    in, boards/README.md "Memory"), else the venv's."""
    return firmware.micropython()


def board_env(heapsize: str | None) -> dict[str, str]:
    # the flash folder (cwd) first, then the sim hardware layer; never the source tree's
    # firmware/: the board runs what was deployed
    return firmware.unix_env(firmware.micropypath("", firmware=False, programs=False))


def loop(flash: Path, heapsize: str | None) -> int:
    """Power the board on, and again after every reset, until the pty goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the board, not for us
    flash.mkdir(parents=True, exist_ok=True)
    cause = 1  # PWRON_RESET
    fast_exits = 0
    while True:
        cmd = [micropython()]
        if heapsize:
            cmd += ["-X", f"heapsize={heapsize}"]
        cmd += ["-i", str(BOARDS_DIR / "sim" / "simboot.py")]
        env = board_env(heapsize)
        env["SIM_RESET_CAUSE"] = str(cause)
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=flash, env=env,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        rc = proc.returncode
        if rc < 0 and -rc in (signal.SIGHUP, signal.SIGTERM, signal.SIGKILL):
            return 0  # the pty closed: power off
        cause = rc - RESET_EXIT_BASE if RESET_EXIT_BASE < rc < RESET_EXIT_BASE + 10 else SOFT_RESET
        fast_exits = fast_exits + 1 if time.monotonic() - t0 < 1.0 else 0
        if fast_exits > 5:
            time.sleep(1.0)  # a boot loop: do not spin


def serve(pty: Path, flash: Path, heapsize: str | None) -> subprocess.Popen:
    """Start socat with the board loop behind ``pty``; returns the socat process."""
    if shutil.which("socat") is None:
        raise UserError("socat not found: run `make setup` (it installs the Debian package)")
    pty.parent.mkdir(parents=True, exist_ok=True)
    flash.mkdir(parents=True, exist_ok=True)
    inner = f"{sys.executable} -m spasmtrack.simboard --loop --flash {flash.resolve()}"
    if heapsize:
        inner += f" --heapsize {heapsize}"
    cmd = ["socat", f"PTY,link={pty},raw,echo=0",
           f"EXEC:{inner},pty,setsid,ctty,raw,echo=0,isig=1"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT / "host") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    while not pty.exists():
        if proc.poll() is not None:
            raise UserError(f"socat exited: {proc.stderr.read().decode().strip()}")
        if time.monotonic() - t0 > 10:
            proc.kill()
            raise UserError(f"socat did not create {pty} within 10 s")
        time.sleep(0.05)
    return proc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pty", type=Path, default=DEFAULT_DIR / "tty")
    ap.add_argument("--flash", type=Path, default=DEFAULT_DIR / "flash")
    ap.add_argument("--heapsize", default="384K",
                    help="micropython -X heapsize (default 384K: the firmware as .mpy with BLE "
                    "plus the simulated parts and radio bridge need at least ~304K on this 64-bit "
                    "port, bench/memory.py sim_board_min_heap_kb; boards/README.md 'Memory' maps it "
                    "to the ESP32); 'none' for the port's default")
    ap.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    heap = None if args.heapsize == "none" else args.heapsize
    try:
        if args.loop:
            return loop(args.flash, heap)
        proc = serve(args.pty, args.flash, heap)
    except UserError as exc:
        print(f"sim-board: {exc}", file=sys.stderr)
        return 2
    print(f"sim board on {args.pty} (flash folder {args.flash}); try:\n"
          f"  mpremote connect {args.pty} resume exec \"import sys; print(sys.platform)\"\n"
          f"  make deploy BOARD=sim PORT={args.pty}\nCtrl-C stops it.", flush=True)
    def _stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)  # `kill` stops the board too, not just us
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()  # socat closes the pty: the board loop and micropython get SIGHUP
        proc.wait(5)
        return 0


if __name__ == "__main__":
    sys.exit(main())
