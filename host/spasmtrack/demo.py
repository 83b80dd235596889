"""``spasmtrack demo``: a simulated patient through the real chain, end to end.

Stages (each a function of a :class:`DemoRun`; each reports how it was done, so a stage
whose piece has not landed says so instead of being faked):

1. simulate  -- :mod:`spasmtrack.patient`: truth files, dose log; the raw signal is
   streamed to the next stage in chunks (never a whole day in RAM).
2. device    -- the real firmware on the MicroPython unix port over that signal, faster
   than real time. Preferred: the sim board's app (sampler, drivers against the
   register-level simulators, detector, flash log). Available path: the detector replay
   entry ``boards/sim/replay_main.py`` (real DSP chains + detector) whose events and
   summaries are appended by the real ``firmware/core/flashlog.py`` to a NOR-flash image.
3. sync      -- preferred: the host's bleak code over the virtual radio (Bumble) against
   the firmware's BLE peripheral. Until that lands the frames are read from the flash
   image directly (said so in the output and in demo.json).
4. store     -- SQLite through :mod:`spasmtrack.store` (records, then the dose log through
   :mod:`spasmtrack.doses`).
5. report    -- the clinician report (:mod:`spasmtrack.report`) and the analysis.
6. score     -- detection against the simulator's truth (F1, onset error), records on the
   device log vs records in the database, coverage.

``build/demo.json`` gets the figures and the time per stage.
"""
from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import BOARDS_DIR, FIRMWARE_DIR, REPO_ROOT, firmware
from .errors import UserError
from .patient import PatientSignal, Scenario, build_timeline, write_truth
from .patient.score import Detection, merge_channels, score

PATIENT_CODE = "DEMO-001"
KIND_NAMES = {1: "spasm", 2: "clonus", 3: "spasm_with_clonus"}


class StageMissing(Exception):
    """The piece a stage needs is not in the tree (yet)."""


@dataclass
class StageResult:
    name: str
    status: str = "pending"          # ok | fallback | missing | failed
    seconds: float = 0.0
    provider: str = ""
    detail: str = ""
    missing: list[str] = field(default_factory=list)


@dataclass
class BoardScale:
    """µV and physical IMU units -> raw counts for one board (from board.json)."""

    name: str
    n_channels: int
    fs_emg: int
    fs_imu: int
    uv_per_count: float
    adc_min: int
    adc_max: int
    lsb_per_g: float
    lsb_per_dps: float
    source: str
    mains_hz: int = 0
    frontend: Any = None   # spasmtrack.boards.FrontEnd: an analog module's AC coupling (stateful)

    def emg_counts(self, uv: np.ndarray) -> np.ndarray:
        if self.frontend is not None:   # electrode DC offset never reaches an AC-coupled module's ADC
            uv = self.frontend.process(uv)
        return np.clip(np.rint(uv / self.uv_per_count), self.adc_min, self.adc_max).astype("<i4")

    def imu_counts(self, imu: np.ndarray) -> np.ndarray:
        out = np.empty(imu.shape, dtype=np.float64)
        out[:3] = imu[:3] * self.lsb_per_g
        out[3:] = imu[3:] * self.lsb_per_dps
        return np.clip(np.rint(out), -32768, 32767).astype("<i4")


def board_scale(name: str) -> BoardScale:
    """Counts conversion via H-dev's ``spasmtrack.boards`` when present, else board.json."""
    path = BOARDS_DIR / name / "board.json"
    if not path.exists():
        known = sorted(p.parent.name for p in BOARDS_DIR.glob("*/board.json"))
        raise UserError(f"unknown board {name!r} (known: {', '.join(known)})")
    spec = json.loads(path.read_text())
    emg, imu = spec["emg"], spec["imu"]
    full = (1 << (emg["adc_bits"] - 1)) - 1
    uvpc = emg["vref_v"] / (emg["gain"] * full) * 1e6
    lo, hi = -full, full
    source = f"{path.relative_to(REPO_ROOT)}"
    frontend = None
    try:
        from .boards import load_board
        b = load_board(name)
        uvpc = float(b.uv_per_count)
        lo, hi = b.count_range
        frontend = b.frontend()
        source = "spasmtrack.boards.load_board"
    except ImportError:
        pass
    # LSB sizes as the firmware's coefficients assume them (coeffgen: datasheet values when given)
    acc_mg = float(imu.get("accel_lsb_mg", imu["accel_range_g"] * 1000 / 32768))
    gyro_mdps = float(imu.get("gyro_lsb_mdps", imu["gyro_range_dps"] * 1000 / 32768))
    return BoardScale(name, int(emg.get("channels", 1)), int(emg["fs_hz"]), int(imu["fs_hz"]), uvpc, lo, hi,
                      1000.0 / acc_mg, 1000.0 / gyro_mdps, source, int(emg.get("mains_hz") or 0), frontend)


class RamFlash:
    """NOR-flash block device in RAM (erase -> 0xFF, program clears bits), MicroPython's
    extended block protocol, for running ``firmware/core/flashlog.py`` on CPython."""

    def __init__(self, size: int = 1 << 20, block: int = 4096):
        self.block = block
        self.buf = bytearray(b"\xff" * size)

    def readblocks(self, n: int, buf, offset: int = 0) -> None:
        a = n * self.block + offset
        buf[:] = self.buf[a:a + len(buf)]

    def writeblocks(self, n: int, buf, offset: int = 0) -> None:
        a = n * self.block + offset
        src = bytes(buf)
        old = self.buf[a:a + len(src)]
        self.buf[a:a + len(src)] = bytes(x & y for x, y in zip(old, src))

    def ioctl(self, op: int, arg: int = 0):
        if op == 4:
            return len(self.buf) // self.block
        if op == 5:
            return self.block
        if op == 6:
            a = arg * self.block
            self.buf[a:a + self.block] = b"\xff" * self.block
            return 0
        return 0


def load_flashlog_module():
    """firmware/core/flashlog.py on CPython (bound to the same records module as the host)."""
    return firmware.core("flashlog")


