"""Stage ``simboard``: the whole firmware on the sim board over an excerpt.

``firmware/device/runtime.py`` (BOOT record, drivers, sampler, DSP, detector, flash log) on
the sim board's register-level ADS1292R/MPU-6050 simulators, driven by
``boards/sim/programs/simboard_run.py`` with the same simulated signal as electrode nV,
lead-off bits and IMU units. The register-level simulation runs about 15x real time, too
slow for the whole day, so it gets the ``simboard_s`` window with the most events; its
events are checked against the device core's over the same window.
"""
from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import Any

import numpy as np

from .. import BOARDS_DIR, firmware
from .. import records as rec
from ..boards import load_board
from ..synth.patient import PatientSignal
from ..synth.patient.score import Detection, merge_channels, score
from .boardscale import BoardScale, board_scale
from .flashimage import frames, new_flash, open_log
from .run import DemoRun, StageResult

TITLE = "whole firmware on the sim board (excerpt)"
STALL_S = 120.0                      # no output for this long: the sim board is stopped
SIM_HEAP = "2M"                      # the unix port's heap for the firmware from source + simulators
ONSET_MATCH_S = 0.05                 # same onset as the device core's event within this


def stage_simboard(run: DemoRun) -> StageResult:
    seconds = int(run.simboard_s)
    if seconds <= 0:
        return StageResult("simboard", TITLE, status="skipped", detail="--simboard-s 0")
    part = load_board(run.board).emg["part"]
    if part != "ads1292r":
        return StageResult("simboard", TITLE, status="skipped",
                           detail=f"the sim board feeds an ADS1292R simulator; board {run.board!r} has a {part}")
    scale = board_scale(run.board)
    w0 = best_window(run, seconds)
    flash = run.out / "simboard_flash.bin"
    flash.unlink(missing_ok=True)
    cmd = firmware.unix_command(str(firmware.program("simboard_run")), str(BOARDS_DIR / run.board / "board.json"),
                                str(flash), str(seconds), heap=SIM_HEAP)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=firmware.unix_env(firmware.micropypath(programs=False)))
    assert proc.stdout is not None and proc.stderr is not None
    err: list[str] = []
    feeder = threading.Thread(target=_feed, args=(run, scale, w0, seconds, proc, err), daemon=True)
    feeder.start()
    alive = [time.perf_counter()]
    threading.Thread(target=_watchdog, args=(proc, alive, err), daemon=True).start()
    status: dict[str, Any] | None = None
    t0 = last = time.perf_counter()
    for line in proc.stdout:
        alive[0] = time.perf_counter()
        if line.startswith(b"P ") and time.perf_counter() - last > 5:
            v = line.split()
            run.say(f"      {int(v[1])} / {seconds} s of the excerpt, {int(v[2])} events")
            last = time.perf_counter()
        elif line.startswith(b"D "):
            status = json.loads(line[2:])
    feeder.join()
    stderr = proc.stderr.read().decode()
    rc = proc.wait()
    if rc != 0 or status is None:
        raise RuntimeError(f"sim board failed (rc {rc}): {' '.join(err)} {stderr.strip()[-800:]}")
    el = time.perf_counter() - t0

    # the sim board's flash image through the firmware's flash log on CPython
    log = open_log(new_flash(flash.read_bytes()))
    counts: dict[str, int] = {}
    sb_events = []
    for fr in frames(log):
        r = rec.decode_frame(fr)
        counts[r.type_name] = counts.get(r.type_name, 0) + 1
        if r.rtype == rec.TYPE_EVENT:
            f = r.fields
            a = w0 + f["onset_ms"] / 1000
            sb_events.append(Detection(a, a + f["duration_ms"] / 1000, rec.KIND_NAMES.get(f["kind"], "spasm"),
                                       [f["channel"]], f["clonus_chz"] / 100))
    sb = merge_channels(sb_events)
    truth_w = [e for e in run.tl.events if w0 + 3 <= e.onset_s and e.offset_s <= w0 + seconds]
    sc, _ = score(truth_w, [d for d in sb if d.onset_s >= w0 + 3], seconds / 3600)
    rp = [d for d in merge_channels(run.replay_dets) if w0 + 3 <= d.onset_s < w0 + seconds]
    agree = sum(1 for d in sb if any(abs(d.onset_s - x.onset_s) <= ONSET_MATCH_S for x in rp))
    run.metrics["simboard"] = {"window_s": [w0, w0 + seconds], "speed_x": round(seconds / el, 1),
                               "records": log.last_seq, "by_type": counts, "events": len(sb),
                               "truth_events": len(truth_w), "replay_events": len(rp),
                               "same_onset_as_replay": agree, "f1": round(sc.f1, 3),
                               "dropped": status.get("dropped"), "jitter_us_max": status.get("jitter_us_max"),
                               "boot": status.get("boot")}
    return StageResult("simboard", TITLE,
                       provider="firmware/device/runtime.py on the sim board's register-level ADS1292R/MPU-6050 "
                                "simulators, driven by boards/sim/programs/simboard_run.py",
                       detail=(f"excerpt {w0 / 3600:.2f}-{(w0 + seconds) / 3600:.2f} h ({seconds} s, "
                               f"{seconds / el:.1f}x real time): {log.last_seq} records in its flash log, "
                               f"{len(sb)} events vs {len(truth_w)} true, {agree} with the same onset "
                               f"(+-{ONSET_MATCH_S * 1000:.0f} ms) as the device core's {len(rp)}; "
                               f"dropped samples {status.get('dropped')}"))


