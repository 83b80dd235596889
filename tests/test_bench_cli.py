"""``python -m spasmtrack.bench``: a mistyped benchmark name is a one-line error, not a traceback."""
from __future__ import annotations

import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spasmtrack.bench", *args], capture_output=True, text=True,
                          timeout=120)


def test_unknown_benchmark_names_the_known_ones_and_exits_2():
    r = _run("detectr")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "unknown benchmark detectr" in r.stderr and "detector" in r.stderr


def test_help_lists_the_benchmarks_and_runs_none():
    r = _run("--help")
    assert r.returncode == 0 and "usage:" in r.stdout and "memory" in r.stdout
    assert "[bench]" not in r.stdout
