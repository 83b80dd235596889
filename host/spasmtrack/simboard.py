"""The virtual board on a pty: ``make sim-board`` / ``python -m spasmtrack.simboard``.

Runs the MicroPython unix port with the sim board's hardware layer (boards/sim) in the
board's flash folder (build/sim-board/flash by default), behind a pty made by socat, so
``mpremote connect PTY ...`` reaches it like a USB board. Like a board it runs ``main.py``
from its flash at power-on and leaves the REPL to mpremote (Ctrl-C interrupts main.py: the
board's own pty has ISIG on, so it arrives as SIGINT); ``machine.reset()`` ends the process
and the launcher loop powers it on again with the reset cause.

A soft reset (Ctrl-D in the raw REPL or at the ``>>>`` prompt) ends the unix port's
process with exit code 0; the launcher then prints ``MPY: soft reboot`` as the ESP32 port
does and starts the board again with reset cause SOFT. As on a board, a soft reset from the
raw REPL skips ``main.py`` and comes back in the raw REPL, so ``mpremote soft-reset``,
``reset`` and ``exec`` without ``resume`` work while the firmware runs. For this the
launcher relays the bytes between socat's pty and the board's own pty and notes whether the
host last asked for the raw REPL (Ctrl-A) or left it (Ctrl-B).

``--loop`` is the part socat executes: power the board on again after each reset.
"""
from __future__ import annotations

import argparse
import os
import pty
import select
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


#: What the ESP32 port prints on a soft reset (ports/esp32/main.c).
SOFT_REBOOT_BANNER = b"MPY: soft reboot\r\n"
_CTRL_A, _CTRL_B = 0x01, 0x02


def _start_board(flash: Path, heapsize: str | None, cause: int, raw: bool) -> tuple[int, int]:
    """Fork the unix port on a pty of its own (ISIG on, so Ctrl-C is SIGINT); (pid, master fd)."""
    import termios
    import tty
    cmd = firmware.unix_command("-i", str(BOARDS_DIR / "sim" / "simboot.py"), heap=heapsize)
    env = board_env(heapsize)
    env["SIM_RESET_CAUSE"] = str(cause)
    if raw:
        env["SIM_SKIP_MAIN"] = "1"      # a soft reset from the raw REPL does not run main.py
    pid, master = pty.fork()
    if pid == 0:                        # the board: its pty is stdin, stdout and terminal
        try:
            tty.setraw(0)
            attrs = termios.tcgetattr(0)
            attrs[3] |= termios.ISIG
            termios.tcsetattr(0, termios.TCSANOW, attrs)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.chdir(flash)
            os.execve(cmd[0], cmd, env)
        finally:
            os._exit(127)
    return pid, master


def _relay(pid: int, master: int, raw: bool) -> tuple[int | None, bool]:
    """Copy bytes both ways until the board exits (-> its exit code) or the host side
    closes (-> None); also returns whether the host last chose the raw REPL. After a soft
    reset in the raw REPL (``raw`` on entry) the board is put back into it at its prompt."""
    host_in, host_out = sys.stdin.fileno(), sys.stdout.fileno()
    to_raw = raw
    seen = b""
    while True:
        r, _, _ = select.select([host_in, master], [], [], 1.0)
        if host_in in r:
            data = os.read(host_in, 4096)
            if not data:
                return None, raw
            for b in data:
                if b == _CTRL_A:
                    raw = True
                elif b == _CTRL_B:
                    raw = False
            try:
                os.write(master, data)
            except OSError:
                pass
        if master in r:
            try:
                data = os.read(master, 4096)
            except OSError:
                data = b""
            if data:
                os.write(host_out, data)
                if to_raw:
                    seen = (seen + data)[-16:]
                    if seen.endswith(b">>> "):         # the REPL reads input now
                        os.write(master, bytes([_CTRL_A]))
                        to_raw = False
                continue
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status), raw


def loop(flash: Path, heapsize: str | None) -> int:
    """Power the board on, and again after every reset, until the pty goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is a byte for the board, not for us
    flash.mkdir(parents=True, exist_ok=True)
    cause = 1  # PWRON_RESET
    fast_exits = 0
    raw = False
    while True:
        t0 = time.monotonic()
        pid, master = _start_board(flash, heapsize, cause, raw)
        rc, raw = _relay(pid, master, raw)
        os.close(master)
        if rc is None:                  # the pty closed: power off
            try:
                os.kill(pid, signal.SIGHUP)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            return 0
        if RESET_EXIT_BASE < rc < RESET_EXIT_BASE + 10:
            cause, raw = rc - RESET_EXIT_BASE, False     # machine.reset(): a hard reset
        else:
            cause = SOFT_RESET
            if rc != 0:
                raw = False             # a crash: like a watchdog, back to the friendly REPL
            os.write(sys.stdout.fileno(), SOFT_REBOOT_BANNER)
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
           f"EXEC:{inner},pty,setsid,ctty,raw,echo=0,isig=0"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT / "host") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
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
