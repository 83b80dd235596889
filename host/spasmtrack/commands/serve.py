"""``spasmtrack serve``: the clinic web app on 127.0.0.1 (see README)."""
from __future__ import annotations

import argparse
import sys

from ..errors import UserError
from .dose import add_db_option, store_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the clinic web app (sign-in, patient list, reports, doses)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else needs --behind-proxy)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    p.add_argument("--behind-proxy", action="store_true",
                   help="a reverse proxy terminates TLS in front: trust one hop of X-Forwarded-*, "
                        "send the session cookie only over HTTPS")
    p.add_argument("--stale-days", type=float, default=3.0,
                   help="flag patients not synced for more than this many days (default 3)")
    p.add_argument("--min-coverage", type=float, default=50.0,
                   help="flag good signal below this %% of the last 7 days (default 50)")
    p.add_argument("--max-lost", type=float, default=10.0,
                   help="flag signal lost (lead-off) above this %% of recorded time (default 10)")
    p.add_argument("--bootstrap", type=int, default=1000,
                   help="bootstrap resamples in the report (default 1000, as `spasmtrack report`)")
    p.add_argument("--threads", type=int, default=4, help="worker threads (default 4)")
    add_db_option(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..serve import ServeConfig, Thresholds
    from ..serve.server import is_loopback, serve
    from ..serve.users import Users
    if not is_loopback(args.host) and not args.behind_proxy:
        raise UserError(f"refusing to listen on {args.host}: spasmtrack serve speaks plain HTTP. Put it "
                        "behind a reverse proxy that terminates TLS, bind it to 127.0.0.1, and pass "
                        "--behind-proxy (see README)")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port} is not a TCP port (0-65535)")
    if not 0 <= args.min_coverage <= 100 or not 0 <= args.max_lost <= 100:
        raise UserError("--min-coverage and --max-lost are percentages (0-100)")
    if not args.stale_days > 0:
        raise UserError("--stale-days must be positive")
    if not 1 <= args.threads <= 64 or not 10 <= args.bootstrap <= 100_000:
        raise UserError("--threads must be 1-64 and --bootstrap 10-100000")
    st = store_from(args)
    if not any(not u["disabled"] for u in Users(st).list()):
        print("spasmtrack serve: warning: no active clinic user; add one with "
              "`spasmtrack user add NAME --role clinician`", file=sys.stderr)
    cfg = ServeConfig(thresholds=Thresholds(args.stale_days, args.min_coverage / 100, args.max_lost / 100),
                      behind_proxy=args.behind_proxy, report_bootstrap=args.bootstrap)
    serve(st, args.host, args.port, cfg, threads=args.threads)
    return 0
