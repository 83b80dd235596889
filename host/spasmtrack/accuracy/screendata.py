"""Training data of the detector's learned screen, from the tuning generator only
(``python -m spasmtrack.accuracy.screendata collect|train|all``, ``make screen``; the
training itself is :mod:`spasmtrack.screen`)."""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from ..screen import DATA, features, train


def _candidates(job: Any) -> list[dict[str, Any]]:
    from ..replay import replay_recording
    from .generators import build
    from .scoring import drop_ignored, match

    rec = build(job)
    res = replay_recording(rec.recording(), config={"screen_on": 0}, trace=True)
    cands = drop_ignored(res.candidates, rec.ignore)
    true = {j for _, j in match(rec.labels, cands)}
    return [{"generator": job.generator, "recording": rec.name, "onset_s": c["onset_s"],
             "offset_s": round(c["offset_s"], 3), "episode": int(j in true), **dict(zip(features(), c["features"]))}
            for j, c in enumerate(cands)]


def collect(seed: int = 1, jobs: int = 2, out: Path = DATA) -> list[dict[str, Any]]:
    """Replay the corpus with the screen off and write every candidate's features."""
    from concurrent.futures import ProcessPoolExecutor

    from .generators import TUNED_ON
    from .generators import jobs as make_jobs

    todo = make_jobs([TUNED_ON], seed, 1.0)
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        rows = [r for part in ex.map(_candidates, todo) for r in part]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["generator", "recording", "onset_s", "offset_s", "episode", *features()])
        w.writeheader()
        w.writerows(rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spasmtrack.accuracy.screendata",
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
        except FileNotFoundError:
            print(f"python -m spasmtrack.accuracy.screendata: no training data at {DATA}; "
                  "run the 'collect' step first (make screen runs both)", file=sys.stderr)
            return 2
        except ValueError as e:
            print(f"python -m spasmtrack.accuracy.screendata: {e}", file=sys.stderr)
            return 2
        print(f"trained on {s['rows']} candidates ({s['trained_on']}): {s['nodes']} nodes; keeps "
              f"{s['kept_episodes']} of {s['episodes']} episodes, drops {s['dropped_not_episodes']} of "
              f"{s['not_episodes']} non-episodes -> {s['written']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
