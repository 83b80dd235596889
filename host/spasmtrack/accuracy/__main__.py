"""``python -m spasmtrack.accuracy``: see the package docstring."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .. import REPO_ROOT
from ..replay import detconfig_module, load_board_conv, replay_recording
from .generators import GENERATORS, TUNED_ON, Job, build
from .peers import PEERS, run_peers
from .scoring import Score, context_of, drop_ignored, match, merge_channels, recall_by, score_contexts
from .screenfolds import candidates as screen_candidates
from .screenfolds import folds as screen_folds
from .uncertainty import f1_interval, rate_interval

TARGETS = {"f1_unseen": 0.90, "median_onset_error_ms": 100.0, "clonus_accuracy": 0.90,
           "fp_per_h_walking": 2.0, "fp_per_h_vehicle": 2.0, "fp_per_h_rest": 1.0}
DETECTOR = "spasmtrack"
REST_CONTEXTS = ("rest", "sleep")


def _one(job: Job, peers: bool, board: str) -> dict[str, Any]:
    rec = build(job)
    res = replay_recording(rec.recording(), board=board, trace=True)
    dets: dict[str, list[dict[str, Any]]] = {DETECTOR: res.events}
    if peers:
        cfg = detconfig_module().DEFAULT
        conv = load_board_conv(board)
        fs_uv = conv.adc_max * conv.uv_per_count
        x = np.clip(rec.signal(), -fs_uv, fs_uv)       # the peers see what the ADC would have seen
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # NeuroKit2 warns when a recording has no activation
            per_channel = [run_peers(ch, 1000.0, cfg.min_duration_ms / 1000.0, cfg.merge_gap_ms / 1000.0)
                           for ch in x]
        for name in PEERS:
            dets[name] = [e for pc in per_channel for e in pc[name]]
    out: dict[str, Any] = {"name": rec.name, "generator": rec.generator, "hours": rec.duration_s / 3600.0,
                           "labels": len(rec.labels), "x_realtime": res.x_realtime,
                           "lost_s": sum(b - a for a, b in rec.lost), "extra": rec.extra,
                           "contexts": {}, "types": {}, "screen": screen_candidates(rec, res.candidates)}
    for name, evs in dets.items():
        evs = drop_ignored(merge_channels(evs), rec.ignore)
        out["contexts"][name] = score_contexts(rec.labels, evs, rec.contexts)
        if rec.labels and "thomas_type" in rec.labels[0]:
            out["types"][name] = recall_by(rec.labels, evs, "thomas_type")
        if name == DETECTOR:
            out["errors"] = _errors(rec.labels, evs, rec.contexts, res.dropped)
    return out


def miss_cause(lab: dict[str, Any], dets: list[dict[str, Any]], dropped: list[dict[str, Any]]) -> str:
    """Why a label was missed: the rule that dropped the activity overlapping it most (the
    detector's trace), else ``mistimed`` (a detection overlaps it but its onset is more than
    0.5 s off, or it is merged with another), else ``not detected``."""
    a, b = lab["onset_s"] - 0.5, lab["offset_s"]
    best, cause = 0.0, ""
    for d in dropped:
        ov = min(b, d["offset_s"]) - max(a, d["onset_s"])
        if d["rule"] != "short" and ov > best:
            best, cause = ov, d["rule"]
    if cause:
        return cause
    if any(min(b, d["offset_s"]) > max(a, d["onset_s"]) for d in dets):
        return "mistimed"
    if any(min(b, d["offset_s"]) > max(a, d["onset_s"]) for d in dropped):
        return "short"
    return "not detected"


def _errors(labels: list[dict[str, Any]], dets: list[dict[str, Any]],
            contexts: list[tuple[float, float, str]],
            dropped: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The detector's false events and missed labels (for the detector engineer), each
    missed label with the cause (:func:`miss_cause`)."""
    pairs = match(labels, dets)
    ml, md = {i for i, _ in pairs}, {j for _, j in pairs}
    return {"false_events": [{"onset_s": d["onset_s"], "duration_s": round(d["offset_s"] - d["onset_s"], 2),
                              "kind": d.get("kind"), "context": context_of(contexts, d["onset_s"])}
                             for j, d in enumerate(dets) if j not in md],
            "missed": [{**{k: v for k, v in lab.items() if k in ("onset_s", "offset_s", "kind", "thomas_type", "shape",
                                                                 "context", "rms_uv")},
                        "cause": miss_cause(lab, dets, dropped)}
                       for i, lab in enumerate(labels) if i not in ml]}


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _ci(ci: list[float] | None) -> str:
    return "" if ci is None else f" [{ci[0]:.2f}-{ci[1]:.2f}]"


