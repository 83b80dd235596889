"""``python -m spasmtrack.synth.dailylife --out DIR``: write the scripted days as replay CSVs
plus ``labels.json`` (labels, contexts, lost spans, artifacts of every day)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import DailyLifeRecording, build_days


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spasmtrack.synth.dailylife", description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0, help="shorten every day by this factor")
    ap.add_argument("--days", type=int, default=None, help="write only the first N days (default: all 12)")
    a = ap.parse_args(argv)
    if a.scale <= 0 or (a.days is not None and a.days < 1):
        print("python -m spasmtrack.synth.dailylife: --scale must be > 0 and --days >= 1", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    index = []
    for script in build_days(a.seed, a.scale, a.days):
        rec = DailyLifeRecording(script)
        csv = a.out / f"{script.name}.csv"
        rec.write_csv(csv)
        index.append({"recording": csv.name, **rec.truth()})
        print(f"{csv} ({rec.duration_s:.0f} s, {len(rec.labels)} episodes, {script.patient.condition}, "
              f"{script.patient.muscle})")
    (a.out / "labels.json").write_text(json.dumps(index, indent=1) + "\n")
    print(a.out / "labels.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
