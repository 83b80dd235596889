"""Run the benchmarks: ``python -m spasmtrack.bench [NAME ...]``."""
from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time

from .. import REPO_ROOT
from . import BenchFigure

OUT = REPO_ROOT / "build" / "bench.json"


def discover() -> list[str]:
    pkg = importlib.import_module(__package__)
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


USAGE = "usage: python -m spasmtrack.bench [NAME ...]   (make bench runs them all)"


def main(argv: list[str]) -> int:
    known = [n for n in discover() if hasattr(importlib.import_module(f"{__package__}.{n}"), "run")]
    if any(a in ("-h", "--help") for a in argv):
        print(f"{USAGE}\nbenchmarks: {', '.join(known)}")
        return 0
    bad = [a for a in argv if a not in known]
    if bad:
        print(f"python -m spasmtrack.bench: unknown benchmark {', '.join(bad)}; known: {', '.join(known)}",
              file=sys.stderr)
        return 2
    names = argv or known
    figures: list[BenchFigure] = []
    for name in names:
        mod = importlib.import_module(f"{__package__}.{name}")
        if not hasattr(mod, "run"):
            continue
        t0 = time.perf_counter()
        print(f"[bench] {name} ...", flush=True)
        figures += mod.run()
        print(f"[bench] {name} done in {time.perf_counter() - t0:.1f} s", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    details = data.get("_details", {})
    print()
    print(f"{'figure':34} {'value':>14} {'unit':12} {'target':10} met")
    for f in figures:
        met = f.meets_target()
        mark = "" if met is None else ("yes" if met else "NO")
        print(f"{f.name:34} {f.value:14.4g} {f.unit:12} {f.target:10} {mark}")
        data[f.name] = f.value
        details[f.name] = {"unit": f.unit, "target": f.target, "note": f.note, **f.extra}
    data["_details"] = details
    OUT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"\nwritten to {OUT.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