def _total(scores: dict[str, Score]) -> Score:
    s = Score()
    for v in scores.values():
        s.add(v)
    return s


def summarise(results: list[dict[str, Any]], detectors: list[str], tuned_on: str) -> dict[str, Any]:
    """Per generator and per context tables, and the headline figures over the
    generators the detector was not tuned on."""
    gens: dict[str, Any] = {}
    for g in dict.fromkeys(r["generator"] for r in results):
        rs = [r for r in results if r["generator"] == g]
        ctx: dict[str, dict[str, Score]] = {}
        overall = {d: Score() for d in detectors}
        types: dict[str, dict[str, list[int]]] = {}
        for r in rs:
            for d in detectors:
                for c, s in r["contexts"][d].items():
                    ctx.setdefault(c, {dd: Score() for dd in detectors})[d].add(s)
                overall[d].add(_total(r["contexts"][d]))
                for t, (f, n) in r["types"].get(d, {}).items():
                    acc = types.setdefault(d, {}).setdefault(t, [0, 0])
                    acc[0] += f
                    acc[1] += n
        ci = f1_interval([_total(r["contexts"][DETECTOR]) for r in rs]) if DETECTOR in detectors else None
        causes: dict[str, int] = {}
        for r in rs:
            for m in r.get("errors", {}).get("missed", []):
                causes[m["cause"]] = causes.get(m["cause"], 0) + 1
        gens[g] = {"tuned_on": g == tuned_on, "recordings": len(rs), "hours": round(sum(r["hours"] for r in rs), 3),
                   "f1_ci95": None if ci is None else [round(ci[0], 3), round(ci[1], 3)],
                   "missed_by_cause": dict(sorted(causes.items(), key=lambda kv: -kv[1])),
                   "events": sum(r["labels"] for r in rs), "overall": overall, "contexts": ctx,
                   "recall_by_type": {d: {t: {"found": f, "labelled": n, "recall": round(f / n, 3) if n else None}
                                          for t, (f, n) in v.items()} for d, v in types.items()}}
    unseen = [g for g in gens if not gens[g]["tuned_on"]]

    def pooled(names: tuple[str, ...]) -> Score | None:
        s = Score()
        found = False
        for g in unseen:
            for c in names:
                if c in gens[g]["contexts"]:
                    s.add(gens[g]["contexts"][c][DETECTOR])
                    found = True
        return s if found else None

    f1s = {g: gens[g]["overall"][DETECTOR].f1 for g in unseen}
    head: dict[str, Any] = {
        "tuned_on": tuned_on, "unseen": unseen,
        "f1_min_unseen": round(min(f1s.values()), 3) if f1s else None,
        "f1_min_unseen_generator": min(f1s, key=lambda g: f1s[g]) if f1s else None,
    }
    for key, names in (("walking", ("walking",)), ("vehicle", ("vehicle",)), ("rest", REST_CONTEXTS)):
        s = pooled(names)
        head[f"fp_per_h_{key}"] = round(s.fp_per_hour, 2) if s is not None and s.hours else None
        head[f"hours_{key}"] = round(s.hours, 3) if s is not None else 0.0
        per_rec = []
        for r in results:
            if r["generator"] in unseen:
                rs_ = Score()
                for c in names:
                    if c in r["contexts"][DETECTOR]:
                        rs_.add(r["contexts"][DETECTOR][c])
                per_rec.append(rs_)
        ci = rate_interval(per_rec)
        head[f"fp_per_h_{key}_ci95"] = None if ci is None else [round(ci[0], 2), round(ci[1], 2)]
    un = Score()
    for g in unseen:
        un.add(gens[g]["overall"][DETECTOR])
    head["median_onset_error_ms_unseen"] = None if un.median_onset_ms is None else round(un.median_onset_ms, 1)
    head["clonus_accuracy_unseen"] = None if un.clonus_accuracy is None else round(un.clonus_accuracy, 3)
    head["generators"] = gens
    return head


