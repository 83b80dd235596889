"""The one seam between the host and the firmware.

The host never re-declares what the firmware defines (record layout, control point,
detector configuration, flash-log format): it loads the firmware's own files. Two ways:

- :func:`core` loads a module of ``firmware/core/`` into CPython. The core package imports
  its siblings relatively (``from . import records``), so it is loaded here as the package
  ``spasmtrack._fwcore`` and every host module sees the same module objects.
- :func:`board_module` loads a board's file (``boards/<board>/coeffs.py``, the sim board's
  ``flash_storage.py``) and :func:`load_source` any other firmware-side file, with ``core``
  bound to the same package, so its ``from core import records`` sees the host's objects.
- :func:`micropython` / :func:`micropypath` / :func:`unix_command` / :func:`run_unix` run
  programs on the real MicroPython unix port with the firmware, the virtual board's hardware
  layer and the unix-port programs (:data:`PROGRAMS_DIR`, :func:`program`) on its module path;
  :func:`host_arch` is the ``mpy-cross -march`` of that binary.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

from spasmtrack import BOARDS_DIR, FIRMWARE_DIR, REPO_ROOT
from spasmtrack.errors import UserError

#: The hardware-free core (imports no ``machine`` or ``bluetooth``).
CORE_DIR = FIRMWARE_DIR / "core"
#: The device layer (sampler, hardware, app, BLE peripheral, button, runtime).
DEVICE_DIR = FIRMWARE_DIR / "device"
#: The virtual board's hardware layer (``machine``, ``bluetooth``, register-level parts).
SIM_BOARD_DIR = BOARDS_DIR / "sim"
#: Programs for the unix port that drive the firmware on the virtual board's hardware layer
#: (detector replay, demo and benchmark drivers, the BLE test device).
PROGRAMS_DIR = SIM_BOARD_DIR / "programs"

_PKG = "spasmtrack._fwcore"


class FirmwareMissing(UserError):
    """A firmware file or the MicroPython toolchain is not where the checkout puts it
    (a :class:`UserError`: the CLI reports it as one line)."""


def _core_package() -> ModuleType:
    pkg = sys.modules.get(_PKG)
    if pkg is not None:
        return pkg
    init = CORE_DIR / "__init__.py"
    spec = importlib.util.spec_from_file_location(_PKG, init, submodule_search_locations=[str(CORE_DIR)])
    if spec is None or spec.loader is None:
        raise FirmwareMissing(f"cannot load the firmware core from {CORE_DIR}")
    pkg = importlib.util.module_from_spec(spec)
    sys.modules[_PKG] = pkg
    spec.loader.exec_module(pkg)
    return pkg


def core(name: str) -> ModuleType:
    """``firmware/core/<name>.py`` loaded into CPython (once; the same object every call)."""
    _core_package()
    if not (CORE_DIR / f"{name}.py").is_file():
        raise FirmwareMissing(f"firmware/core/{name}.py not found")
    return importlib.import_module(f"{_PKG}.{name}")


_DOC_LINE = re.compile(r'^\s*\((\d+), "(\w+)", (-?\d+)\),\s*#\s*(.+?)\s*$')


def detconfig_docs() -> dict[int, str]:
    """Unit and meaning of each detector parameter by key: the comment on its line in
    ``firmware/core/detconfig.py`` (kept out of the device's heap, read from the source)."""
    out: dict[int, str] = {}
    for line in (CORE_DIR / "detconfig.py").read_text().splitlines():
        m = _DOC_LINE.match(line)
        if m:
            out[int(m.group(1))] = m.group(4)
    return out


def board_module(board: str, name: str = "coeffs") -> ModuleType:
    """``boards/<board>/<name>.py`` loaded into CPython (once per board and name)."""
    key = f"spasmtrack._board_{board.replace('-', '_')}_{name}"
    mod = sys.modules.get(key)
    if mod is None:
        mod = load_source(BOARDS_DIR / board / f"{name}.py", key)
    return mod


def load_source(path: Path, name: str) -> ModuleType:
    """A firmware-side Python file loaded into CPython as module ``name`` (kept in
    ``sys.modules``). While it runs, ``core`` names the host's firmware core package, so the
    file's ``from core import records`` binds the same module objects as :func:`core`."""
    if not path.is_file():
        raise FirmwareMissing(f"{path} not found")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FirmwareMissing(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        with _core_as_toplevel():
            spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod


@contextmanager
def _core_as_toplevel() -> Iterator[None]:
    saved = sys.modules.get("core")
    sys.modules["core"] = _core_package()
    try:
        yield
    finally:
        if saved is None:
            del sys.modules["core"]
        else:
            sys.modules["core"] = saved


def program(name: str) -> Path:
    """Path of the unix-port program ``boards/sim/programs/<name>.py``."""
    path = PROGRAMS_DIR / f"{name}.py"
    if not path.is_file():
        raise FirmwareMissing(f"boards/sim/programs/{name}.py not found")
    return path


def micropython() -> str:
    """Path of the MicroPython unix-port binary.

    ``SPASMTRACK_MICROPYTHON`` selects another build (a 32-bit or frozen unix port);
    otherwise the pinned one in the checkout's ``.venv``, then ``PATH``.
    """
    env = os.environ.get("SPASMTRACK_MICROPYTHON")
    if env:
        return env
    for exe in (Path(sys.executable).parent / "micropython", REPO_ROOT / ".venv" / "bin" / "micropython"):
        if exe.exists():
            return str(exe)
    found = shutil.which("micropython")
    if not found:
        raise FirmwareMissing("the MicroPython unix port is not installed: run `make setup`")
    return found


#: ``sys.implementation._mpy >> 10`` (the native-code architecture a MicroPython build runs)
#: -> its ``mpy-cross -march`` name (py/persistentcode.h MP_NATIVE_ARCH_*).
_MPY_ARCHES = ("", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
               "xtensa", "xtensawin", "rv32imc", "rv64imc")


def host_arch(exe: str | None = None) -> str:
    """``mpy-cross -march`` of the unix-port binary (``x64``; ``x86`` for a 32-bit build), asked
    of the binary itself, so tests and the sim board compile for the port that will load it."""
    exe = exe or micropython()
    proc = subprocess.run([exe, "-c", "import sys; print(sys.implementation._mpy >> 10 & 0x3F)"],
                          capture_output=True, text=True, timeout=60)
    try:
        arch = _MPY_ARCHES[int(proc.stdout.strip())]
    except (ValueError, IndexError):
        raise FirmwareMissing(f"cannot tell the native architecture of {exe}: "
                              f"{(proc.stdout + proc.stderr).strip()[:200]}") from None
    if not arch:
        raise FirmwareMissing(f"{exe} has no native emitter (viper): the firmware needs one")
    return arch


def mpy_cross() -> str:
    """Path of ``mpy-cross`` (the pinned one in the checkout's ``.venv``, then ``PATH``)."""
    for exe in (Path(sys.executable).parent / "mpy-cross", REPO_ROOT / ".venv" / "bin" / "mpy-cross"):
        if exe.exists():
            return str(exe)
    found = shutil.which("mpy-cross")
    if not found:
        raise FirmwareMissing("mpy-cross is not installed: run `make setup`")
    return found


def micropypath(*first: Path | str, board: str | None = None, firmware: bool = True,
                sim_board: bool = True, programs: bool = True, extra: Sequence[Path | str] = (),
                frozen: bool = True) -> str:
    """A ``MICROPYPATH``, in search order: ``first`` (e.g. a flash folder or a folder of
    ``.mpy`` files), the firmware source (unless ``firmware`` is false: a board runs what was
    deployed), ``boards/<board>`` (its ``coeffs.py``) when ``board`` is not the sim board, the
    virtual board's hardware layer (unless ``sim_board`` is false), the unix-port programs
    (unless ``programs`` is false), ``extra``, then the unix port's frozen modules."""
    parts = [str(p) for p in first]
    if firmware:
        parts.append(str(FIRMWARE_DIR))
    if board is not None and board != "sim":
        parts.append(str(BOARDS_DIR / board))
    if sim_board:
        parts.append(str(SIM_BOARD_DIR))
    if programs:
        parts.append(str(PROGRAMS_DIR))
    parts += [str(p) for p in extra]
    if frozen:
        parts.append(".frozen")
    return os.pathsep.join(parts)


def unix_env(path: str | None = None, **overrides: str) -> dict[str, str]:
    """The environment for a unix-port program: this process's, with ``MICROPYPATH`` set."""
    env = dict(os.environ)
    env["MICROPYPATH"] = path if path is not None else micropypath()
    env.update(overrides)
    return env


def unix_command(*args: str, heap: str | None = None) -> list[str]:
    """``micropython [-X heapsize=heap] args...`` as an argument list."""
    cmd = [micropython()]
    if heap:
        cmd += ["-X", f"heapsize={heap}"]
    return cmd + list(args)


def run_unix(script: Path | str, *args: str, path: str | None = None, heap: str | None = None,
             timeout: float | None = None, cwd: Path | str | None = None,
             **popen: Any) -> subprocess.CompletedProcess[str]:
    """Run ``script`` on the MicroPython unix port; returns the completed process (text)."""
    return subprocess.run(unix_command(str(script), *args, heap=heap), env=unix_env(path),
                          capture_output=True, text=True, timeout=timeout, cwd=cwd, **popen)
