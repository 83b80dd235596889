"""``python -m spasmtrack.screen collect|train|all``: see the package docstring."""
from __future__ import annotations

import argparse
import sys

from . import DATA, collect, train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spasmtrack.screen",
                                 description="Training data and table of the detector's learned screen "
                                             "(tuning generator only).")
    ap.add_argument("step", choices=("collect", "train", "all"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    if a.step in ("collect", "all"):
        rows = collect(a.seed, a.jobs)
        n1 = sum(r["episode"] for r in rows)
        print(f"collected {len(rows)} candidates ({n1} episodes, {len(rows) - n1} not) -> {DATA}")
    if a.step in ("train", "all"):
        try:
            s = train()
        except (ValueError, FileNotFoundError) as e:
            print(f"python -m spasmtrack.screen: {e}", file=sys.stderr)
            return 2
        print(f"trained on {s['rows']} candidates ({s['trained_on']}): {s['nodes']} nodes; keeps "
              f"{s['kept_episodes']} of {s['episodes']} episodes, drops {s['dropped_not_episodes']} of "
              f"{s['not_episodes']} non-episodes -> {s['written']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