@dataclass
class DemoRun:
    days: float
    out: Path
    seed: int = 1
    regimen: str = "tid"
    board: str = "sim"
    chunk_s: float = 60.0
    block: int = 200                 # raw samples per replay block (fits the 96 KB heap)
    start_hour_utc: int = 6          # the scenario starts at this UTC hour (the latest one that has ended)
    heap: str = "96K"
    tolerance_pct_per_week: float = 10.0   # the simulated patient's EC50 drift (tolerance)
    simboard_s: float = 120.0        # excerpt run through the whole firmware on the sim board
    progress: Callable[[str], None] = print
    stages: list[StageResult] = field(default_factory=list)
    # filled by the stages
    scenario: Scenario | None = None
    timeline: Any = None
    truth_paths: dict = field(default_factory=dict)
    dose_log: Path | None = None
    flash_path: Path | None = None
    records_logged: int = 0
    device_info: dict = field(default_factory=dict)
    db_url: str = ""
    device_key: str = "sim-demo-0001"
    records_synced: int = 0
    sync_info: dict = field(default_factory=dict)
    report_path: str | None = None
    metrics: dict = field(default_factory=dict)
    replay_dets: list = field(default_factory=list)
    end_ms: int = 0
    boot: int = 1

    def say(self, msg: str) -> None:
        self.progress(msg)


# ----------------------------------------------------------------------------------- stages
def stage_simulate(run: DemoRun) -> StageResult:
    r = StageResult("simulate", provider="spasmtrack.patient (MUAP-train EMG, IMU, Emax hazard)")
    # the latest start at the chosen UTC hour whose scenario has ended by now: the device
    # clock keeps running in wall time afterwards, so the host's clock at sync agrees with it
    now = dt.datetime.now(dt.timezone.utc)
    start = now.replace(hour=run.start_hour_utc, minute=0, second=0, microsecond=0)
    while start + dt.timedelta(days=run.days) > now - dt.timedelta(minutes=1):
        start -= dt.timedelta(days=1)
    run.scenario = Scenario(days=run.days, seed=run.seed, regimen=run.regimen, start_utc=start.isoformat(),
                            tolerance_pct_per_week=run.tolerance_pct_per_week,
                            n_channels=board_scale(run.board).n_channels)
    run.timeline = build_timeline(run.scenario)
    run.truth_paths = write_truth(run.timeline, run.out / "truth")
    run.dose_log = write_dose_log(run.timeline, run.out / "dose_log.csv")
    tl = run.timeline
    n_obs = sum(e.observable for e in tl.events)
    r.status = "ok"
    r.detail = (f"{run.days * 24:g} h from {start.isoformat()} ({run.scenario.tz}), regimen {run.regimen}: "
                f"{len(tl.events)} events ({n_obs} while worn with leads on), "
                f"{sum(d.status != 'missed' and d.t_s >= 0 for d in tl.plan.doses)} doses taken, "
                f"{sum(d.status == 'missed' for d in tl.plan.doses)} missed; truth in {run.out / 'truth'}")
    return r


def write_dose_log(tl, path: Path) -> Path:
    """The patient's own dose log (taken doses only, times with offset) in the CSV format of
    ``spasmtrack dose import``."""
    import csv
    from zoneinfo import ZoneInfo
    scn = tl.scenario
    tz = ZoneInfo(scn.tz)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "drug", "amount", "unit", "route", "note"])
        for d in tl.plan.doses:
            if d.status == "missed" or d.t_s < 0:
                continue
            t = (scn.start() + dt.timedelta(seconds=d.t_s)).astimezone(tz)
            w.writerow([t.isoformat(timespec="seconds"), d.drug, f"{d.amount:g}", d.unit, d.route,
                        "late" if d.status == "late" else ""])
    return path


def _micropython() -> str:
    exe = Path(sys.executable).parent / "micropython"
    if exe.exists():
        return str(exe)
    from shutil import which
    w = which("micropython")
    if not w:
        raise StageMissing("the micropython unix port (make setup)")
    return w


def _device_simboard(run: DemoRun) -> StageResult:
    """The whole firmware on the register-level sim board for the whole scenario: too slow
    (about 20x real time: a day would take over an hour), so the demo runs it on an excerpt
    (stage ``simboard``) and the whole day through the detector replay entry."""
    raise StageMissing(f"whole-scenario run on the register-level sim board (about 20x real time, "
                       f"{run.days * 24 / 20 * 60:.0f} min for {run.days * 24:g} h): the full firmware runs "
                       f"on a {run.simboard_s:g} s excerpt in stage simboard instead")


