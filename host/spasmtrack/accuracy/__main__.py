"""``python -m spasmtrack.accuracy``: see the package docstring."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .. import REPO_ROOT
from ..synth.corpus import RecordingSpec, build_corpus, generate
from ..replay import detconfig_module, load_board_conv, replay_recording
from .peers import PEERS, run_peers
from .scoring import Score, score, score_by_context

TARGETS = {"f1": 0.95, "median_onset_error_ms": 100.0, "clonus_accuracy": 0.90, "fp_per_hour": 1.0}
DETECTOR = "spasmtrack"


def _one(spec: RecordingSpec, peers: bool, board: str) -> dict[str, Any]:
    rec = generate(spec)
    labels = [l.__dict__ for l in rec.labels]
    hours = spec.duration_s / 3600.0
    res = replay_recording(rec.recording(), board=board)
    out: dict[str, Any] = {"name": spec.name, "cls": spec.cls, "hours": hours, "labels": len(labels),
                           "x_realtime": res.x_realtime,
                           "lost_label_s": sum(b - a for a, b in rec.lost),
                           "lost_detected_s": sum(s["lost_ds"] for s in res.summaries) / 10.0,
                           "scores": {DETECTOR: score(labels, res.events, hours)},
                           "contexts": score_by_context(labels, res.events, rec.contexts, spec.duration_s)}
    if peers:
        cfg = detconfig_module().DEFAULT
        conv = load_board_conv(board)
        x, _ = rec.signal()
        fs_uv = conv.adc_max * conv.uv_per_count
        x = np.clip(x, -fs_uv, fs_uv)      # the peers see what the ADC would have seen
        for name, evs in run_peers(x, 1000.0, cfg.min_duration_ms / 1000.0,
                                   cfg.merge_gap_ms / 1000.0).items():
            out["scores"][name] = score(labels, evs, hours)
    return out


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spasmtrack.accuracy", description=__doc__)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0, help="shorten every recording by this factor")
    ap.add_argument("--classes", help="comma-separated recording classes (default: all)")
    ap.add_argument("--no-peers", action="store_true", help="score the firmware detector only")
    ap.add_argument("--board", default="sim")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", default=str(REPO_ROOT / "build" / "accuracy.json"))
    a = ap.parse_args(argv)
    classes = a.classes.split(",") if a.classes else None
    specs = build_corpus(a.seed, a.scale, classes)
    if not specs:
        print("no recordings selected", file=sys.stderr)
        return 2
    t0 = time.time()
    with ProcessPoolExecutor(max_workers=a.jobs) as ex:
        results = list(ex.map(_one, specs, [not a.no_peers] * len(specs), [a.board] * len(specs)))
    detectors = [DETECTOR] + ([] if a.no_peers else list(PEERS))
    by_cls: dict[str, dict[str, Score]] = {}
    total = {d: Score() for d in detectors}
    for r in results:
        cs = by_cls.setdefault(r["cls"], {d: Score() for d in detectors})
        for d in detectors:
            cs[d].add(r["scores"][d])
            total[d].add(r["scores"][d])
    by_ctx: dict[str, Score] = {}
    for r in results:
        for name, sc in r["contexts"].items():
            by_ctx.setdefault(name, Score()).add(sc)
    cfgmod = detconfig_module()
    report: dict[str, Any] = {
        "seed": a.seed, "scale": a.scale, "board": a.board, "config_version": cfgmod.CONFIG_VERSION,
        "targets": TARGETS, "hours": round(sum(r["hours"] for r in results), 3),
        "events": sum(r["labels"] for r in results),
        "overall": {d: total[d].as_dict() for d in detectors},
        "classes": {c: {d: s.as_dict() for d, s in v.items()} for c, v in by_cls.items()},
        "contexts": {c: s.as_dict() for c, s in by_ctx.items()},
        "recordings": [{"name": r["name"], "class": r["cls"], "hours": round(r["hours"], 3),
                        "labels": r["labels"], "replay_x_realtime": round(r["x_realtime"], 1),
                        "lost_label_s": round(r["lost_label_s"], 1),
                        "lost_detected_s": round(r["lost_detected_s"], 1),
                        **{d: r["scores"][d].as_dict() for d in detectors}} for r in results],
        "wall_s": round(time.time() - t0, 1),
    }
    # where the detector falls short of a target, or is not better than a peer
    short: list[str] = []
    for c, v in list(by_cls.items()) + [("overall", total)]:
        s = v[DETECTOR]
        if s.f1 < TARGETS["f1"]:
            short.append(f"{c}: F1 {s.f1:.3f} < {TARGETS['f1']}")
        if s.median_onset_ms is not None and s.median_onset_ms > TARGETS["median_onset_error_ms"]:
            short.append(f"{c}: median onset error {s.median_onset_ms:.0f} ms > 100 ms")
        if s.clonus_accuracy is not None and s.clonus_accuracy < TARGETS["clonus_accuracy"]:
            short.append(f"{c}: clonus accuracy {s.clonus_accuracy:.3f} < 0.90")
        if s.fp_per_hour > TARGETS["fp_per_hour"]:
            short.append(f"{c}: {s.fp_per_hour:.2f} false positives per hour > 1")
        for p in detectors[1:]:
            if v[p].f1 >= s.f1:
                short.append(f"{c}: {p} F1 {v[p].f1:.3f} >= ours {s.f1:.3f}")
    report["shortfalls"] = short
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")

    print(f"accuracy on {len(results)} recordings, {report['hours']:.2f} h, {report['events']} labelled events "
          f"(seed {a.seed}, detector config v{cfgmod.CONFIG_VERSION}, {report['wall_s']:.0f} s)")
    head = f"{'class':<10} {'detector':<20} {'F1':>6} {'prec':>6} {'recall':>6} {'onset ms':>8} " \
           f"{'clonus':>6} {'kind':>6} {'Hz err':>6} {'FP/h':>6}"
    print(head)
    print("-" * len(head))
    for c, v in list(by_cls.items()) + [("overall", total)]:
        for d in detectors:
            s = v[d]
            print(f"{c:<10} {d:<20} {s.f1:>6.3f} {s.precision:>6.3f} {s.recall:>6.3f} "
                  f"{_fmt(s.median_onset_ms, 0):>8} {_fmt(s.clonus_accuracy):>6} {_fmt(s.kind_accuracy):>6} "
                  f"{_fmt(s.clonus_hz_mae, 2):>6} {s.fp_per_hour:>6.2f}")
    print(f"per activity context ({DETECTOR}; labels by their context, false events by the context at "
          "their onset, per hour of that context)")
    print(f"{'context':<10} {'hours':>6} {'F1':>6} {'prec':>6} {'recall':>6} {'onset ms':>8} {'clonus':>6} "
          f"{'FP':>4} {'FP/h':>6}")
    for c, s in sorted(by_ctx.items()):
        print(f"{c:<10} {s.hours:>6.2f} {s.f1:>6.3f} {s.precision:>6.3f} {s.recall:>6.3f} "
              f"{_fmt(s.median_onset_ms, 0):>8} {_fmt(s.clonus_accuracy):>6} {s.fp:>4} {s.fp_per_hour:>6.2f}")
    print("targets: F1 >= 0.95, median onset error <= 100 ms, clonus accuracy >= 0.90, <= 1 FP/h, "
          "better than every peer in every class")
    if short:
        print("short of target:")
        for s in short:
            print(f"  {s}")
    else:
        print("all targets met")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
