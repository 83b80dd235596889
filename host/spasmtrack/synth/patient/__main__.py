"""``python -m spasmtrack.synth.patient``: write a simulated patient's truth (and optionally signal)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .recording import write_chunks_csv
from .scenario import Scenario, build_timeline
from .stream import PatientSignal
from .truth import write_truth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m spasmtrack.synth.patient", description=__doc__)
    p.add_argument("--days", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--regimen", choices=("tid", "qid", "itb"), default="tid")
    p.add_argument("--out", type=Path, default=Path("build/patient"))
    p.add_argument("--csv", action="store_true", help="also write the signal as recording.csv (big!)")
    a = p.parse_args(argv)
    tl = build_timeline(Scenario(days=a.days, seed=a.seed, regimen=a.regimen))
    paths = write_truth(tl, a.out)
    for k, v in paths.items():
        print(f"{k}: {v}")
    if a.csv:
        rows = write_chunks_csv(PatientSignal(tl).chunks(60.0), a.out / "recording.csv")
        print(f"recording: {a.out / 'recording.csv'} ({rows} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