def _device_replay(run: DemoRun) -> StageResult:
    """Real DSP chains + detector (boards/sim/replay_main.py, H-det) on the MicroPython unix
    port; events and summaries appended by the real flash log (H-log) to a NOR image."""
    if not (BOARDS_DIR / "sim" / "replay_main.py").exists():
        raise StageMissing("boards/sim/replay_main.py (H-det detector replay)")
    fl = load_flashlog_module()
    from . import records as rec
    scale = board_scale(run.board)
    nch = scale.n_channels
    if run.scenario.n_channels != nch:
        run.scenario.n_channels = nch
    ps = PatientSignal(run.timeline, fs_emg=scale.fs_emg, fs_imu=scale.fs_imu,
                       rail_uV=scale.adc_max * scale.uv_per_count * 1.2)
    storage = RamFlash()
    log = fl.FlashLog(storage)
    cfg_version = _detconfig_version()
    board_hash = sum(scale.name.encode()) & 0xFFFF
    boot = 1          # the replay entry has no boot number; device.py would log boot 1 here
    log.append(rec.TYPE_BOOT, [boot, rec.RESET_POWER_ON, 0x0100, cfg_version, board_hash])
    start_unix = int(run.scenario.start().timestamp())
    tzq = _tz_quarter(run.scenario)
    log.append(rec.TYPE_TIME_ANCHOR, [boot, 1000, start_unix + 1, tzq, 1])

    env = dict(os.environ)
    mp = _micropython()
    entry = f"import replay_main; replay_main.main({nch}, {run.block}, {scale.mains_hz})"
    # the firmware compiled with mpy-cross (H-dev's mpybuild), as deployed, so it runs in the
    # device's heap; from source it would not even compile within 96 KB
    paths, firmware_note = [str(FIRMWARE_DIR), str(BOARDS_DIR / run.board)], "firmware from source"
    try:
        from .boards import load_board
        from .mpybuild import build as mpy_build
        if load_board(run.board).is_sim:      # .mpy for another board's CPU cannot run here
            built = mpy_build(run.board, out_root=run.out / "mpy")
            paths, firmware_note = [str(built.out)], f"firmware compiled by mpy-cross into {built.out}"
    except ImportError:
        pass
    env["MICROPYPATH"] = os.pathsep.join(paths + [str(BOARDS_DIR / "sim"), ".frozen"])
    cmd = [mp] + (["-X", f"heapsize={run.heap}"] if run.heap else []) + ["-c", entry]
    heap_note = f"heap {run.heap}" if run.heap else "default heap"
    probe = subprocess.run(cmd, input=b"\0\0\0\0", capture_output=True, env=env, timeout=60)
    if probe.returncode != 0 and run.heap:
        heap_note = f"default heap (does not fit in {run.heap}: {_last_line(probe.stdout + probe.stderr)})"
        cmd = [mp, "-c", entry]
    heap_note = f"{firmware_note}, {heap_note}"
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    dur = run.scenario.duration_s
    t0 = time.perf_counter()
    feed = {"gen_s": 0.0, "bytes": 0, "err": None}

    def producer() -> None:
        try:
            hdr = np.array([run.block], "<i4").tobytes()
            last = time.perf_counter()
            for ch in ps.chunks(run.chunk_s):
                g0 = time.perf_counter()
                emg = scale.emg_counts(ch.emg_uV)
                imu = scale.imu_counts(ch.imu)
                n, b = ch.n, run.block
                parts = []
                for a in range(0, n - n % b, b):
                    parts += [hdr, emg[:, a:a + b].tobytes(), imu[:, a // 10:(a + b) // 10].tobytes()]
                rest = n % b
                if rest:
                    a = n - rest
                    parts += [np.array([rest], "<i4").tobytes(), emg[:, a:].tobytes(), imu[:, a // 10:].tobytes()]
                data = b"".join(parts)
                feed["gen_s"] += time.perf_counter() - g0
                proc.stdin.write(data)
                feed["bytes"] += len(data)
                now = time.perf_counter()
                if now - last > 5.0:
                    h = (ch.t0_s + ch.n / scale.fs_emg) / 3600
                    el = now - t0
                    run.say(f"  [device] {h:6.2f} / {dur / 3600:.2f} h simulated and fed "
                            f"({h * 3600 / el:.0f}x real time)")
                    last = now
            proc.stdin.write(np.array([0], "<i4").tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            feed["err"] = "the firmware process closed its input"
        except Exception as exc:  # pragma: no cover - reported below
            feed["err"] = repr(exc)
            proc.kill()

    th = threading.Thread(target=producer, daemon=True)
    th.start()
    n_ev = n_sm = 0
    done = None
    ne = len(rec.FIELDS[rec.TYPE_EVENT])
    ev_names = [n for n, _ in rec.FIELDS[rec.TYPE_EVENT]]
    ns = len(rec.FIELDS[rec.TYPE_SUMMARY])
    for line in proc.stdout:
        parts = line.split()
        if not parts:
            continue
        tag = parts[0]
        if tag == b"E":
            vals = [int(x) for x in parts[1:1 + ne]]
            vals[0] = boot
            log.append(rec.TYPE_EVENT, vals)
            f = dict(zip(ev_names, vals))
            a = f["onset_ms"] / 1000
            run.replay_dets.append(Detection(a, a + f["duration_ms"] / 1000, KIND_NAMES.get(f["kind"], "spasm"),
                                             [f["channel"]], f["clonus_chz"] / 100))
            n_ev += 1
        elif tag == b"S":
            vals = [int(x) for x in parts[1:1 + ns]]
            vals[0] = boot
            log.append(rec.TYPE_SUMMARY, vals)
            n_sm += 1
        elif tag == b"D":
            done = [int(x) for x in parts[1:]]
    th.join()
    err = proc.stderr.read().decode()
    rc = proc.wait()
    if rc != 0 or feed["err"] or done is None:
        raise RuntimeError(f"firmware replay failed (rc {rc}): {feed['err'] or ''} {err.strip()[-800:]}")
    run.end_ms = int(round(dur * 1000))
    run.boot = boot
    run.flash_path = run.out / "flash.bin"
    run.flash_path.write_bytes(bytes(storage.buf))
    run.records_logged = log.last_seq
    run.device_info = {"events": n_ev, "summaries": n_sm, "blocks": done[0], "overflow": done[2],
                       "gen_s": round(feed["gen_s"], 2), "bytes_fed": feed["bytes"], "heap": heap_note,
                       "flash_used_bytes": _flash_used(storage), "log": log, "storage": storage}
    r = StageResult("device", status="fallback",
                    provider="boards/sim/replay_main.py (real DSP chains + detector, H-det) on micropython; "
                             "firmware/core/flashlog.py (H-log) on CPython over a RAM NOR image",
                    detail=(f"{n_ev} events, {n_sm} summaries from {done[0]} blocks of {run.block} samples x {nch} ch "
                            f"({heap_note}); {log.last_seq} records in the flash log "
                            f"({run.device_info['flash_used_bytes']} bytes); the BOOT record and the first "
                            f"TIME_ANCHOR are written by the demo (device.py is not in this path)"))
    return r


def _last_line(b: bytes) -> str:
    lines = b.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


def _flash_used(storage: RamFlash) -> int:
    b = storage.buf
    return sum(1 for i in range(0, len(b), storage.block) if b[i:i + 16] != b"\xff" * 16) * storage.block


def _tz_quarter(scn: Scenario) -> int:
    off = scn.start().astimezone(scn.zone()).utcoffset()
    return int(off.total_seconds() // 900) if off else 0


def _detconfig_version() -> int:
    return int(firmware.core("detconfig").CONFIG_VERSION)


def _best_window(run: DemoRun, seconds: int) -> int:
    """Start (s, on a 10 s boundary) of the ``seconds`` window with the most observable
    events, so the sim-board excerpt has something to detect."""
    on = np.array([e.onset_s for e in run.timeline.events if e.observable])
    dur = run.scenario.duration_s
    if len(on) == 0 or dur <= seconds + 20:
        return 0
    starts = np.arange(0, dur - seconds - 10, 10.0)
    counts = np.searchsorted(on, starts + seconds - 5) - np.searchsorted(on, starts + 5)
    return int(starts[int(np.argmax(counts))])


def stage_simboard(run: DemoRun) -> StageResult:
    """The whole device firmware (firmware/device/runtime.py: BOOT record, drivers, sampler, DSP,
    detector, flash log) on the sim board's register-level AFE/IMU simulators, over an
    excerpt of the same signal (the register-level simulation runs about 15x real time,
    too slow for the whole day), cross-checked against the device stage's events."""
    script = Path(__file__).parent / "demo_mpy" / "simboard_run.py"
    needed = [FIRMWARE_DIR / "device" / "runtime.py", FIRMWARE_DIR / "device" / "app.py", BOARDS_DIR / "sim" / "simhw.py",
              BOARDS_DIR / "sim" / "flash_storage.py"]
    gone = [str(p.relative_to(REPO_ROOT)) for p in needed if not p.exists()]
    if gone:
        raise StageMissing("sim-board firmware runtime (H-dev): " + ", ".join(gone))
    spec = json.loads((BOARDS_DIR / run.board / "board.json").read_text())
    if spec["emg"]["part"] != "ads1292r":
        raise StageMissing(f"sim-board excerpt for a {spec['emg']['part']} front end (the demo feeds the "
                           f"ADS1292R simulator's inputs; board {run.board!r} has none)")
    seconds = int(run.simboard_s)
    if seconds <= 0:
        return StageResult("simboard", status="skipped", detail="--simboard-s 0")
    from . import records as rec
    scale = board_scale(run.board)
    w0 = _best_window(run, seconds)
    board_json = BOARDS_DIR / run.board / "board.json"
    flash = run.out / "simboard_flash.bin"
    if flash.exists():
        flash.unlink()
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(FIRMWARE_DIR), str(BOARDS_DIR / "sim"), ".frozen"])
    heap = ["-X", "heapsize=2M"]
    proc = subprocess.Popen([_micropython(), *heap, str(script), str(board_json), str(flash), str(seconds)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    ps = PatientSignal(run.timeline, fs_emg=scale.fs_emg, fs_imu=scale.fs_imu,
                       rail_uV=(scale.adc_max + 1) * scale.uv_per_count * 1.2)
    err: list[str] = []

    def producer() -> None:
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
                iq = np.rint(iq).astype("<i4")
                parts = []
                for a in range(0, ch.n, blk):
                    parts += [nv[:, a:a + blk].T.tobytes(), lo[a:a + blk].tobytes(),
                              iq[:, a // dec:(a + blk) // dec].T.tobytes()]
                proc.stdin.write(b"".join(parts))
            proc.stdin.close()
        except BrokenPipeError:
            err.append("the sim board closed its input")

    th = threading.Thread(target=producer, daemon=True)
    th.start()
    status = None
    t0 = time.perf_counter()
    last = t0
    alive = [time.perf_counter()]

    def watchdog() -> None:          # a stuck sim board must not hang the demo
        while proc.poll() is None:
            if time.perf_counter() - alive[0] > 120:
                err.append("no progress for 120 s: stopped")
                proc.kill()
                return
            time.sleep(1)

    threading.Thread(target=watchdog, daemon=True).start()
    for line in proc.stdout:
        alive[0] = time.perf_counter()
        if line.startswith(b"P ") and time.perf_counter() - last > 5:
            v = line.split()
            run.say(f"  [simboard] {int(v[1])} / {seconds} s of the excerpt, {int(v[2])} events")
            last = time.perf_counter()
        elif line.startswith(b"D "):
            status = json.loads(line[2:])
    th.join()
    stderr = proc.stderr.read().decode()
    rc = proc.wait()
    if rc != 0 or status is None:
        raise RuntimeError(f"sim board failed (rc {rc}): {' '.join(err)} {stderr.strip()[-800:]}")
    # read the sim board's flash image with the real flash log on CPython
    fl = load_flashlog_module()
    image = bytearray(flash.read_bytes())
    storage = RamFlash(len(image))
    storage.buf[:] = image
    log = fl.FlashLog(storage)
    buf = bytearray(rec.MAX_FRAME)
    counts: dict[str, int] = {}
    sb_events = []
    for n in log.read_from(1, buf):
        r = rec.decode_frame(bytes(buf[:n]))
        counts[r.type_name] = counts.get(r.type_name, 0) + 1
        if r.rtype == rec.TYPE_EVENT:
            f = r.fields
            a = w0 + f["onset_ms"] / 1000
            sb_events.append(Detection(a, a + f["duration_ms"] / 1000, KIND_NAMES.get(f["kind"], "spasm"),
                                       [f["channel"]], f["clonus_chz"] / 100))
    sb = merge_channels(sb_events)
    truth_w = [e for e in run.timeline.events if w0 + 3 <= e.onset_s and e.offset_s <= w0 + seconds]
    sc, _ = score(truth_w, [d for d in sb if d.onset_s >= w0 + 3], seconds / 3600)
    rp = [d for d in merge_channels(run.replay_dets) if w0 + 3 <= d.onset_s < w0 + seconds]
    agree = sum(1 for d in sb if any(abs(d.onset_s - x.onset_s) <= 0.05 for x in rp))
    el = time.perf_counter() - t0
    run.metrics["simboard"] = {"window_s": [w0, w0 + seconds], "speed_x": round(seconds / el, 1),
                               "records": log.last_seq, "by_type": counts, "events": len(sb),
                               "truth_events": len(truth_w), "replay_events": len(rp),
                               "same_onset_as_replay": agree, "f1": round(sc.f1, 3),
                               "dropped": status.get("dropped"), "jitter_us_max": status.get("jitter_us_max"),
                               "boot": status.get("boot")}
    return StageResult("simboard", status="ok",
                       provider="firmware/device/runtime.py + app.py on boards/sim register-level ADS1292R/MPU-6050 "
                                "simulators (H-dev), driven by spasmtrack/demo_mpy/simboard_run.py",
                       detail=(f"excerpt {w0 / 3600:.2f}-{(w0 + seconds) / 3600:.2f} h ({seconds} s, "
                               f"{seconds / el:.1f}x real time): {log.last_seq} records in its flash log, "
                               f"{len(sb)} events vs {len(truth_w)} true, {agree} with the same onset (+-50 ms) as "
                               f"the device stage's {len(rp)}; dropped samples {status.get('dropped')}"))


def stage_device(run: DemoRun) -> StageResult:
    return _first_available(run, "device", [_device_simboard, _device_replay])


def _sync_ble(run: DemoRun) -> StageResult:
    """The host's bleak sync (spasmtrack.ble.sync, Bumble backend) over the virtual radio
    against the real BLE peripheral on the sim board serving the device stage's flash log."""
    need = [FIRMWARE_DIR / "device" / "ble_peripheral.py", BOARDS_DIR / "sim" / "bluetooth.py",
            Path(__file__).parent / "ble" / "sync.py", Path(__file__).parent / "ble" / "radio.py",
            Path(__file__).parent / "ble" / "bumble_backend.py"]
    gone = [str(p.relative_to(REPO_ROOT)) for p in need if not p.exists()]
    if gone:
        raise StageMissing("BLE sync over the virtual radio (H-ble): " + ", ".join(gone))
    if run.flash_path is None:
        raise StageMissing("a flash image from the device stage")
    import asyncio
    import shutil
    from .ble import bumble_backend as bb
    from .ble.radio import VirtualRadio
    from .ble.sync import sync_device
    from .store import open_store
    st = open_store(run.db_url)
    _ensure_patient(st, run)
    flashdir = run.out / "simflash"
    if flashdir.exists():
        shutil.rmtree(flashdir)
    flashdir.mkdir(parents=True)
    (run.out / "host_bonds.json").unlink(missing_ok=True)     # a new device, a new bond
    shutil.copyfile(run.flash_path, flashdir / "spasmlog.bin")
    mac = "F0:5A:5A:00:00:01"
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(FIRMWARE_DIR), str(BOARDS_DIR / "sim"), ".frozen"])
    env["SPASMTRACK_SIM_MAC"] = mac
    script = Path(__file__).parent / "demo_mpy" / "ble_run.py"
    t0 = time.perf_counter()
    saved = {k: os.environ.get(k) for k in (bb.RADIO_ENV, bb.KEYS_ENV)}
    radio = VirtualRadio(run.out / "radio")
    # the radio process logs to radio.log (it inherits stderr when it starts)
    saved_fd = os.dup(2)
    with open(run.out / "radio.log", "ab") as radio_log:
        os.dup2(radio_log.fileno(), 2)
        try:
            radio.start()
        finally:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
    try:
        env["SPASMTRACK_BLE_BRIDGE"] = radio.bridge_addr
        # the device has kept counting since the signal ended: its ms now, in wall time
        ms_now = int((time.time() - run.scenario.start().timestamp()) * 1000)
        dev = subprocess.Popen([_micropython(), str(script), str(run.boot), str(ms_now), "600"],
                               cwd=flashdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
        try:
            line = dev.stdout.readline().decode()
            if not line.startswith("READY"):
                raise RuntimeError(f"sim board BLE program did not start: {line.strip()} "
                                   f"{dev.stderr.read().decode()[-600:]}")
            os.environ[bb.RADIO_ENV] = radio.hci_spec
            os.environ[bb.KEYS_ENV] = str(run.out / "host_bonds.json")
            res = asyncio.run(_sync_once(sync_device, mac, st, run.device_key))
            out, err = dev.communicate(input=b"STOP\n", timeout=60)
        finally:
            if dev.poll() is None:
                dev.kill()
                dev.wait()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        radio.stop()
    done = [ln for ln in out.decode().splitlines() if ln.startswith("DONE")]
    if not done:
        raise RuntimeError(f"sim board BLE program ended without DONE: {err.decode()[-600:]}")
    dev_last, dev_acked = (int(x) for x in done[-1].split()[1:3])
    shutil.copyfile(flashdir / "spasmlog.bin", run.flash_path)
    run.records_logged = dev_last
    acc = st.sync_accounting(run.device_key)
    run.records_synced = acc["records"]
    run.sync_info = {**acc, "ble": {k: getattr(res, k) for k in ("records", "duplicates", "batches", "notifications",
                                                                 "bytes_rx", "restarts", "mtu", "acked_seq",
                                                                 "elapsed_s")}}
    run.sync_info.pop("missing_seqs", None)
    el = time.perf_counter() - t0
    return StageResult("sync", status="ok",
                       provider="spasmtrack.ble.sync (bleak, Bumble backend) over the virtual radio; "
                                "firmware/device/ble_peripheral.py on the sim board (H-ble)",
                       detail=(f"{res.records} records in {res.batches} batches, {res.notifications} notifications, "
                               f"MTU {res.mtu}, {res.bytes_rx} bytes; device log last seq {dev_last}, acked "
                               f"{dev_acked}; database holds {acc['records']} (missing seqs: "
                               f"{len(acc['missing_seqs'])}); {el:.1f} s"))


async def _sync_once(sync_device, mac: str, st, key: str):
    try:
        return await sync_device(mac, st, key)
    finally:
        from .ble.bumble_backend import close_adapter
        await close_adapter()


def _sync_direct(run: DemoRun) -> StageResult:
    """Fallback: frames read straight from the flash log (no radio)."""
    from . import records as rec
    from .store import open_store
    log = run.device_info.get("log")
    if log is None:
        raise StageMissing("a flash log from the device stage")
    st = open_store(run.db_url)
    _ensure_patient(st, run)
    # without the radio nobody sets the clock: the demo logs the anchor a sync would cause
    log.append(rec.TYPE_TIME_ANCHOR, [run.boot, run.end_ms,
                                      int(run.scenario.start().timestamp()) + run.end_ms // 1000,
                                      _tz_quarter(run.scenario), 1])
    run.records_logged = log.last_seq
    buf = bytearray(rec.MAX_FRAME)
    frames = [bytes(buf[:n]) for n in log.read_from(st.last_seq(run.device_key) + 1, buf)]
    synced = 0
    for a in range(0, len(frames), 500):
        res = st.insert_records(run.device_key, frames[a:a + 500])
        synced += res.inserted
        log.ack(res.last_seq)
    run.flash_path.write_bytes(bytes(run.device_info["storage"].buf))
    acc = st.sync_accounting(run.device_key)
    run.records_synced = acc["records"]
    run.sync_info = acc
    r = StageResult("sync", status="fallback", provider="frames read from the flash log and stored with "
                    "Store.insert_records (NOT over the radio)",
                    detail=f"{synced} records stored in {run.db_url}, acked up to seq {log.acked_seq}; "
                           f"missing seqs: {len(acc['missing_seqs'])}")
    return r


def _ensure_patient(st, run: DemoRun) -> None:
    try:
        st.patient(PATIENT_CODE)
    except Exception:
        st.add_patient(PATIENT_CODE, run.scenario.tz, "Simulated patient (demo)")
    st.device_id(run.device_key, board=run.board)
    st.assign_device(run.device_key, PATIENT_CODE)


def stage_sync(run: DemoRun) -> StageResult:
    return _first_available(run, "sync", [_sync_ble, _sync_direct])


def stage_doses(run: DemoRun) -> StageResult:
    r = StageResult("doses")
    try:
        from .doses import DoseLog, PumpStep
    except ImportError:
        raise StageMissing("spasmtrack.doses (H-host)") from None
    from .store import open_store
    st = open_store(run.db_url)
    _ensure_patient(st, run)
    dl = DoseLog(st, who="demo")
    rep = dl.import_csv(PATIENT_CODE, run.dose_log)
    detail = f"{len(rep.inserted)} doses imported from {run.dose_log}"
    if rep.warnings:
        detail += f" ({len(rep.warnings)} warnings)"
    if run.regimen == "itb":
        scn = run.scenario
        steps = [PumpStep("07:00", 300.0), PumpStep("21:00", 420.0)]
        start_local = (scn.start() - dt.timedelta(days=7)).astimezone(scn.zone())
        dl.add_pump_program(PATIENT_CODE, steps, start_local.strftime("%Y-%m-%d %H:%M"), zone=scn.tz,
                            note="simulated flex program")
        detail += "; ITB flex program 07:00 300 ug/day, 21:00 420 ug/day"
    r.status, r.provider, r.detail = "ok", "spasmtrack.doses.DoseLog.import_csv", detail
    return r


def stage_report(run: DemoRun) -> StageResult:
    """H-host's analysis and HTML report (the same path as ``spasmtrack report``)."""
    try:
        from .analysis import Params, analyse, load
        from .report import write_private
        from .report.html import render
    except ImportError as exc:
        raise StageMissing(f"clinician report / analysis (H-host): {exc}") from None
    from .store import open_store
    st = open_store(run.db_url)
    scn = run.scenario
    f_ms = int(scn.start().timestamp() * 1000)
    t_ms = f_ms + int(scn.duration_s * 1000)
    t = time.perf_counter()
    a = analyse(load(st, PATIENT_CODE, f_ms, t_ms), Params())
    run.metrics["analysis_s"] = round(time.perf_counter() - t, 3)
    html = render(a, st)
    out = run.out / "report.html"
    write_private(out, html.encode("utf-8"))
    run.report_path = str(out)
    run.metrics["truth_vs_measured"] = truth_vs_measured(run, a)
    return StageResult("report", status="ok", provider="spasmtrack.analysis + spasmtrack.report.html (H-host)",
                       detail=f"{out} ({len(html) // 1024} kB, analysis {run.metrics['analysis_s']:.2f} s)")


def truth_vs_measured(run: DemoRun, a) -> list[dict]:
    """Rows (quantity, truth, measured, ci_lo, ci_hi, within_ci) from the analysis."""
    from .patient.scenario import ec50_at
    scn = run.scenario
    resp = scn.active_response()
    rows = []
    cr = a.cr or {}
    mid_ec50 = float(ec50_at(scn, np.array([scn.duration_s / 2]))[0])
    for key, truth in (("e0_per_h", resp.base_rate_per_h), ("imax", resp.emax), ("ic50", round(mid_ec50, 2))):
        if cr.get("ok") and key in cr:
            est, lo, hi = cr[key]
            rows.append({"quantity": key, "truth": truth, "measured": round(est, 3), "ci_lo": round(lo, 3),
                         "ci_hi": round(hi, 3), "within_ci": bool(lo <= truth <= hi)})
        else:
            rows.append({"quantity": key, "truth": truth, "measured": None, "ci_lo": None, "ci_hi": None,
                         "within_ci": None})
    tol = a.tolerance or {}
    if "ic50_pct_per_week" in tol:
        t = scn.tolerance_pct_per_week
        lo, hi = tol["ic50_pct_lo"], tol["ic50_pct_hi"]
        rows.append({"quantity": "ic50_pct_per_week", "truth": t, "measured": round(tol["ic50_pct_per_week"], 2),
                     "ci_lo": round(lo, 2), "ci_hi": round(hi, 2), "within_ci": bool(lo <= t <= hi)})
    if cr.get("ok"):
        rows.append({"quantity": "circadian_amp", "truth": run.scenario.circadian_amp,
                     "measured": round(cr.get("circadian_amp", float("nan")), 3), "ci_lo": None, "ci_hi": None,
                     "within_ci": None})
        rows.append({"quantity": "circadian_peak_h", "truth": run.scenario.circadian_peak_h,
                     "measured": round(cr.get("circadian_peak_h", float("nan")), 2), "ci_lo": None, "ci_hi": None,
                     "within_ci": None})
    return rows


def detections_from_db(run: DemoRun, clock: str = "device") -> list[Detection]:
    """Stored events as detections in seconds from the scenario start.

    ``clock="device"``: from the device's own time (boot 1 started with the signal, so
    onset_ms / 1000 is exact): judges the detector alone. ``clock="utc"``: from the
    UTC the host placed them at through the time anchors: judges detection + sync timing."""
    from sqlalchemy import select
    from .store import open_store
    from .store import schema as s
    st = open_store(run.db_url)
    t0 = run.scenario.start().timestamp() * 1000
    with st.engine.connect() as c:
        rows = c.execute(select(s.events.c.onset_ms, s.events.c.onset_utc_ms, s.events.c.duration_ms,
                                s.events.c.kind, s.events.c.channel, s.events.c.clonus_chz)).all()
    dets = []
    for onset_ms, onset_utc, d, k, ch, hz in rows:
        if clock == "utc":
            if onset_utc is None:
                continue
            a = (onset_utc - t0) / 1000
        else:
            a = onset_ms / 1000
        dets.append(Detection(a, a + d / 1000, KIND_NAMES.get(k, "spasm"), [int(ch or 0)], (hz or 0) / 100))
    return dets


def placement_error_ms(run: DemoRun) -> dict:
    """UTC placement by the host (time anchors) minus the true time of each event (ms)."""
    from sqlalchemy import select
    from .store import open_store
    from .store import schema as s
    st = open_store(run.db_url)
    t0 = run.scenario.start().timestamp() * 1000
    with st.engine.connect() as c:
        rows = c.execute(select(s.events.c.onset_ms, s.events.c.onset_utc_ms)).all()
    err = np.array([(u - t0) - m for m, u in rows if u is not None], dtype=float)
    unplaced = sum(1 for _, u in rows if u is None)
    if err.size == 0:
        return {"events": 0, "unplaced": unplaced}
    return {"events": int(err.size), "unplaced": unplaced, "median_ms": round(float(np.median(err)), 1),
            "min_ms": round(float(err.min()), 1), "max_ms": round(float(err.max()), 1)}


def stage_score(run: DemoRun) -> StageResult:
    tl = run.timeline
    worn_h = _observable_hours(run)
    sc, _ = score(tl.events, merge_channels(detections_from_db(run, "device")), worn_h)
    sc_utc, _ = score(tl.events, merge_channels(detections_from_db(run, "utc")), worn_h)
    place = placement_error_ms(run)
    run.metrics["score"] = sc.to_dict()
    run.metrics["score_utc"] = sc_utc.to_dict()
    run.metrics["placement"] = place
    run.metrics["events_simulated"] = len(tl.events)
    run.metrics["events_simulated_observable"] = sc.n_true
    run.metrics["events_detected"] = sc.n_detected
    run.metrics["detection_f1"] = round(sc.f1, 4)
    run.metrics["coverage"] = _coverage(run, worn_h)
    return StageResult("score", status="ok", provider="spasmtrack.patient.score",
                       detail=f"F1 {sc.f1:.3f} (P {sc.precision:.3f}, R {sc.recall:.3f}) on device time, "
                              f"median onset error {sc.onset_err_median_s * 1000:.0f} ms; on the host's UTC "
                              f"placement F1 {sc_utc.f1:.3f} (placement error median {place.get('median_ms')} ms, "
                              f"range {place.get('min_ms')}..{place.get('max_ms')} ms)")


def _observable_hours(run: DemoRun) -> float:
    tl = run.timeline
    dur = run.scenario.duration_s
    mask = np.ones(int(dur), dtype=bool)
    for iv in tl.intervals:
        if iv.kind in ("not_worn", "leadoff"):
            mask[int(iv.start_s):int(math.ceil(iv.end_s))] = False
    return float(mask.sum()) / 3600


def _coverage(run: DemoRun, worn_h: float) -> dict:
    from sqlalchemy import func, select
    from .store import open_store
    from .store import schema as s
    st = open_store(run.db_url)
    with st.engine.connect() as c:
        cov, lost, n = c.execute(select(func.sum(s.summaries.c.covered_ds), func.sum(s.summaries.c.lost_ds),
                                        func.count())).one()
    return {"device_covered_h": round((cov or 0) / 36000, 3), "device_lost_h": round((lost or 0) / 36000, 3),
            "summaries": int(n), "true_worn_leads_on_h": round(worn_h, 3),
            "simulated_h": round(run.scenario.duration_s / 3600, 3)}


def _first_available(run: DemoRun, name: str, providers: list) -> StageResult:
    """First provider that works; a provider that exists but fails is reported (as FAILED
    in the stage's missing list) and the next one is tried, so the demo still finishes."""
    missing = []
    for i, p in enumerate(providers):
        try:
            r = p(run)
            r.missing = missing + [m for m in r.missing if m not in missing]
            if missing and r.status == "ok":
                r.status = "fallback"
            return r
        except StageMissing as exc:
            missing.append(str(exc))
        except Exception as exc:
            if i == len(providers) - 1:
                raise
            missing.append(f"FAILED {p.__name__}: {type(exc).__name__}: {exc}")
            run.say(f"  [{name}] {p.__name__} failed: {type(exc).__name__}: {exc}")
    raise StageMissing("; ".join(missing))


def device_frames(run: DemoRun) -> dict[int, bytes]:
    """Every record in the device's flash image (after the sync), by seq."""
    from . import records as rec
    fl = load_flashlog_module()
    image = run.flash_path.read_bytes()
    storage = RamFlash(len(image))
    storage.buf[:] = image
    log = fl.FlashLog(storage)
    buf = bytearray(rec.MAX_FRAME)
    return {rec.decode_frame(bytes(buf[:n])).seq: bytes(buf[:n]) for n in log.read_from(1, buf)}


STAGES: list[tuple[str, Callable[[DemoRun], StageResult]]] = [
    ("simulate", stage_simulate),
    ("device", stage_device),
    ("simboard", stage_simboard),
    ("sync", stage_sync),
    ("doses", stage_doses),
    ("report", stage_report),
    ("score", stage_score),
]


def run_demo(run: DemoRun, json_path: Path | None = None) -> dict:
    """Run every stage; returns (and writes) the demo summary."""
    run.out.mkdir(parents=True, exist_ok=True)
    db = run.out / "demo.sqlite"
    if db.exists():
        db.unlink()
    run.db_url = f"sqlite:///{db}"
    t_all = time.perf_counter()
    run.say(f"spasmtrack demo: {run.days * 24:g} simulated hours, seed {run.seed}, regimen {run.regimen}, "
            f"board {run.board}, output {run.out}")
    blocked = False
    for name, fn in STAGES:
        t = time.perf_counter()
        if blocked and name not in ("doses", "simboard"):
            r = StageResult(name, status="skipped", detail="an earlier stage did not produce its output")
        else:
            try:
                r = fn(run)
            except StageMissing as exc:
                r = StageResult(name, status="missing", detail=f"not available yet: {exc}")
            except Exception as exc:
                r = StageResult(name, status="failed", detail=f"{type(exc).__name__}: {exc}")
        r.seconds = round(time.perf_counter() - t, 3)
        run.stages.append(r)
        tag = {"ok": "ok", "fallback": "FALLBACK", "missing": "MISSING", "failed": "FAILED",
               "skipped": "skipped"}.get(r.status, r.status)
        run.say(f"[{name:8}] {tag:8} {r.seconds:7.2f} s  {r.detail}")
        if r.provider:
            run.say(f"{'':20}by {r.provider}")
        for m in r.missing:
            run.say(f"{'':20}missing piece: {m}")
        if name in ("simulate", "device", "sync") and r.status in ("missing", "failed", "skipped"):
            blocked = True
    demo_s = time.perf_counter() - t_all
    m = run.metrics
    summary = {
        "demo_s": round(demo_s, 2),
        "simulated_hours": round(run.days * 24, 3),
        "events_simulated": m.get("events_simulated"),
        "events_simulated_observable": m.get("events_simulated_observable"),
        "events_detected": m.get("events_detected"),
        "detection_f1": m.get("detection_f1"),
        "records_logged": run.records_logged,
        "records_synced": run.records_synced,
        "report_path": run.report_path,
        "coverage": m.get("coverage"),
        "score": m.get("score"),
        "score_utc": m.get("score_utc"),
        "placement_ms": m.get("placement"),
        "simboard": m.get("simboard"),
        "truth_vs_measured": m.get("truth_vs_measured"),
        "seed": run.seed,
        "regimen": run.regimen,
        "board": run.board,
        "truth_dir": str(run.out / "truth"),
        "db": run.db_url,
        "time_s": {r.name: r.seconds for r in run.stages},
        "device_detail": {k: v for k, v in run.device_info.items() if k not in ("log", "storage")},
        "stages": [{"name": r.name, "status": r.status, "seconds": r.seconds, "provider": r.provider,
                    "detail": r.detail, "missing": r.missing} for r in run.stages],
    }
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary, indent=1))
    _print_summary(run, summary, json_path)
    return summary


def _print_summary(run: DemoRun, s: dict, json_path: Path | None) -> None:
    say = run.say
    say("")
    say("== spasmtrack demo summary ==")
    sc = s.get("score") or {}
    say(f"simulated:        {s['simulated_hours']:g} h, {s['events_simulated']} events "
        f"({s['events_simulated_observable']} while worn, leads on)")
    if sc:
        say(f"detected:         {s['events_detected']} episodes; matched {sc['tp']}, missed {sc['fn']}, "
            f"false {sc['fp']} ({sc['fp_per_hour']:.2f}/h)")
        say(f"detection:        (device time) F1 {sc['f1']:.3f}  precision {sc['precision']:.3f}  recall {sc['recall']:.3f}  "
            f"onset error median {sc['onset_err_median_s'] * 1000:.0f} ms (p90 {sc['onset_err_p90_s'] * 1000:.0f} ms)")
    su, pl = s.get("score_utc") or {}, s.get("placement_ms") or {}
    if su and pl.get("events"):
        say(f"time placement:   host UTC minus true time {pl['median_ms']:+.0f} ms median "
            f"({pl['min_ms']:+.0f}..{pl['max_ms']:+.0f}); F1 on the placed times {su['f1']:.3f}")
    say(f"records:          {s['records_logged']} logged on the device, {s['records_synced']} in the database"
        + ("  (equal)" if s['records_logged'] == s['records_synced'] and s['records_logged'] else ""))
    cov = s.get("coverage") or {}
    if cov:
        say(f"coverage:         device good signal {cov['device_covered_h']:.2f} h, lost {cov['device_lost_h']:.2f} h; "
            f"truth worn with leads on {cov['true_worn_leads_on_h']:.2f} h of {cov['simulated_h']:.2f} h")
    say(f"report:           {s['report_path'] or 'NOT WRITTEN (report stage missing)'}")
    tvm = s.get("truth_vs_measured") or []
    if tvm:
        say("concentration-response, truth vs measured (analysis of the synced events):")
        for row in tvm:
            ci = f"[{row['ci_lo']}, {row['ci_hi']}]" if row["ci_lo"] is not None else ""
            say(f"  {row['quantity']:17} truth {row['truth']:<8g} measured {row['measured']} {ci}"
                + ("" if row["within_ci"] is None else ("  within CI" if row["within_ci"] else "  OUTSIDE CI")))
    not_real = [f"{st['name']} ({st['status']})" for st in s["stages"] if st["status"] != "ok"]
    if not_real:
        say(f"not end to end:   {', '.join(not_real)}")
    say(f"time:             {s['demo_s']:.1f} s total; " + ", ".join(f"{k} {v:.1f} s" for k, v in s["time_s"].items()))
    if json_path:
        say(f"figures:          {json_path}")
