"""Deployment: `make mpy` for every board, and `make deploy` to the virtual board on a pty.

The deploy test is the whole path a real board takes: the sim board (unix-port MicroPython
behind socat, as `make sim-board` starts it) is powered on with an empty flash, `make deploy
BOARD=sim PORT=<pty>` compiles, copies with mpremote, writes board.json and resets; the
board then boots the deployed firmware, which logs a BOOT record to its flash log and
reports on the console.
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from spasmtrack import REPO_ROOT
from spasmtrack import firmware
from spasmtrack import records as R
from spasmtrack.boards import known_boards
from spasmtrack.mpybuild import build
from spasmtrack.simboard import serve

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="socat missing (make setup)")


@pytest.mark.parametrize("name", [b for b in known_boards()])
def test_mpy_build_compiles_every_module_for_the_board_arch(name: str, tmp_path: Path) -> None:
    res = build(name, tmp_path)
    names = {str(f) for f in res.files}
    for must in ("main.py", "device/runtime.mpy", "device/app.mpy", "device/sampler.mpy", "core/dsp.mpy",
                 "coeffs.mpy", "core/flashlog.mpy", "core/records.mpy", "core/detector.mpy", "board.json",
                 "drivers/ads1292r.mpy", "drivers/mpu6050.mpy", "drivers/lsm6dso.mpy"):
        assert must in names, must
    assert "core/dsp_plain.mpy" not in names
    # .mpy header: "M", version 6, native arch in bits 2-7 of byte 2 (x86 = 1, x64 = 2,
    # xtensawin = 10); the sim board's is the unix port's own (x86 for a 32-bit build)
    hdr = (res.out / "core" / "dsp.mpy").read_bytes()[:4]
    want = firmware.host_arch() if res.board.data.get("mcu") == "unix" else res.board.arch
    assert res.arch == want
    arch = {"x86": 1, "x64": 2, "xtensawin": 10}[want]
    assert hdr[0] == ord("M") and hdr[1] == 6 and hdr[2] >> 2 == arch, hdr


def test_deploy_refuses_an_unknown_board_before_touching_the_port(tmp_path: Path) -> None:
    proc = subprocess.run(["make", "-s", "deploy", "BOARD=nope", f"PORT={tmp_path}/none"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "unknown board 'nope'" in proc.stderr


def _read_console(fd: int, until: str, timeout: float) -> str:
    buf = b""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
            if until.encode() in buf:
                break
    return buf.decode(errors="replace")


def _log_records(flash: Path) -> list[R.Record]:
    data = (flash / "spasmlog.bin").read_bytes()
    out = []
    off = data.find(b"\xa5")
    while 0 <= off < len(data):
        try:
            rec = R.decode_frame(data, off)
        except R.fw.RecordError:
            off = data.find(b"\xa5", off + 1)
            continue
        out.append(rec)
        off = data.find(b"\xa5", off + len(rec.raw))
    return out


def test_make_deploy_to_the_sim_board_boots_and_logs(tmp_path: Path) -> None:
    pty = tmp_path / "tty"
    flash = tmp_path / "flash"
    sock = serve(pty, flash, "384K")
    try:
        proc = subprocess.run(["make", "-s", "deploy", "BOARD=sim", f"PORT={pty}"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=90)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = proc.stdout
        assert "copied 21 files" in out or "copied" in out, out
        for f in ("main.py", "device/runtime.mpy", "drivers/ads1292r.mpy", "coeffs.mpy", "board.json"):
            assert f in out, f
        assert "bytes free of" in out and "reset" in out
        assert (flash / "device/runtime.mpy").is_file() and (flash / "board.json").is_file()
        fd = os.open(str(pty), os.O_RDWR | os.O_NOCTTY)
        try:
            text = _read_console(fd, "spasmtrack: status", 25)
        finally:
            os.close(fd)
        assert "spasmtrack: boot 1 (reset cause 5) board sim" in text, text
        assert "spasmtrack: running" in text, text
        assert "'blocks': " in text and "'dropped': 0" in text, text
        recs = _log_records(flash)
        boots = [r for r in recs if r.type_name == "BOOT"]
        assert boots and boots[0]["boot"] == 1 and boots[0]["reset_cause"] == 5, recs
        assert not [r for r in recs if r.type_name == "FAULT"], recs
        # FROZEN=1 needs an image with the firmware frozen in: the plain sim board has none,
        # so the deploy stops with a precise error before removing the compiled modules
        proc = subprocess.run(["make", "-s", "deploy", "BOARD=sim", f"PORT={pty}", "FROZEN=1"],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=90)
        assert proc.returncode != 0
        assert "has no frozen spasmtrack firmware" in proc.stderr, proc.stdout + proc.stderr
        assert (flash / "device/runtime.mpy").is_file() and (flash / "core" / "records.mpy").is_file()
    finally:
        sock.terminate()
        sock.wait(10)