def best_window(run: DemoRun, seconds: int) -> int:
    """Start (s, on a 10 s boundary) of the ``seconds`` window with the most observable
    events, so the excerpt has something to detect."""
    on = np.array([e.onset_s for e in run.tl.events if e.observable])
    dur = run.scn.duration_s
    if len(on) == 0 or dur <= seconds + 20:
        return 0
    starts = np.arange(0, dur - seconds - 10, 10.0)
    counts = np.searchsorted(on, starts + seconds - 5) - np.searchsorted(on, starts + 5)
    return int(starts[int(np.argmax(counts))])


def _feed(run: DemoRun, scale: BoardScale, w0: int, seconds: int, proc: subprocess.Popen[bytes],
          err: list[str]) -> None:
    """Per 100-sample block: electrode nV (int32, sample-major), lead-off bits (2 per
    channel, uint8 per sample), IMU in µg and mdps (int32, sample-major at fs_imu)."""
    assert proc.stdin is not None
    ps = PatientSignal(run.tl, fs_emg=scale.fs_emg, fs_imu=scale.fs_imu,
                       rail_uV=(scale.adc_max + 1) * scale.uv_per_count * 1.2)
    try:
        blk = 100
        dec = scale.fs_emg // scale.fs_imu
        for ch in ps.chunks(10.0, w0, w0 + seconds + 1):
            nv = np.clip(np.rint(ch.emg_uV.astype(np.float64) * 1000), -2**31, 2**31 - 1).astype("<i4")
            lo = np.zeros(ch.n, dtype=np.uint8)
            for c in range(ch.leadoff.shape[0]):
                lo |= (ch.leadoff[c].astype(np.uint8) << (2 * c))
            imu = ch.imu.astype(np.float64)
            iq = np.empty_like(imu)
            iq[:3] = imu[:3] * 1e6
            iq[3:] = imu[3:] * 1e3
            iqi = np.rint(iq).astype("<i4")
            parts = []
            for a in range(0, ch.n, blk):
                parts += [nv[:, a:a + blk].T.tobytes(), lo[a:a + blk].tobytes(),
                          iqi[:, a // dec:(a + blk) // dec].T.tobytes()]
            proc.stdin.write(b"".join(parts))
        proc.stdin.close()
    except BrokenPipeError:
        err.append("the sim board closed its input")


def _watchdog(proc: subprocess.Popen[bytes], alive: list[float], err: list[str]) -> None:
    """A stuck sim board must not hang the demo."""
    while proc.poll() is None:
        if time.perf_counter() - alive[0] > STALL_S:
            err.append(f"no progress for {STALL_S:.0f} s: stopped")
            proc.kill()
            return
        time.sleep(1)
