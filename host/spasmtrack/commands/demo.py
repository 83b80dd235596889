"""``spasmtrack demo``: simulate a patient and run the whole chain (see spasmtrack.demo)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="simulate a patient through the real firmware, sync, store and report")
    p.add_argument("--days", type=float, default=1.0, help="simulated days (default 1)")
    p.add_argument("--out", type=Path, default=Path("build/demo"), help="output folder (default build/demo)")
    p.add_argument("--json", type=Path, default=None,
                   help="summary figures (default build/demo.json beside the output folder)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--regimen", choices=("tid", "qid", "itb"), default="tid")
    p.add_argument("--board", default="sim")
    p.add_argument("--tolerance", type=float, default=10.0, metavar="PCT",
                   help="the simulated patient's EC50 grows this %% per week (default 10)")
    p.add_argument("--simboard-s", type=float, default=120.0, metavar="S",
                   help="seconds of signal run through the whole firmware on the sim board (default 120)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..demo import DemoRun, board_scale, run_demo
    if not 0 < args.days <= 90:
        raise UserError(f"--days must be in (0, 90] (got {args.days})")
    if args.simboard_s < 0:
        raise UserError(f"--simboard-s must be >= 0 (got {args.simboard_s})")
    board_scale(args.board)          # an unknown board is a clear error before anything runs
    json_path = args.json or (args.out.parent / "demo.json")
    run = DemoRun(days=args.days, out=args.out, seed=args.seed, regimen=args.regimen, board=args.board,
                  tolerance_pct_per_week=args.tolerance, simboard_s=args.simboard_s, progress=lambda m: print(m, flush=True))
    s = run_demo(run, json_path)
    bad = [st for st in s["stages"] if st["status"] == "failed"]
    return 1 if bad else 0
