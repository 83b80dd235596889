"""BLE sync benchmark over the virtual radio (real firmware on the sim board, bleak on Bumble).

A heavy week is written into the sim device's flash log at first boot (2,100 EVENT + 2,016
five-minute SUMMARY records + BOOT); the host then pairs, sets the clock and syncs it into a
fresh SQLite database with the same code as ``spasmtrack sync``.

- ``sync_week_s``: wall time of that sync, connect + pairing + clock + records + commits + acks.
- ``sync_records_per_s``: records stored per second of the record transfer (sync_client).
- ``sync_bytes_per_event``: bytes on air for one EVENT record: its 48-byte frame plus its share
  of the per-notification overhead (1 B header, ATT 3 B, L2CAP 4 B, LL header 2 B, MIC 4 B).
- ``sync_reconnects``: reconnects the host needed over ``REPEATS`` heavy week syncs (each a
  fresh device, paired, then synced) with the sim stack refusing host writes with ATT 0x11
  while its buffer pool is empty (NimBLE); the figure's details give the 0x11 refusals the
  host retried (``busy_writes``) and the device's pool-empty pauses (``full_retries``).
- ``sync_week_esp32_est_s`` (on paper): the same bytes on a real ESP32 link at a 30 ms
  connection interval, assuming 2 full notifications per connection event (what common
  phone/PC centrals allow; more per event is faster): air bytes / (2 x 251 B / 30 ms).
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from .. import records as R
from ..ble.bumble_backend import BumbleRadio, close_adapter
from ..ble.radio import VirtualRadio
from ..ble.simdevice import DEVICE_ADDR, SimBleDevice, pair_sim
from ..ble.sync import SyncResult, sync_device
from ..store import Store, open_store
from . import BenchFigure

EVENTS = 2100
SUMMARIES = 2016
NOTIFY_OVERHEAD = 1 + 3 + 4 + 2 + 4     # header, ATT, L2CAP, LL header, MIC (bytes)
CI_S = 0.030
PER_CI = 2
LL_PAYLOAD = 251
REPEATS = 5


def measure(events: int = EVENTS, summaries: int = SUMMARIES, repeats: int = 1) -> dict:
    with tempfile.TemporaryDirectory(prefix="spasmtrack-bench-sync-") as tmp:
        d = Path(tmp)
        rounds: list[dict[str, Any]] = []
        with VirtualRadio(d / "radio") as radio:
            bumble = BumbleRadio(radio.hci_spec, keys=d / "keys.json")
            for i in range(repeats):
                with SimBleDevice(d / f"flash{i}", radio, events=events,
                                  summaries=summaries) as dev:
                    st = open_store(f"sqlite:///{d / f'db{i}.sqlite'}")

                    res, wall = asyncio.run(_pair_and_sync(dev, st, bumble))
                    acc = st.sync_accounting("bench")
                    dev.kill()
                stats = dev.stats()
                rounds.append({"res": res, "wall": wall, "acc": acc,
                               "full_retries": sum(x["full_retries"] for x in stats)})
    res, wall, acc = rounds[0]["res"], rounds[0]["wall"], rounds[0]["acc"]
    frame_bytes = res.bytes_rx - res.notifications           # minus the 1-byte headers
    air = res.bytes_rx + res.notifications * (NOTIFY_OVERHEAD - 1)
    return {"wall_s": wall, "res": res, "acc": acc, "air_bytes": air, "frame_bytes": frame_bytes,
            "rounds": rounds}


async def _pair_and_sync(dev: SimBleDevice, st: Store, bumble: BumbleRadio) -> tuple[SyncResult, float]:
    try:
        t0 = time.perf_counter()
        await pair_sim(dev, bumble)
        res = await sync_device(DEVICE_ADDR, st, "bench", backend=bumble)
        return res, time.perf_counter() - t0
    finally:
        await close_adapter()


def run() -> list[BenchFigure]:
    m = measure(repeats=REPEATS)
    rounds = m["rounds"]
    heavy: dict[str, Any] = {"syncs": len(rounds),
             "reconnects": [r["res"].reconnects for r in rounds],
             "busy_writes": [r["res"].busy_writes for r in rounds],
             "full_retries": [r["full_retries"] for r in rounds],
             "db_exact": all(r["acc"]["records"] == r["res"].last_seq
                             and not r["acc"]["missing_seqs"] for r in rounds)}
    res = m["res"]
    per_event = R.frame_size(R.TYPE_EVENT) * m["air_bytes"] / m["frame_bytes"]
    est = m["air_bytes"] / (PER_CI * LL_PAYLOAD / CI_S)
    exact = m["acc"]["records"] == res.last_seq and not m["acc"]["missing_seqs"]
    common = {"records": res.records, "notifications": res.notifications, "mtu": res.mtu,
              "air_bytes": m["air_bytes"], "db_exact": exact}
    return [
        BenchFigure("sync_week_s", round(m["wall_s"], 3), "s", "< 10",
                    f"{EVENTS} events + {SUMMARIES} summaries + boot/anchor over the virtual radio "
                    "(connect, pair, set clock, transfer, commit, ack)", common),
        BenchFigure("sync_reconnects", sum(heavy["reconnects"]), "reconnects", "== 0",
                    f"reconnects over {len(rounds)} heavy week syncs (pair + sync each) with the "
                    "sim stack refusing host writes with ATT 0x11 while its pool is empty",
                    heavy),
        BenchFigure("sync_records_per_s", round(res.records / res.elapsed_s, 1), "records/s", "",
                    "records stored per second of transfer in the week sync", common),
        BenchFigure("sync_bytes_per_event", round(per_event, 1), "bytes", "",
                    "bytes on air per EVENT: 48 B frame + share of notification/ATT/L2CAP/LL/MIC "
                    "overhead at the negotiated MTU", common),
        BenchFigure("sync_week_esp32_est_s", round(est, 1), "s", "",
                    f"on paper: the week's {m['air_bytes']} air bytes at a 30 ms connection "
                    f"interval, {PER_CI} x {LL_PAYLOAD} B packets per event", common),
    ]
