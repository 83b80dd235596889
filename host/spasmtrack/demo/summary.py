"""What ``spasmtrack demo`` prints: one block per stage as it ends, then the figures."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .run import DemoRun, StageResult

INDENT = "      "


def print_stage(run: DemoRun, r: StageResult) -> None:
    """``      ok in 12.3 s: <detail>`` (and what did the work)."""
    run.say(f"{INDENT}{r.status} in {r.seconds:.1f} s: {r.detail}")
    if r.provider and r.status == "ok":
        run.say(f"{INDENT}by {r.provider}")


def print_summary(run: DemoRun, s: dict[str, Any], json_path: Path | None) -> None:
    say = run.say
    done = sum(st["status"] == "ok" for st in s["stages"])
    say("")
    say(f"== spasmtrack demo: {s['simulated_hours']:g} simulated hours, {done} of {len(s['stages'])} stages "
        f"complete ==")
    sc = s.get("score") or {}
    if s.get("events_simulated") is not None:
        say(f"simulated         {s['events_simulated']} events, {s['events_simulated_observable']} while worn "
            f"with leads on")
    if sc:
        say(f"detected          {s['events_detected']} episodes: {sc['tp']} matched, {sc['fn']} missed, "
            f"{sc['fp']} false ({sc['fp_per_hour']:.2f} per hour)")
        say(f"detection         F1 {sc['f1']:.3f}, precision {sc['precision']:.3f}, recall {sc['recall']:.3f} "
            f"(device time); onset error median {sc['onset_err_median_s'] * 1000:.0f} ms, "
            f"p90 {sc['onset_err_p90_s'] * 1000:.0f} ms")
    su, pl = s.get("score_utc") or {}, s.get("placement_ms") or {}
    if su and pl.get("events"):
        say(f"time placement    host UTC minus true time: median {pl['median_ms']:+.0f} ms "
            f"(range {pl['min_ms']:+.0f} to {pl['max_ms']:+.0f} ms); F1 on the placed times {su['f1']:.3f}")
    say(f"records           {s['records_logged']} logged on the device, {s['records_synced']} in the database"
        + (" (all)" if s["records_logged"] == s["records_synced"] and s["records_logged"] else ""))
    cov = s.get("coverage") or {}
    if cov:
        say(f"coverage          device: good signal {cov['device_covered_h']:.2f} h, lost {cov['device_lost_h']:.2f} h; "
            f"truth: worn with leads on {cov['true_worn_leads_on_h']:.2f} h of {cov['simulated_h']:.2f} h")
    sb = s.get("simboard") or {}
    if sb:
        say(f"sim board         {sb['events']} events in the excerpt, {sb['same_onset_as_replay']} with the same "
            f"onset as the device core's {sb['replay_events']}; {sb['dropped']} samples dropped")
    tvm = s.get("truth_vs_measured") or []
    if tvm:
        say("")
        say("concentration-response, the simulated patient's truth vs the analysis of the synced events")
        say("(intervals: 95 % cluster bootstrap, as the analysis reports them)")
        say(f"  {'quantity':18} {'unit':13} {'truth':>8} {'measured':>9}  95 % interval")
        for row in tvm:
            say("  " + _tvm_line(row))
    say("")
    say(f"report            {s['report_path'] or 'not written'}")
    if json_path:
        say(f"figures           {json_path}")
    say(f"time              {s['demo_s']:.1f} s in all: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in s["time_s"].items()))
    bad = [f"{st['name']} ({st['status']})" for st in s["stages"] if st["status"] != "ok"]
    if bad:
        say(f"not completed     {', '.join(bad)}")


def _tvm_line(row: dict[str, Any]) -> str:
    measured = "-" if row["measured"] is None else f"{row['measured']:g}"
    if row["measured"] is None:
        ci = "not estimated"
    elif row["ci_lo"] is None or row["ci_hi"] is None:
        ci = "-"
    else:
        ci = f"[{row['ci_lo']:g}, {row['ci_hi']:g}]"
        if row["within_ci"] is not None:
            ci += "  truth inside" if row["within_ci"] else "  truth outside"
    return f"{row['quantity']:18} {row['unit']:13} {row['truth']:>8g} {measured:>9}  {ci}"