def shortfalls(head: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for g in head["unseen"]:
        s = head["generators"][g]["overall"][DETECTOR]
        if s.f1 < TARGETS["f1_unseen"]:
            out.append(f"{g}: F1 {s.f1:.3f} < {TARGETS['f1_unseen']}")
        if s.median_onset_ms is not None and s.median_onset_ms > TARGETS["median_onset_error_ms"]:
            out.append(f"{g}: median onset error {s.median_onset_ms:.0f} ms > 100 ms")
        if s.clonus_accuracy is not None and s.clonus_accuracy < TARGETS["clonus_accuracy"]:
            out.append(f"{g}: clonus accuracy {s.clonus_accuracy:.3f} < 0.90")
    for key in ("walking", "vehicle", "rest"):
        v = head[f"fp_per_h_{key}"]
        if v is not None and v > TARGETS[f"fp_per_h_{key}"]:
            out.append(f"{key}: {v:.2f} false events per hour > {TARGETS[f'fp_per_h_{key}']:g}")
    return out


def score_dict(s: Score) -> dict[str, Any]:
    """Score.as_dict with precision, recall and F1 None where undefined (no detections,
    no labels)."""
    d = s.as_dict()
    if s.tp + s.fp == 0:
        d["precision"] = None
    if s.tp + s.fn == 0:
        d["recall"] = None
    if d["precision"] is None or d["recall"] is None:
        d["f1"] = None
    return d


def to_json(head: dict[str, Any]) -> dict[str, Any]:
    def conv(o: Any) -> Any:
        if isinstance(o, Score):
            return score_dict(o)
        if isinstance(o, dict):
            return {k: conv(v) for k, v in o.items()}
        if isinstance(o, list):
            return [conv(v) for v in o]
        return o
    return conv(head)


def print_table(head: dict[str, Any], detectors: list[str]) -> None:
    hdr = f"{'generator':<10} {'context':<11} {'detector':<20} {'F1':>6} {'prec':>6} {'recall':>6} " \
          f"{'events':>6} {'FP':>4} {'FP/h':>6} {'hours':>6} {'onset ms':>8} {'clonus':>6}"
    print(hdr)
    print("-" * len(hdr))
    for g, v in head["generators"].items():
        tag = f"{g}{'*' if v['tuned_on'] else ''}"

        def row(ctx: str, d: str, s: Score, tag: str = tag) -> None:
            sd = score_dict(s)
            print(f"{tag:<10} {ctx:<11} {d:<20} {_fmt(sd['f1']):>6} {_fmt(sd['precision']):>6} {_fmt(sd['recall']):>6} "
                  f"{s.tp + s.fn:>6} {s.fp:>4} {s.fp_per_hour:>6.2f} {s.hours:>6.2f} "
                  f"{_fmt(s.median_onset_ms, 0):>8} {_fmt(s.clonus_accuracy, 2):>6}")
        for d in detectors:
            row("ALL", d, v["overall"][d])
        for c, per in sorted(v["contexts"].items()):
            row(c, DETECTOR, per[DETECTOR])
        if v.get("f1_ci95"):
            lo, hi = v["f1_ci95"]
            print(f"{tag:<10} {DETECTOR} F1 95 % interval {lo:.3f}-{hi:.3f} (bootstrap over its "
                  f"{v['recordings']} recordings)")
        if v.get("missed_by_cause"):
            print(f"{tag:<10} {DETECTOR} missed, by cause: "
                  + ", ".join(f"{c} {n}" for c, n in v["missed_by_cause"].items())
                  + " (the rule that dropped the activity; mistimed: found with onset > 0.5 s off or merged)")
        rt = v["recall_by_type"].get(DETECTOR)
        if rt:
            print(f"{tag:<10} recall by Thomas 2014 type: "
                  + ", ".join(f"{t} {x['found']}/{x['labelled']}" for t, x in sorted(rt.items())))
        print()


def print_screen_folds(sf: dict[str, dict[str, Any]], tuned_on: str) -> None:
    print(f"learned screen on each generator (the shipped table is trained on {tuned_on} only; 'trained on the "
          "others' is a leave-one-generator-out analysis of the learned stage, not what the device runs):")
    for g, row in sf.items():
        for k in ("rules only", "shipped", "trained on the others"):
            if k in row:
                s: Score = row[k]
                sd = score_dict(s)
                note = f" ({', '.join(row['others'])}; {row['fold_nodes']} nodes)" if k == "trained on the others" else ""
                print(f"  {g:<10} {k:<22} F1 {_fmt(sd['f1'])}  precision {_fmt(sd['precision'])}  recall "
                      f"{_fmt(sd['recall'])}  false/h {s.fp_per_hour:6.2f}{note}")
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spasmtrack.accuracy", description=__doc__)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0, help="shorten every recording by this factor")
    ap.add_argument("--generators", default=",".join(GENERATORS),
                    help=f"comma-separated generators (default: {','.join(GENERATORS)})")
    ap.add_argument("--classes", help="comma-separated corpus classes (default: all)")
    ap.add_argument("--tuned-on", default=TUNED_ON, help=f"the generator the detector was tuned on (default {TUNED_ON})")
    ap.add_argument("--no-peers", action="store_true", help="score the firmware detector only")
    ap.add_argument("--limit", type=int, help="at most this many recordings of each generator (quick runs)")
    ap.add_argument("--board", default="sim")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", default=str(REPO_ROOT / "build" / "accuracy.json"))
    a = ap.parse_args(argv)
    gens = [g.strip() for g in a.generators.split(",") if g.strip()]
    bad = [g for g in gens if g not in GENERATORS]
    if bad or not gens:
        print(f"python -m spasmtrack.accuracy: unknown generator {', '.join(bad) or '(none)'}; "
              f"known: {', '.join(GENERATORS)}", file=sys.stderr)
        return 2
    if not a.scale > 0 or a.jobs < 1 or (a.limit is not None and a.limit < 1):
        print("python -m spasmtrack.accuracy: --scale must be > 0, --jobs and --limit >= 1", file=sys.stderr)
        return 2
    from .generators import jobs as make_jobs

    todo = make_jobs(gens, a.seed, a.scale, a.classes.split(",") if a.classes else None, a.limit)
    if not todo:
        print("python -m spasmtrack.accuracy: no recordings selected", file=sys.stderr)
        return 2
    t0 = time.time()
    # longest first, so two workers finish together
    order = sorted(range(len(todo)), key=lambda i: todo[i].generator != "patient")
    with ProcessPoolExecutor(max_workers=a.jobs) as ex:
        done = list(ex.map(_one, [todo[i] for i in order], [not a.no_peers] * len(todo), [a.board] * len(todo)))
    results = [r for _, r in sorted(zip(order, done))]
    detectors = [DETECTOR] + ([] if a.no_peers else list(PEERS))
    head = summarise(results, detectors, a.tuned_on)
    short = shortfalls(head)
    sf = screen_folds(results)
    cfgmod = detconfig_module()
    report = {"seed": a.seed, "scale": a.scale, "board": a.board, "config_version": cfgmod.CONFIG_VERSION,
              "matching": "one-to-one, overlap and |onset error| <= 0.5 s", "targets": TARGETS,
              **to_json(head),
              "recordings": [{"name": r["name"], "generator": r["generator"], "hours": round(r["hours"], 3),
                              "labels": r["labels"], "lost_s": round(r["lost_s"], 1),
                              "replay_x_realtime": round(r["x_realtime"], 1), **r["extra"],
                              "detector_errors": r["errors"],
                              **{d: score_dict(_total(r["contexts"][d])) for d in detectors}} for r in results],
              "learned_screen_folds": {g: {k: (score_dict(v) if isinstance(v, Score) else v) for k, v in row.items()}
                                       for g, row in sf.items()},
              "shortfalls": short, "wall_s": round(time.time() - t0, 1)}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")

    hours = sum(r["hours"] for r in results)
    print(f"leave-one-generator-out accuracy: {len(results)} recordings, {hours:.2f} h, "
          f"{sum(r['labels'] for r in results)} labelled events (seed {a.seed}, detector config "
          f"v{cfgmod.CONFIG_VERSION}, {report['wall_s']:.0f} s); * = the generator the detector was tuned on")
    print_table(head, detectors)
    print(f"unseen generators ({', '.join(head['unseen']) or 'none'}): F1 min {_fmt(head['f1_min_unseen'])} "
          f"({head['f1_min_unseen_generator'] or '-'}), median onset error {_fmt(head['median_onset_error_ms_unseen'], 0)} ms, "
          f"clonus accuracy {_fmt(head['clonus_accuracy_unseen'])}; false events per hour: "
          + ", ".join(f"{label} {_fmt(head[f'fp_per_h_{key}'], 2)}{_ci(head[f'fp_per_h_{key}_ci95'])} "
                      f"({head[f'hours_{key}']:.2f} h)"
                      for key, label in (("walking", "walking"), ("vehicle", "vehicle"), ("rest", "rest/sleep")))
          + " (95 % intervals: exact Poisson, widened to a bootstrap over recordings)")
    print_screen_folds(sf, a.tuned_on)
    print("targets: F1 >= 0.90 on every unseen generator, <= 2 false events/h walking or riding, <= 1/h at rest, "
          "median onset error <= 100 ms, clonus accuracy >= 0.90")
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
