"""The frozen-firmware manifests (boards/<board>/manifest.py) list what `make deploy` copies.

The manifests are MicroPython manifest files (run by the port's tools/makemanifest.py, not
available here); this test runs them with stand-ins for ``include``/``module``/``package``
that resolve paths the way makemanifest does (relative to the manifest's own folder) and
checks every firmware module that mpybuild compiles is frozen, from a file that exists.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from spasmtrack import BOARDS_DIR, FIRMWARE_DIR
from spasmtrack.boards import known_boards
from spasmtrack.mpybuild import HOST_ONLY, build, deploy_plan, stale_dirs


def _run_manifest(path: Path, frozen: set[Path], includes: list[str]) -> None:
    def include(p: str, **_: object) -> None:
        if p.startswith("$("):
            includes.append(p)  # the port's own manifest ($(PORT_DIR), $(MPY_DIR))
            return
        _run_manifest((path.parent / p).resolve(), frozen, includes)

    def module(p: str, base_path: str = ".", opt: int | None = None) -> None:
        f = (path.parent / base_path / p).resolve()
        assert f.is_file(), f"{path}: module {p!r} not found at {f}"
        frozen.add(f)

    def package(p: str, files: list[str] | None = None, base_path: str = ".", opt: int | None = None) -> None:
        d = (path.parent / base_path / p).resolve()
        assert (d / "__init__.py").is_file(), f"{path}: package {p!r} not found at {d}"
        if files is None:
            frozen.update(f.resolve() for f in d.rglob("*.py"))
        else:
            for name in files:
                assert (d / name).is_file(), f"{path}: {p}/{name} not found"
                frozen.add((d / name).resolve())

    code = compile(path.read_text(), str(path), "exec")
    exec(code, {"include": include, "module": module, "package": package})


def _expected(board: str) -> set[Path]:
    want = {p.resolve() for p in FIRMWARE_DIR.rglob("*.py")
            if p.name not in HOST_ONLY and p.name != "main.py" and "__pycache__" not in p.parts}
    want.add((BOARDS_DIR / board / "coeffs.py").resolve())
    want.add((BOARDS_DIR / "sim" / "flash_storage.py").resolve())
    return want


@pytest.mark.parametrize("board", known_boards())
def test_manifest_freezes_every_deployed_firmware_module(board: str) -> None:
    path = BOARDS_DIR / board / "manifest.py"
    assert path.is_file(), f"boards/{board} has no manifest.py"
    frozen: set[Path] = set()
    includes: list[str] = []
    _run_manifest(path, frozen, includes)
    want = _expected(board)
    assert want - frozen == set(), f"not frozen: {sorted(str(p) for p in want - frozen)}"
    assert frozen - want == set(), f"frozen but not firmware: {sorted(str(p) for p in frozen - want)}"
    port = "$(MPY_DIR)/extmod/asyncio" if board == "sim" else "$(PORT_DIR)/boards/manifest.py"
    assert includes == [port]  # the port's modules (asyncio on the ESP32) come along
    assert (FIRMWARE_DIR / "main.py").resolve() not in frozen  # main.py stays a file


def test_frozen_deploy_copies_only_main_and_board_json_and_removes_shadowing_modules(tmp_path: Path) -> None:
    res = build("esp32-devkitc", tmp_path)
    files, stale = deploy_plan(res, frozen=True)
    assert sorted(str(f) for f in files) == ["board.json", "main.py"]
    for mod in ("device/runtime.mpy", "device/runtime.py", "core/records.mpy", "drivers/ads1292r.mpy",
                "drivers/ads1292r.py", "coeffs.mpy", "flash_storage.mpy"):
        assert mod in stale, mod
    # empty package folders left behind would still shadow the frozen packages
    assert stale_dirs(files, stale) == ["core", "device", "drivers"]
    files, stale = deploy_plan(res, frozen=False)
    assert "device/runtime.mpy" in {str(f) for f in files}
    assert "device/runtime.py" in stale and "device/runtime.mpy" not in stale
