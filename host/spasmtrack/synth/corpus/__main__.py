"""``python -m spasmtrack.synth.corpus --out DIR``: write corpus recordings as replay CSVs + labels."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from . import build_corpus, generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spasmtrack.synth.corpus", description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0, help="shorten every recording by this factor")
    ap.add_argument("--classes", help="comma-separated classes (default: all)")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    index = []
    for spec in build_corpus(a.seed, a.scale, a.classes.split(",") if a.classes else None):
        rec = generate(spec)
        csv = a.out / f"{spec.name}.csv"
        rec.write_csv(csv)
        index.append({"recording": csv.name, "spec": asdict(spec),
                      "labels": [asdict(l) for l in rec.labels],
                      "lost": [list(x) for x in rec.lost],
                      "distractors": [list(x) for x in rec.distractors]})
        print(f"{csv} ({spec.duration_s:.0f} s, {len(rec.labels)} events)")
    (a.out / "labels.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"{a.out / 'labels.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
