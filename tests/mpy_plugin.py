"""pytest plugin: collect ``mpt_*.py`` modules and run them in the real MicroPython unix port.

Each ``test_*`` function in such a module becomes one pytest item, reported by name. The
module runs once per session in a fresh ``micropython`` process (results are cached for its
items); a failure shows MicroPython's own traceback. A module that fails to import on
MicroPython is a collection error, which fails the suite.

A module may ask for a smaller heap with a first-lines comment ``# mpy-heapsize: 96K``
(the free heap of an ESP32 with BLE active).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from spasmtrack import firmware

ROOT = Path(__file__).resolve().parents[1]
#: the firmware, the virtual board's hardware layer and its programs, then the firmware tests
MPY_PATH = firmware.micropypath(extra=[ROOT / "tests" / "firmware"])
TIMEOUT_S = 600


def micropython_binary() -> str:
    """The unix port to test on: ``SPASMTRACK_MICROPYTHON`` (e.g. a 32-bit build), else the
    pinned one (spasmtrack.firmware.micropython)."""
    try:
        return firmware.micropython()
    except firmware.FirmwareMissing as exc:
        raise pytest.UsageError(str(exc)) from None


_host_arch: list[str] = []


def host_arch() -> str:
    """``mpy-cross -march`` of that binary (x64, or x86 for a 32-bit build), asked once."""
    if not _host_arch:
        _host_arch.append(firmware.host_arch(micropython_binary()))
    return _host_arch[0]


def run_micropython(code: str, heapsize: str | None = None, timeout: float = TIMEOUT_S,
                    cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in the MicroPython unix port with the firmware on its path."""
    env = firmware.unix_env(MPY_PATH)
    cmd = [micropython_binary()]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    cmd += ["-c", code]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=str(cwd or ROOT))


class MicroPythonError(Exception):
    pass


def _heapsize(path: Path) -> str | None:
    head = path.read_text().splitlines()[:5]
    for line in head:
        m = re.match(r"#\s*mpy-heapsize:\s*(\S+)", line)
        if m:
            return m.group(1)
    return None


class MpyModule(pytest.File):
    def collect(self):
        modname = self.path.stem
        heap = _heapsize(self.path)
        proc = run_micropython(f"import mpunit; mpunit.main({modname!r}, 'list')", heap, cwd=self.path.parent)
        out = proc.stdout
        if "@@IMPORTFAIL" in out or "@@END" not in out:
            raise MicroPythonError(
                f"{self.path.name} failed to import on MicroPython:\n{out}{proc.stderr}")
        self._results: dict[str, tuple[str, str]] | None = None
        self._heap = heap
        for line in out.splitlines():
            if line.startswith("@@TEST "):
                yield MpyItem.from_parent(self, name=line.split(" ", 1)[1])

    def results(self) -> dict[str, tuple[str, str]]:
        if self._results is None:
            proc = run_micropython(f"import mpunit; mpunit.main({self.path.stem!r}, 'run')",
                                   self._heap, cwd=self.path.parent)
            self._results = parse_run(proc.stdout + proc.stderr, proc.returncode)
        return self._results


def parse_run(out: str, returncode: int) -> dict[str, tuple[str, str]]:
    results: dict[str, tuple[str, str]] = {}
    current: str | None = None
    buf: list[str] = []
    for line in out.splitlines():
        if line.startswith("@@BEGIN "):
            current, buf = line.split(" ", 1)[1], []
        elif line.startswith("@@PASS ") and current:
            results[current] = ("pass", "\n".join(buf))
            current = None
        elif line.startswith("@@SKIP ") and current:
            parts = line.split(" ", 2)
            results[current] = ("skip", parts[2] if len(parts) > 2 else "")
            current = None
        elif line.startswith("@@FAIL ") and current:
            results[current] = ("fail", "")
            buf = []
        elif line == "@@END":
            break
        else:
            if current and current in results and results[current][0] == "fail":
                results[current] = ("fail", results[current][1] + line + "\n")
            else:
                buf.append(line)
    if current is not None and current not in results:
        # the process died inside a test (crash, MemoryError at top level, timeout)
        results[current] = ("fail", "micropython exited (code %d) inside this test:\n%s"
                            % (returncode, "\n".join(buf[-40:])))
    return results


class MpyItem(pytest.Item):
    def runtest(self) -> None:
        res = self.parent.results().get(self.name)
        if res is None:
            raise MicroPythonError(f"{self.name} produced no result (micropython died earlier)")
        status, text = res
        if status == "skip":
            pytest.skip(text)
        if status == "fail":
            raise MicroPythonError(text)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonError):
            return f"MicroPython test failed: {self.path.name}::{self.name}\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"mpy: {self.name}"


def pytest_collect_file(parent, file_path: Path):
    if file_path.suffix == ".py" and file_path.name.startswith("mpt_"):
        return MpyModule.from_parent(parent, path=file_path)
    return None
