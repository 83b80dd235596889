"""Store a replayed recording as a device's records, so a lab recording reaches the report.

The replay's EVENT and SUMMARY values (device time = ms since the start of the recording)
are framed with the firmware's own record layout (:mod:`spasmtrack.records`) behind a BOOT
record, the detector's CONFIG records and one TIME_ANCHOR (source manual) that places the
recording's start in UTC. The device key names the recording's content hash, so the same
file replayed twice is the same device (its records are idempotent), and the audit log
keeps the file name, hash, board, start time and any detector overrides (provenance).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from . import records as rec
from .errors import UserError
from .replay import ReplayResult, detconfig_module
from .store import Store


@dataclass
class ReplayImport:
    device_key: str
    inserted: int
    duplicates: int
    events: int
    summaries: int


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def firmware_version() -> int:
    """The replayed firmware's version as BOOT records carry it (major << 8 | minor):
    ``FW_VERSION_U16`` of firmware/core/fwinfo.py, loaded through the firmware seam."""
    from . import firmware
    return int(firmware.core("fwinfo").FW_VERSION_U16)


def replay_frames(res: ReplayResult, start_utc_ms: int, config: dict[str, int] | None,
                  fw_version: int) -> list[bytes]:
    """BOOT, CONFIG, TIME_ANCHOR, then EVENT/SUMMARY frames in device-time order."""
    cfg = detconfig_module().make(**(config or {}))
    items: list[tuple[int, int, dict]] = [
        (rec.TYPE_BOOT, 0, dict(boot=1, reset_cause=rec.fw.RESET_POWER_ON, fw_version=fw_version,
                                config_version=cfg.version, board_hash=0))]
    items += [(rec.TYPE_CONFIG, 0, dict(config_version=cfg.version, key=k, value=v))
              for k, _, v in cfg.items()]
    items.append((rec.TYPE_TIME_ANCHOR, 0, dict(boot=1, ms=0, unix_s=start_utc_ms // 1000,
                                                tz_quarter_h=0, source=rec.fw.SOURCE_MANUAL)))
    timed: list[tuple[int, int, dict]] = []
    for v in res.event_values:
        f = rec.fw.to_dict(rec.TYPE_EVENT, v)
        f["boot"] = 1
        timed.append((f["onset_ms"] + f["duration_ms"], rec.TYPE_EVENT, f))
    for v in res.summary_values:
        f = rec.fw.to_dict(rec.TYPE_SUMMARY, v)
        f["boot"] = 1
        timed.append((f["start_ms"] + 1000 * f["window_s"], rec.TYPE_SUMMARY, f))
    timed.sort(key=lambda x: (x[0], x[1]))
    items += [(rt, 0, f) for _, rt, f in timed]
    return [rec.encode(rt, seq, **f) for seq, (rt, _, f) in enumerate(items, 1)]


def store_replay(store: Store, patient: str, recording: str | Path, res: ReplayResult,
                 start_utc_ms: int, *, board: str, config: dict[str, int] | None,
                 who: str = "cli") -> ReplayImport:
    """Store ``res`` as the records of device ``replay:<sha256[:16]>`` worn by ``patient``
    from ``start_utc_ms``; returns what was stored."""
    pat = store.patient(patient)
    if start_utc_ms % 1000:
        raise UserError("--start must be a whole second")
    sha = file_sha256(recording)
    key = f"replay:{sha[:16]}" + (f":cfg{detconfig_module().make(**config).version}" if config else "")
    frames = replay_frames(res, start_utc_ms, config, firmware_version())
    existing = {d["key"]: d for d in store.devices()}
    if key in existing:
        owner = [p["code"] for p in store.patients()
                 if any(w[1] == key for w in store.device_windows(p["code"]))]
        if owner and owner != [pat["code"]]:
            raise UserError(f"this recording is already stored for patient {owner[0]} "
                            f"(device {key}); nothing stored")
    store.device_id(key, board=f"replay:{board}")
    if key not in existing:
        store.assign_device(key, pat["code"], who=who, since_utc_ms=start_utc_ms)
    ins = store.insert_records(key, frames)
    with store.engine.begin() as c:
        did = store._device_id(c, key, False)
        store._audit(c, "devices", did, "replay-import", who,
                     {"file": Path(recording).name, "sha256": sha, "board": board,
                      "start_utc_ms": start_utc_ms, "config": config or {},
                      "events": len(res.event_values), "summaries": len(res.summary_values)})
    return ReplayImport(key, ins.inserted, ins.duplicates, len(res.event_values), len(res.summary_values))
