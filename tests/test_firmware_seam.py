"""spasmtrack.firmware, the one seam between the host and the firmware: every module gets the
same firmware objects, the module path has one order, a missing piece is one clear line."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from spasmtrack import BOARDS_DIR, FIRMWARE_DIR, firmware
from spasmtrack import records as R
from spasmtrack.errors import UserError


def test_core_modules_are_loaded_once_and_shared():
    assert firmware.core("records") is R.fw
    assert firmware.core("flashlog").R is R.fw          # flashlog's sibling import is the same module
    assert Path(firmware.core("detconfig").__file__) == FIRMWARE_DIR / "core" / "detconfig.py"


def test_board_module_is_the_boards_file():
    c = firmware.board_module("esp32-devkitc")
    assert Path(c.__file__) == BOARDS_DIR / "esp32-devkitc" / "coeffs.py"
    assert firmware.board_module("esp32-devkitc") is c
    assert firmware.board_module("sim", "flash_storage").RamFlash(4096, 4).ioctl(4, 0) == 4


def test_load_source_binds_core_to_the_hosts_package(tmp_path):
    src = tmp_path / "uses_core.py"
    src.write_text("from core import records\nTYPE = records.TYPE_EVENT\n")
    mod = firmware.load_source(src, "uses_core_test")
    assert mod.records is R.fw and mod.TYPE == R.TYPE_EVENT


def test_micropypath_order():
    parts = firmware.micropypath("flash", board="esp32-s3", extra=["x"]).split(os.pathsep)
    assert parts == ["flash", str(FIRMWARE_DIR), str(BOARDS_DIR / "esp32-s3"), str(firmware.SIM_BOARD_DIR),
                     str(firmware.PROGRAMS_DIR), "x", ".frozen"]
    # a board runs what was deployed: no firmware source, no programs
    assert firmware.micropypath("", firmware=False, programs=False).split(os.pathsep) == [
        "", str(firmware.SIM_BOARD_DIR), ".frozen"]


def test_programs_run_on_the_unix_port():
    assert firmware.program("replay_main").parent == firmware.PROGRAMS_DIR
    proc = firmware.run_unix("-c", "import replay_main, sys; print(sys.implementation.name)", timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "micropython", proc.stderr


def test_missing_pieces_are_one_line_user_errors(tmp_path, monkeypatch):
    for call in (lambda: firmware.core("nope"), lambda: firmware.program("nope"),
                 lambda: firmware.load_source(tmp_path / "nope.py", "nope")):
        with pytest.raises(UserError) as e:
            call()
        assert "\n" not in str(e.value) and "nope" in str(e.value)
    monkeypatch.setenv("SPASMTRACK_MICROPYTHON", "/opt/other/micropython")
    assert firmware.micropython() == "/opt/other/micropython"


def test_every_detector_parameter_states_its_unit_on_its_line():
    # the unit and meaning of each parameter is the comment on its line in detconfig.py
    # (read by the host for the report's methods table; kept out of the device's heap)
    dc = firmware.core("detconfig")
    docs = firmware.detconfig_docs()
    assert sorted(docs) == sorted(p[0] for p in dc.PARAMS)
    assert all(len(docs[p[0]]) > 8 for p in dc.PARAMS), docs
    assert all(len(p) == 3 for p in dc.PARAMS)
